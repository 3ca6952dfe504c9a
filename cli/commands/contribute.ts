import type { Command } from "commander";
import { pendingCommand } from "./pending.js";

export function contributeCommand(): Command {
  return pendingCommand("contribute", "train a job's model on your local data and earn $DUCK");
}
