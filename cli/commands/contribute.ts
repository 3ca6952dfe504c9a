import { Command } from "commander";
import { jobDataLoader } from "../lib/contribute/data.js";
import { QuackError, isQuackError } from "../../protocol/errors.js";
import { resolveSettings } from "../../protocol/config.js";
import { addChainOptions, type ChainOptions } from "../lib/chain/options.js";
import { parseJobId } from "../lib/job/chainJob.js";
import { addOrchestratorOption, connectJob, type OrchestratorFlags } from "../lib/job/connect.js";
import { parseWhole, TRAIN_OPTIONS } from "../lib/flags.js";
import { externalTrainerFrom, trainSettingsFrom, TRAINER_OPTIONS } from "../lib/contribute/trainFlags.js";
import { onStopSignal } from "../lib/signals.js";
import { DEFAULT_TRAIN, runContributor } from "../lib/contribute/runner.js";
import { stateFilePath } from "../lib/contribute/state.js";
import { ContributeView, contributeLine, initialContribute, reduceContribute } from "../views/ContributeView.js";
import { eventSink } from "../views/live.js";
import { makeOutput } from "../lib/output.js";
import { csvOptions, SCALE_HELP, SCALE_OPTION } from "../lib/data/scale.js";

interface ContributeFlags extends ChainOptions, OrchestratorFlags {
  data?: string;
  job?: string;
  epochs: string;
  batch: string;
  lr: string;
  momentum: string;
  device: string;
  holdout: string;
  trainer?: string;
  trainerTimeout?: string;
  rounds?: string;
  untilDone?: boolean;
  scale?: string;
}

