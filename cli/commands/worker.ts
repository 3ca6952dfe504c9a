import { Command } from "commander";
import { join, resolve } from "node:path";
import { jobDataLoader } from "../lib/contribute/data.js";
import { OrchestratorClient } from "../../orchestrator/client.js";
import { workerLine } from "../../protocol/worker.js";
import { QuackError, isQuackError } from "../../protocol/errors.js";
import { bigintReplacer } from "../lib/output.js";
import { packageVersion } from "../../protocol/package.js";
import { parseJobId } from "../lib/job/chainJob.js";
import { addOrchestratorOption, orchestratorUrl, type OrchestratorFlags } from "../lib/job/connect.js";
import { parseWhole, TRAIN_OPTIONS } from "../lib/flags.js";
import { onStopSignal } from "../lib/signals.js";
import type { ContributorEvent } from "../lib/contribute/events.js";
import { loadOrCreateKey } from "../lib/contribute/key.js";
import { DEFAULT_TRAIN, runContributor } from "../lib/contribute/runner.js";
import { externalTrainerFrom, trainSettingsFrom, TRAINER_OPTIONS } from "../lib/contribute/trainFlags.js";
import { serveParts } from "../lib/infer/serveParts.js";

interface WorkerFlags extends OrchestratorFlags {
  job?: string;
  data?: string;
  key: string;
  state: string;
  epochs: string;
  batch: string;
  lr: string;
  momentum: string;
  device: string;
  holdout: string;
  trainer?: string;
  trainerTimeout?: string;
  rounds?: string;
  heartbeat: string;
  version?: boolean;
  infer?: string;
  json?: boolean;
}

/** One protocol line: a plain JSON object (amounts as decimal strings). */
function line(message: Record<string, unknown>): void {
  process.stdout.write(workerLine(JSON.parse(JSON.stringify(message, bigintReplacer)) as { event: string }) + "\n");
}

