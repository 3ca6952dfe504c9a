#!/usr/bin/env node
import type { Command } from "commander";
import { reportError } from "./lib/output.js";

const json = process.argv.includes("--json");

// Rented machines start `quackmesh worker` for every cluster job and inference run: it loads only
// its own command, not every command's dependencies (0.4 s instead of 7 s on a loaded 2-core VM).
async function build(): Promise<Command> {
  if (process.argv[2] === "worker") {
    const [{ Command }, { workerCommand }] = await Promise.all([import("commander"), import("./commands/worker.js")]);
    return new Command("quackmesh").enablePositionalOptions().addCommand(workerCommand());
  }
  return (await import("./program.js")).buildProgram();
}

build()
  .then((program) => program.parseAsync(process.argv))
  .catch((err: unknown) => {
    process.exitCode = reportError(err, json);
  });