export function contributeCommand(): Command {
  const cmd = new Command("contribute").description("train a job's model on your local data and earn $DUCK");
  addChainOptions(cmd, { defaultAccount: "contributor1" });
  addOrchestratorOption(cmd)
    .option("--data <dir>", "your training data: a folder with an MNIST IDX pair or data.csv, a .csv file (label first; for a regression job its target columns first), or a named set (mnist, fashion-mnist)")
    .option("--job <id>", "the job to contribute to")
    .option(...SCALE_OPTION)
    .option(...TRAIN_OPTIONS.epochs())
    .option(...TRAIN_OPTIONS.batch())
    .option(...TRAIN_OPTIONS.lr())
    .option(...TRAIN_OPTIONS.momentum())
    .option(...TRAIN_OPTIONS.optimizer())
    .option(...TRAIN_OPTIONS.weightDecay())
    .option(...TRAIN_OPTIONS.nesterov())
    .option(...TRAIN_OPTIONS.proxMu())
    .option("--device <d>", "auto | cpu | cuda", DEFAULT_TRAIN.device)
    .option("--holdout <fraction>", "part of the data kept aside to check each update", String(DEFAULT_TRAIN.holdout))
    .option(...TRAINER_OPTIONS.trainer())
    .option(...TRAINER_OPTIONS.timeout())
    .option("--rounds <n>", "stop after sending updates for this many rounds")
    .option("--until-done", "keep going until the job finishes (the default)")
    .addHelpText(
      "after",
      `
Before any training the job is read from TrainingPool: its evaluator must be the orchestrator's,
and its threshold and reward are shown. Then, each round: fetch the global model, train on your
data (it never leaves this machine), check it on the held-out part, send the signed update,
receive the evaluator's attestation and claim the reward with TrainingPool.submitUpdate.
On a terminal a live view; piped, or with --json, one JSON event per line.
Progress is kept in ~/.quackmesh/contribute/<chainId>-<jobId>-<address>.json: after a crash or
a network drop it resumes without sending or claiming twice.
${SCALE_HELP}
The job's model says how a CSV is read: a classifier's label in the first column, a regression's
("loss":"mse", N outputs) N float targets in the first N columns, then the features; data that
does not fit the model (labels for a regression, other input size) is refused before training.

Training settings: the job may ask for an optimizer, weight decay, Nesterov and FedProx's μ
(\`job status\` shows them); each of --optimizer, --weight-decay, --nesterov and --prox-mu given
here wins over the job's value, and --optimizer (or --nesterov, which is SGD) naming another
optimizer than the job's also drops the job's weight decay and Nesterov. --trainer programs get
the result in round.json.

Examples:
  $ quackmesh contribute --data ./my-shard --job 1
  $ quackmesh contribute --data data.csv --job 1 --epochs 2 --lr 0.05 --rounds 3 --key ./me.key
  $ quackmesh contribute --data pixels.csv --job 1 --scale 255
  $ quackmesh contribute --data ./shard --job 1 --optimizer adamw --lr 0.001 --weight-decay 0.01
  $ quackmesh contribute --data ./shard --job 1 --account contributor2 --json
  $ quackmesh contribute --data ./shard --job 1 --trainer "/usr/bin/python3 scripts/trainers/pytorch_trainer.py"

--trainer runs your own program each round instead of the engine, in a fresh folder holding
model.safetensors, spec.json and round.json (data path, epochs, batch, lr, momentum, seed,
device); it must write update.safetensors there. No shell: the command is split into words like
a shell would ("…" or '…' keep spaces, \\ escapes one character); arguments naming files
relative to here are made absolute. A trainer that fails, runs past --trainer-timeout or writes
a wrong file stops the contributor with TRAINER_FAILED, TRAINER_TIMEOUT or TRAINER_BAD_UPDATE;
nothing is sent. Its environment is yours without QUACKMESH_PRIVATE_KEY.`,
    )
    .action(async (flags: ContributeFlags) => {
      if (flags.data === undefined) throw new QuackError("MISSING_OPTION", "--data is required.", { fix: "Pass --data with the folder of your training data." });
      if (flags.job === undefined) throw new QuackError("MISSING_OPTION", "--job is required.", { fix: "Pass --job with a job id from `quackmesh job list`." });
      if (flags.rounds !== undefined && flags.untilDone) {
        throw new QuackError("BAD_ARGUMENT", "--rounds and --until-done exclude each other.", { fix: "Pass one of them (or neither: until the job is done)." });
      }
      const jobId = parseJobId(flags.job, "--job");
      const train = trainSettingsFrom(flags);
      const trainer = externalTrainerFrom(flags);
      const maxRounds = flags.rounds === undefined ? undefined : parseWhole(flags.rounds, "--rounds", 1, 100000);
      const early = makeOutput(Boolean(flags.json));
      // Read once the job's spec says how: a regression's target columns, or a label (lib/contribute/data.ts).
      const data = await jobDataLoader(flags.data, csvOptions(flags.scale, (w) => (early.json ? early.emit({ event: "warning", warning: w }) : early.info(`warning: ${w}`))));
      const conn = await connectJob(flags, "contributor1");
      const address = conn.chain.signer.address;
      const json = Boolean(flags.json);
      const sink = eventSink({ json, view: ContributeView, reduce: reduceContribute, initial: initialContribute(jobId, address), line: contributeLine, piped: "json" });
      const stop = new AbortController();
      const offSignal = onStopSignal(() => stop.abort());
      try {
        const events = runContributor({
          client: conn.client,
          address,
          chain: { trainingPool: conn.contracts.trainingPool, duck: conn.contracts.duck, provider: conn.chain.provider },
          data,
          jobId,
          train,
          trainer,
          submitOnChain: true,
          stateFile: stateFilePath(resolveSettings({}).home, conn.chain.network.chainId, jobId, address),
          maxRounds,
          signal: stop.signal,
        });
        for await (const e of events) {
          sink.push(e);
          if (e.event === "finished" && e.reason === "stopped") process.exitCode = 130;
        }
      } catch (err) {
        if (!(isQuackError(err) && err.code === "ABORTED")) throw err;
        process.exitCode = 130;
      } finally {
        offSignal();
        await sink.close();
        conn.close();
      }
    });
  return cmd;
}
