import type { Command } from "commander";
import { pendingCommand } from "./pending.js";

export function walletCommand(): Command {
  return pendingCommand("wallet", "wallet address, balance and local faucet");
}
