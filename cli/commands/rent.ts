import type { Command } from "commander";
import { pendingCommand } from "./pending.js";

export function rentCommand(): Command {
  return pendingCommand("rent", "rent machines for a job");
}
