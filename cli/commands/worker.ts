import type { Command } from "commander";
import { pendingCommand } from "./pending.js";

export function workerCommand(): Command {
  return pendingCommand("worker", "the training worker a cluster manager starts on a rented machine");
}
