/**
 * The contributor loop, as an async iterator of events: per round fetch the global model
 * (conditional GET), train on the local data, check on a held-out part, send the signed update,
 * keep the evaluator's attestation, and (for pool contributors) claim the reward on chain.
 * It resumes after a crash without paying or sending twice: the state file says what was
 * attested and claimed, unanswered update bytes are resent as they were, and the chain's
 * hasSubmitted is asked before every claim. `quackmesh worker` runs it with submitOnChain false.
 */
import { createHash } from "node:crypto";
import { rm } from "node:fs/promises";
import type { Contract, Provider } from "ethers";
import { Network } from "../../../native/index.js";
import { splitHoldout } from "../../../native/data.js";
import { decodeSafetensors, encodeSafetensors } from "../../../native/safetensors.js";
import type { Dataset, Device, ModelSpec } from "../../../native/types.js";
import type { OrchestratorClient } from "../../../orchestrator/client.js";
import { QuackError } from "../../../protocol/errors.js";
import { describeRevert } from "../../../protocol/chain/revert.js";
import { Backoff, isTransient, sleep } from "../job/wait.js";
import { claimReward } from "./claim.js";
import { TRAIN_DEFAULTS, type OptimizerSettings, type TrainHyperparams } from "../../../protocol/train.js";
import type { ContributorEvent } from "./events.js";
import { claimClosedRounds } from "./reward.js";
import { sendUpdate, type LoopContext, type SendOutcome } from "./send.js";
import { regressionFit } from "../../../protocol/regression.js";
import { resolveJobData, type JobData } from "./data.js";
import { specFromTensors, specOfJob } from "./spec.js";
import { ContributorState } from "./state.js";
import { checkJobTerms } from "./terms.js";
import { makeTrainerRoot, runTrainerRound, writeTrainerData, type ExternalTrainer } from "./trainer.js";
import { roundTraining } from "./jobTraining.js";
import type { JobTrainSettings } from "../../../protocol/settings.js";
import type { QualityName } from "../../../protocol/quality.js";

export interface TrainSettings extends TrainHyperparams, OptimizerSettings {
  device: Device;
  /** Fraction of the local data held out to check each update (0 = none). */
  holdout: number;
}

export const DEFAULT_TRAIN: TrainSettings = { ...TRAIN_DEFAULTS, device: "auto", holdout: 0.1 };

export interface ContributorOptions {
  /** Client whose signer is this contributor's wallet. */
  client: OrchestratorClient;
  address: string;
  /** TrainingPool bound to the contributor's wallet (and $DUCK for the balance); needed to claim. */
  chain?: { trainingPool: Contract; duck?: Contract; provider: Provider };
  /** The local data, or its loader, called with the job's spec once the orchestrator has the job (data.ts). */
  data: JobData;
  jobId: number;
  train?: Partial<TrainSettings>;
  /** Train each round with this program instead of the engine (cli/lib/contribute/trainer.ts). */
  trainer?: ExternalTrainer;
  /** Claim each attested update in TrainingPool (pool contributors); a rented worker does not. */
  submitOnChain: boolean;
  /** Where progress survives a crash; none = memory only. */
  stateFile?: string;
  /** Stop after sending updates for this many rounds; default: until the job finishes. */
  maxRounds?: number;
  poll?: { minMs?: number; maxMs?: number };
  signal?: AbortSignal;
}

/** Training seed of a round: the same job, round and address retrain to the same bytes on CPU. */
export function roundSeed(jobId: number, round: number, address: string): number {
  return parseInt(createHash("sha256").update(`${jobId}:${round}:${address.toLowerCase()}`).digest("hex").slice(0, 12), 16);
}

// Held-out part: the same samples across restarts.
const HOLDOUT_SEED = 1;

