import type { Command } from "commander";
import { pendingCommand } from "./pending.js";

export function demoCommand(): Command {
  return pendingCommand("demo", "the whole system on one machine on real MNIST");
}
