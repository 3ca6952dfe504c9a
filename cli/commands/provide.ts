import type { Command } from "commander";
import { pendingCommand } from "./pending.js";

export function provideCommand(): Command {
  return pendingCommand("provide", "list this machine on the compute marketplace and serve rentals");
}
