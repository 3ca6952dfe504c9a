import type { Command } from "commander";
import { pendingCommand } from "./pending.js";

export function serveCommand(): Command {
  return pendingCommand("serve", "run the orchestrator: API, store, rounds, evaluator, chain listener");
}
