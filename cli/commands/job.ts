import { Command } from "commander";
import { jobCreateCommand } from "./job/create.js";
import { jobAbortCommand, jobCancelCommand, jobExportCommand, jobFinishCommand } from "./job/end.js";
import { jobListCommand, jobStatusCommand } from "./job/info.js";
import { jobVerifyCommand } from "./job/verify.js";
import { jobWatchCommand } from "./job/watch.js";

export function jobCommand(): Command {
  return new Command("job")
    .description("create, watch, list and export training jobs")
    .addHelpText(
      "after",
      `
A job: the requester uploads a model and a validation set to the orchestrator and escrows a
reward pool in TrainingPool; contributors train on their own data and are paid per accepted update.

Examples:
  $ quackmesh job create --model mlp.json --validation ./val --reward 1000 --rounds 10
  $ quackmesh job watch 1
  $ quackmesh job export 1
  $ quackmesh job abort 1
  $ quackmesh job verify 1
  $ quackmesh job finish 1`,
    )
    .addCommand(jobCreateCommand())
    .addCommand(jobWatchCommand())
    .addCommand(jobListCommand())
    .addCommand(jobStatusCommand())
    .addCommand(jobExportCommand())
    .addCommand(jobVerifyCommand())
    .addCommand(jobFinishCommand())
    .addCommand(jobAbortCommand())
    .addCommand(jobCancelCommand());
}