export function workerCommand(): Command {
  const cmd = new Command("worker").description("the worker a rented machine runs: training for a cluster job, or inference parts for infer --cluster");
  return addOrchestratorOption(cmd)
    .option("--job <id>", "the job whose rounds to train")
    .option("--data <dir>", "this machine's shard of the requester's data (a folder or .csv)")
    .option("--key <file>", "the worker's signing key; created on first start", "worker.key")
    .option("--state <dir>", "where progress survives a restart", "worker-state")
    .option(...TRAIN_OPTIONS.epochs())
    .option(...TRAIN_OPTIONS.batch())
    .option(...TRAIN_OPTIONS.lr())
    .option(...TRAIN_OPTIONS.momentum())
    .option(...TRAIN_OPTIONS.optimizer())
    .option(...TRAIN_OPTIONS.weightDecay())
    .option(...TRAIN_OPTIONS.nesterov())
    .option(...TRAIN_OPTIONS.proxMu())
    .option("--device <d>", "auto | cpu | cuda", DEFAULT_TRAIN.device)
    .option("--holdout <fraction>", "part of the shard kept aside to check each update", "0")
    .option(...TRAINER_OPTIONS.trainer())
    .option(...TRAINER_OPTIONS.timeout())
    .option("--rounds <n>", "stop after this many rounds; default: until the job finishes")
    .option("--heartbeat <ms>", "a heartbeat line at least this often", "5000")
    .option("--infer <dir>", "inference instead of training: run the model in DIR on the parts named on stdin (what `infer --cluster` starts)")
    .option("--version", "print the worker's version as a JSON line and exit")
    .option("--json", "accepted for symmetry: the worker always writes JSON lines")
    .addHelpText(
      "after",
      `
Runs the contributor loop without claiming on chain (a rented machine is paid by its rental):
fetch the global model, train on the shard, send the signed update. Writes one JSON object per
line for the cluster manager: heartbeat (at least every --heartbeat ms), progress (each step of a
round), done (at the end) or error (then exit code 1). SIGTERM or SIGHUP stops it cleanly.

With --infer DIR it serves inference instead: DIR holds model.safetensors and spec.json; each
stdin line {"part":K,"count":N} runs the model on DIR/part-K.f32 (N float32 rows), writes the
class probabilities to DIR/out-K.f32 and answers a "part" line with the compute time it measured
and the output's sha256; the end of stdin ends it (done).

Training settings: the job may ask for an optimizer, weight decay, Nesterov and FedProx's μ
(\`job status\` shows them); each of --optimizer, --weight-decay, --nesterov and --prox-mu given
here wins over the job's value, and --optimizer (or --nesterov, which is SGD) naming another
optimizer than the job's also drops the job's weight decay and Nesterov. --trainer programs get
the result in round.json.

Examples:
  $ quackmesh worker --job 1 --data shard --orchestrator http://10.0.0.5:8080
  $ quackmesh worker --job 1 --data shard --trainer "python3 /opt/pytorch_trainer.py"
  $ quackmesh worker --infer infer
  $ quackmesh worker --version`,
    )
    .action(async (flags: WorkerFlags) => {
      if (flags.version) {
        line({ event: "version", version: packageVersion(), node: process.version });
        return;
      }
      const stop = new AbortController();
      const offSignal = onStopSignal(() => stop.abort());
      const onHangup = () => stop.abort();
      process.once("SIGHUP", onHangup);
      let round: number | null = null;
      let phase = "starting";
      const heartbeat = setInterval(() => line({ event: "heartbeat", round, phase, at: Date.now() }), parseWhole(flags.heartbeat, "--heartbeat", 100, 600_000));
      try {
        if (flags.infer !== undefined) {
          phase = "inference";
          // A stop ends the input: the part in progress finishes, then the worker says done.
          stop.signal.addEventListener("abort", () => process.stdin.destroy());
          const served = await serveParts(flags.infer, process.stdin, line);
          line({ event: "done", ...served });
          return;
        }
        if (flags.job === undefined || flags.data === undefined) {
          throw new QuackError("MISSING_OPTION", "--job and --data are required.", { fix: "Pass --job ID --data DIR." });
        }
        const jobId = parseJobId(flags.job, "--job");
        const train = trainSettingsFrom(flags);
        const trainer = externalTrainerFrom(flags);
        const maxRounds = flags.rounds === undefined ? undefined : parseWhole(flags.rounds, "--rounds", 1, 100000);
        // Read once the job's spec says how (a regression's targets or labels); its sample count comes with "started".
        const data = await jobDataLoader(flags.data);
        const { wallet, created } = await loadOrCreateKey(resolve(flags.key));
        line({ event: "progress", step: "identity", address: wallet.address, keyCreated: created });
        const client = new OrchestratorClient(orchestratorUrl(flags), { signer: wallet });
        const events = runContributor({
          client,
          address: wallet.address,
          data,
          jobId,
          train,
          trainer,
          submitOnChain: false,
          stateFile: join(resolve(flags.state), `${jobId}-${wallet.address}.json`),
          maxRounds,
          signal: stop.signal,
        });
        for await (const e of events as AsyncIterable<ContributorEvent>) {
          if ("round" in e && typeof e.round === "number") round = e.round;
          phase = e.event;
          const { event, ...rest } = e;
          if (event === "finished") line({ event: "done", ...rest, address: wallet.address });
          else line({ event: "progress", step: event, ...rest });
        }
      } catch (err) {
        if (isQuackError(err) && err.code === "ABORTED") {
          line({ event: "done", reason: "stopped" });
          return;
        }
        line({ event: "error", code: isQuackError(err) ? err.code : "INTERNAL", message: (err as Error).message });
        process.exitCode = 1;
      } finally {
        clearInterval(heartbeat);
        offSignal();
        process.off("SIGHUP", onHangup);
      }
    });
}
