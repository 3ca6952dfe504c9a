import type { Command } from "commander";
import { pendingCommand } from "./pending.js";

export function jobCommand(): Command {
  return pendingCommand("job", "create, watch, list and export training jobs");
}
