import type { Command } from "commander";
import { pendingCommand } from "./pending.js";

export function chainCommand(): Command {
  return pendingCommand("chain", "start a local Hardhat chain on 127.0.0.1 with funded dev accounts");
}
