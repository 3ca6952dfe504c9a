import type { Command } from "commander";
import { chainCommand } from "./chain.js";
import { deployCommand } from "./deploy.js";
import { serveCommand } from "./serve.js";
import { jobCommand } from "./job.js";
import { contributeCommand } from "./contribute.js";
import { provideCommand } from "./provide.js";
import { marketCommand } from "./market.js";
import { rentCommand } from "./rent.js";
import { inferCommand } from "./infer.js";
import { walletCommand } from "./wallet.js";
import { historyCommand } from "./history.js";
import { benchCommand } from "./bench.js";
import { awsCommand } from "./aws.js";
import { demoCommand } from "./demo.js";
import { workerCommand } from "./worker.js";

/** Every subcommand of the product, in the order `--help` lists them. */
export const commands: Array<() => Command> = [
  chainCommand,
  deployCommand,
  serveCommand,
  jobCommand,
  contributeCommand,
  provideCommand,
  marketCommand,
  rentCommand,
  inferCommand,
  walletCommand,
  historyCommand,
  benchCommand,
  awsCommand,
  demoCommand,
  workerCommand,
];
