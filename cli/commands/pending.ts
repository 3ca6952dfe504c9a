import { Command } from "commander";
import { notYetAvailable } from "../../protocol/errors.js";

/** A product command whose implementation has not landed: it exists, says so, and exits 1. */
export function pendingCommand(name: string, description: string): Command {
  return new Command(name)
    .description(`${description} (not available yet)`)
    .option("--json", "machine-readable output")
    .allowUnknownOption(true)
    .allowExcessArguments(true)
    .action(() => {
      throw notYetAvailable(name);
    });
}
