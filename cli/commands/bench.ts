import type { Command } from "commander";
import { pendingCommand } from "./pending.js";

export function benchCommand(): Command {
  return pendingCommand("bench", "measure this machine: aggregation and training speed");
}