export async function* runContributor(opts: ContributorOptions): AsyncGenerator<ContributorEvent> {
  const { client, jobId, address, signal } = opts;
  if (opts.submitOnChain && !opts.chain) {
    throw new QuackError("NO_CHAIN", "Claiming rewards needs the chain (TrainingPool); none was given.", { fix: "Pass chain, or submitOnChain: false." });
  }
  const train = { ...DEFAULT_TRAIN, ...opts.train };
  if (opts.chain && opts.submitOnChain) {
    // An orchestrator or chain that does not answer yet is waited for, as during the rounds.
    const wait = new Backoff(opts.poll?.minMs ?? 200, opts.poll?.maxMs ?? 3000);
    for (;;) {
      try {
        const terms = await checkJobTerms({ pool: opts.chain.trainingPool, provider: opts.chain.provider, client, address }, jobId);
        yield { event: "terms", jobId, terms };
        break;
      } catch (err) {
        if (!isTransient(err)) throw err;
        const delayMs = wait.next();
        yield { event: "waiting", jobId, round: null, reason: (err as Error).message, delayMs };
        await sleep(delayMs, signal);
      }
    }
  }
  const data = yield* resolveJobData(opts.data, { client, jobId, signal, poll: opts.poll });
  if (opts.trainer && data.targets) {
    throw new QuackError("UNSUPPORTED_MODEL", `Job ${jobId} is a regression ("loss":"mse"); --trainer programs are handed class labels only.`, {
      fix: "Leave out --trainer: the engine trains regression models.",
    });
  }
  const parts = train.holdout > 0 ? splitHoldout(data, train.holdout, HOLDOUT_SEED) : { train: data, holdout: null };
  const state = await ContributorState.open(opts.stateFile, { jobId, address });
  // Local data carries targets exactly when the job's model is a regression (its spec is the data contract).
  const metric: QualityName = data.targets ? "R²" : "accuracy";
  yield {
    event: "started",
    jobId,
    address,
    samples: parts.train.count,
    holdout: parts.holdout?.count ?? 0,
    stateFile: state.path ?? null,
    submitOnChain: opts.submitOnChain,
    metric,
  };
  const ctx: LoopContext = { client, jobId, address, state, signal, chain: opts.chain, metric };
  const progress = { contributed: 0 };
  let reason: StopReason = "stopped";
  let trainerRoot: string | null = null;
  try {
    reason = yield* resume(ctx, opts.submitOnChain);
    let external: External | null = null;
    if (reason === "continue" && opts.trainer) {
      trainerRoot = await makeTrainerRoot();
      external = { trainer: opts.trainer, root: trainerRoot, data: await writeTrainerData(trainerRoot, parts.train) };
    }
    if (reason === "continue") reason = yield* rounds(ctx, opts, train, parts, progress, external);
    // Rewards are decided when a round closes: before leaving, wait for the rounds sent to close and claim.
    if ((reason === "rounds-done" || reason === "job-finished") && opts.submitOnChain && ctx.chain) yield* settleAll(ctx, opts.poll?.maxMs ?? 3000);
  } catch (err) {
    if ((err as QuackError).code !== "ABORTED") throw err;
    reason = "stopped";
  } finally {
    if (trainerRoot) await rm(trainerRoot, { recursive: true, force: true });
  }
  if (reason === "continue") reason = "stopped";
  yield { event: "finished", jobId, reason, rounds: progress.contributed, totalReward: state.paid };
}

/** Loss and accuracy on local data; a regression's are its MSE and R² (the engine's evaluate gives it no accuracy). */
async function localFit(net: Network, ds: Dataset): Promise<{ loss: number; accuracy: number }> {
  if (!ds.targets) return net.evaluate(ds);
  const fit = regressionFit(await net.predict(ds.x, ds.count), ds.targets, ds.targets.length / ds.count);
  return { loss: fit.mse, accuracy: Number.isFinite(fit.r2) ? fit.r2 : 0 }; // R² of targets that do not vary: none
}

/** job-closed: the contract pays no more (deadline passed, job finished on chain, pool spent). */
type StopReason = "job-finished" | "job-closed" | "rounds-done" | "stopped" | "continue";
type Ctx = LoopContext;
/** An external trainer with its scratch folder and the training data written there once. */
type External = { trainer: ExternalTrainer; root: string; data: Awaited<ReturnType<typeof writeTrainerData>> };

/** After a restart: resend an update that got no answer, then claim attestations not yet claimed. */
async function* resume(ctx: Ctx, submitOnChain: boolean): AsyncGenerator<ContributorEvent, StopReason> {
  const { state, jobId } = ctx;
  const pending = await state.readPending();
  if (pending && state.round(pending.round)) await state.clearPending();
  else if (pending) {
    yield { event: "resumed", jobId, round: pending.round, what: "resend" };
    // Whatever the answer, the round loop below sees the job's state next.
    yield* sendUpdate(ctx, pending.round, pending.bytes, pending.numSamples);
  }
  if (submitOnChain) {
    for (const u of state.unclaimed()) {
      yield { event: "resumed", jobId, round: u.round, what: "claim" };
      if ((yield* claimReward(ctx, u.round, u.attestation)) === "stop") return "job-closed";
    }
    yield* claimClosedRounds(ctx);
  }
  return "continue";
}

/** Claim until every round submitted on chain is settled (its round closed and its reward claimed, or nothing owed). */
async function* settleAll(ctx: Ctx, pollMs: number): AsyncGenerator<ContributorEvent, void> {
  const wait = new Backoff(200, pollMs);
  while (ctx.state.unsettled().length > 0) {
    yield* claimClosedRounds(ctx);
    if (ctx.state.unsettled().length === 0) return;
    const delayMs = wait.next();
    yield { event: "waiting", jobId: ctx.jobId, round: ctx.state.unsettled()[0], reason: "the round has not closed yet; its reward is decided when it closes", delayMs };
    await sleep(delayMs, ctx.signal);
  }
}

