import type { Command } from "commander";
import { pendingCommand } from "./pending.js";

export function inferCommand(): Command {
  return pendingCommand("infer", "run inference on a trained model, paid through InferencePool");
}
