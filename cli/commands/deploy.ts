import type { Command } from "commander";
import { pendingCommand } from "./pending.js";

export function deployCommand(): Command {
  return pendingCommand("deploy", "deploy DuckToken, ComputeMarketplace, TrainingPool and InferencePool");
}
