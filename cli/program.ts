import { Command } from "commander";
import { ENV_VARS } from "../protocol/config.js";
import { commands } from "./commands/registry.js";

/** Build the `quackmesh` program: every subcommand, wired; no parsing, no printing here. */
export function buildProgram(): Command {
  const program = new Command("quackmesh")
    .description("Decentralized federated learning: train shared models on private data, rent compute, get paid in $DUCK.")
    .version(process.env.npm_package_version ?? "0.1.0")
    .enablePositionalOptions()
    .showHelpAfterError()
    .addHelpText(
      "after",
      "\nEnvironment variables (flags win over env, env over ~/.quackmesh/config.json):\n" +
        Object.entries(ENV_VARS)
          .map(([k, v]) => `  ${k.padEnd(26)} ${v}`)
          .join("\n"),
    );
  for (const make of commands) program.addCommand(make());
  return program;
}
