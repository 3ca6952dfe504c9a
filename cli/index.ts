#!/usr/bin/env node
import { buildProgram } from "./program.js";
import { reportError } from "./lib/output.js";

const json = process.argv.includes("--json");
buildProgram()
  .parseAsync(process.argv)
  .catch((err: unknown) => {
    process.exitCode = reportError(err, json);
  });
