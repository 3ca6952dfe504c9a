import type { Command } from "commander";
import { pendingCommand } from "./pending.js";

export function marketCommand(): Command {
  return pendingCommand("market", "list machines offered on the compute marketplace");
}