async function* rounds(
  ctx: Ctx,
  opts: ContributorOptions,
  train: TrainSettings,
  parts: { train: Dataset; holdout: Dataset | null },
  progress: { contributed: number },
  external: External | null,
): AsyncGenerator<ContributorEvent, StopReason> {
  const { client, jobId, address, state, signal } = ctx;
  const wait = new Backoff(opts.poll?.minMs ?? 200, opts.poll?.maxMs ?? 3000);
  let etag: string | undefined;
  let round: number | null = null;
  const specs = new Map<string, ModelSpec>();
  let jobSpec: ModelSpec | null | undefined;
  let jobTrain: JobTrainSettings | undefined;
  for (;;) {
    if (signal?.aborted) return "stopped";
    let model;
    try {
      model = await client.getModel(jobId, { etag });
      // The job's own spec carries what the weights do not (input standardization).
      // and the local training it asks for (optimizer, FedProx μ).
      if (!model.notModified && jobSpec === undefined) {
        const job = await client.getJob(jobId);
        jobSpec = specOfJob(job);
        jobTrain = job.settings?.train;
      }
    } catch (err) {
      const code = (err as QuackError).code;
      if (!isTransient(err) && code !== "JOB_NOT_FOUND") throw err;
      const delayMs = wait.next();
      const why = code === "JOB_NOT_FOUND" ? `the orchestrator has not activated job ${jobId} yet` : (err as Error).message;
      yield { event: "waiting", jobId, round, reason: why, delayMs };
      await sleep(delayMs, signal);
      continue;
    }
    if (model.notModified) {
      await sleep(wait.next(), signal);
      continue;
    }
    etag = model.modelHash;
    // A new model means earlier rounds closed: their contribution rewards can be claimed.
    if (opts.submitOnChain && ctx.chain) yield* claimClosedRounds(ctx);
    if (model.status === "finished") return "job-finished";
    round = model.round;
    if (state.round(round)) {
      await sleep(wait.next(), signal);
      continue;
    }
    wait.reset();
    let paid = false;
    try {
      paid = Boolean(opts.submitOnChain && ctx.chain && (await ctx.chain.trainingPool.getFunction("hasSubmitted")(jobId, round, address)));
    } catch (err) {
      const e = describeRevert(err);
      if (!isTransient(e)) throw e;
      const delayMs = wait.next();
      yield { event: "waiting", jobId, round, reason: e.message, delayMs };
      etag = undefined; // fetch the model again once the chain answers
      await sleep(delayMs, signal);
      continue;
    }
    if (paid) {
      await state.setRound(round, { status: "skipped", code: "AlreadySubmitted" });
      yield { event: "skipped", jobId, round, reason: "this round was already paid to this address on chain" };
      continue;
    }
    yield { event: "model", jobId, round, modelHash: model.modelHash };

    const tensors = decodeSafetensors(model.bytes).tensors;
    const layoutKey = tensors.map((t) => `${t.name}:${t.shape.join("x")}`).join(",");
    let spec = jobSpec ?? specs.get(layoutKey);
    if (!spec) specs.set(layoutKey, (spec = specFromTensors(tensors)));
    const started = Date.now();
    const optimizer = roundTraining(jobTrain, { optimizer: train.optimizer, nesterov: train.nesterov, weightDecay: train.weightDecay, proximalMu: train.proximalMu }, train.momentum);
    const settings = { epochs: train.epochs, batchSize: train.batchSize, lr: train.lr, momentum: train.momentum, ...optimizer, seed: roundSeed(jobId, round, address) };
    let net: Network;
    let fit: { loss: number; accuracy: number };
    if (external) {
      // A trainer's failure throws like the engine's own: nothing pending, nothing sent.
      const out = await runTrainerRound(external.trainer, { ...external, jobId, round, spec, modelBytes: model.bytes, global: tensors, train: { ...settings, device: train.device }, signal });
      net = Network.fromWeights(spec, out.tensors, { device: train.device });
      fit = out.metrics ?? (await net.evaluate(parts.train));
    } else {
      net = Network.fromWeights(spec, tensors, { device: train.device });
      fit = await net.train(parts.train, settings);
    }
    const check = parts.holdout ? await localFit(net, parts.holdout) : null;
    const bytes = encodeSafetensors(net.weights(), { format: "pt" });
    yield {
      event: "trained",
      jobId,
      round,
      samples: parts.train.count,
      loss: fit.loss,
      accuracy: fit.accuracy,
      metric: ctx.metric,
      holdoutLoss: check?.loss ?? null,
      holdoutAccuracy: check?.accuracy ?? null,
      training: optimizer,
      ms: Date.now() - started,
    };

    await state.setPending(round, parts.train.count, bytes);
    const outcome: SendOutcome = yield* sendUpdate(ctx, round, bytes, parts.train.count);
    if (outcome === "job-finished") return "job-finished";
    if (outcome === "attested" || outcome === "refused") progress.contributed++;
    if (outcome === "attested" && opts.submitOnChain) {
      if ((yield* claimReward(ctx, round, state.round(round)!.attestation!)) === "stop") return "job-closed";
    }
    if (opts.maxRounds !== undefined && progress.contributed >= opts.maxRounds) return "rounds-done";
  }
}
