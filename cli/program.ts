import { Command } from "commander";
import { renderEnvHelp } from "../protocol/docs.js";
import { packageVersion } from "../protocol/package.js";
import { commands } from "./commands/registry.js";

/** Build the `quackmesh` program: every subcommand, wired; no parsing, no printing here. */
export function buildProgram(): Command {
  const program = new Command("quackmesh")
    .description("Decentralized federated learning: train shared models on private data, rent compute, get paid in $DUCK.")
    .version(packageVersion())
    .enablePositionalOptions()
    .showHelpAfterError()
    .addHelpText("after", "\nEnvironment variables (flags win over env, env over ~/.quackmesh/config.json):\n" + renderEnvHelp());
  for (const make of commands) program.addCommand(make());
  return program;
}
