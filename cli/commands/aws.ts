import type { Command } from "commander";
import { pendingCommand } from "./pending.js";

export function awsCommand(): Command {
  return pendingCommand("aws", "provision the orchestrator and workers on AWS EC2 / SageMaker");
}
