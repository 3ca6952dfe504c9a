/**
 * The round engine: takes updates for the open round of each job, closes a round when enough
 * arrived (or at its deadline), aggregates deterministically, evaluates and opens the next.
 * Every step that matters is in the store before it is acted on, so a restart picks up where a
 * crash left off: open rounds continue, a round caught mid-close is aggregated again from its
 * stored updates and gives the same bytes.
 */
import { unflatten } from "../../native/tensors.js";
import { sha256HexOf } from "../auth.js";
import { ApiError } from "../errors.js";
import type { AttestationValues } from "../../protocol/chain/eip712.js";
import { r2Bps } from "../../protocol/regression.js";
import type { EvaluatorSigner } from "../evaluator/signer.js";
import type { OrchestratorEmitter } from "../events.js";
import type { Metrics } from "../metrics.js";
import type { BlobStore } from "../store/blobs.js";
import type { Coordinator } from "../store/coordination.js";
import type { JobRecord, Repository, RoundRecord, RoundRewards, UpdateRecord } from "../store/repository.js";
import type { FitResult } from "../strategy/index.js";
import { payableScores, rewardTree, splitRewards, updatesRoot } from "../../protocol/rewards.js";
import { checkUpdate, decodeInLayout } from "./checks.js";
import { scoreRound, trustedRound, type ScoredRound } from "./contribution.js";
import { Deadlines } from "./deadlines.js";
import { encodeRoundModel } from "./replay.js";
import type { RuntimeCache } from "./runtime.js";

export interface EngineDeps {
  repo: Repository;
  blobs: BlobStore;
  signer: EvaluatorSigner;
  events: OrchestratorEmitter;
  metrics: Metrics;
  runtimes: RuntimeCache;
  now: () => number;
  log: { error(obj: unknown, msg?: string): void; warn(obj: unknown, msg?: string): void };
  /** Wait before retrying a round whose aggregation failed. */
  retryMs?: number;
  /** Orchestrators sharing the store close each round in one of them (none: this one always does). */
  coordinator?: Coordinator;
}

export interface SubmitInput {
  jobId: number;
  round: number;
  contributor: string;
  numSamples: number;
  body: Buffer;
  /** Hex sha256 of the body when the caller already has it (the signature check computed it). */
  bodySha256?: string | null;
}

/** The signed attestation values with who signed them, where, and the update's validation loss. */
export interface Attestation extends AttestationValues {
  signature: string;
  evaluator: string;
  trainingPool: string;
  chainId: number;
  loss: number;
}

/** Accuracy in basis points, rounded down, from the count of correct answers. */
export function toBps(accuracy: number, samples: number): number {
  const correct = Math.round(accuracy * samples);
  return Math.floor((correct * 10000) / samples);
}

/** How many machines of a job's rented cluster are alive; null for a job without a cluster. */
export type LiveWorkers = (jobId: number) => Promise<number | null>;

export class RoundEngine {
  private readonly closing = new Map<string, Promise<void>>();
  private readonly checking = new Set<Promise<void>>();
  private readonly deadlines: Deadlines;
  private stopped = false;
  /** Set when the chain under the store is gone (chain/anchor.ts): no round closes, no update is taken. */
  private halted: ApiError | null = null;
  private liveWorkers: LiveWorkers = async () => null;

  constructor(private readonly d: EngineDeps) {
    this.deadlines = new Deadlines(d.now, (jobId, round) =>
      this.onDeadline(jobId, round).catch((err: unknown) => d.log.error({ err, jobId, round }, "round deadline handling failed")),
    );
  }

  /** After a start or restart: finish interrupted closes, re-arm deadlines of open rounds and check whether they can close. */
  async recover(): Promise<void> {
    for (const r of await this.d.repo.roundsWithStatus("closing")) void this.closeRound(r.jobId, r.round);
    for (const r of await this.d.repo.roundsWithStatus("open")) {
      this.deadlines.arm(r.jobId, r.round, r.deadlineAt);
      // A crash may have come between an accepted update and its round's check: check again.
      void this.maybeClose(r.jobId, r.round);
    }
  }

  /**
   * The chain the jobs live on is gone: stop closing rounds (and signing commitments) and refuse
   * updates. There is no way back: the orchestrator restarts on a fresh store.
   */
  halt(reason: ApiError): void {
    this.halted = reason;
    this.deadlines.clear();
  }

  /** The cluster service reports its live machines through this; the engine alone decides when a round closes. */
  setLiveWorkers(fn: LiveWorkers): void {
    this.liveWorkers = fn;
  }

  /** Useful updates a round of `job` needs before its deadline: minUpdates, or fewer when a cluster shrank. */
  private async required(job: JobRecord): Promise<{ useful: number; cluster: boolean }> {
    const live = await this.liveWorkers(job.jobId);
    if (live === null) return { useful: job.settings.minUpdates, cluster: false };
    return { useful: live > 0 ? Math.min(job.settings.minUpdates, live) : job.settings.minUpdates, cluster: true };
  }

  /** Something changed outside the round (a cluster machine failed): close the open round if it now has what it needs. */
  async reconsider(jobId: number): Promise<void> {
    const job = await this.d.repo.getJob(jobId);
    if (!job || job.status !== "active") return;
    const round = job.currentRound;
    await this.maybeClose(jobId, round);
  }

  /**
   * Close an open round once it holds enough useful updates. The round stays open (and keeps
   * taking updates) while this is measured, so updates that add nothing can neither close it nor
   * push anyone out of it. Checks may overlap; marking the round closing is atomic, so one wins.
   */
  private async maybeClose(jobId: number, round: number): Promise<void> {
    const check = (async () => {
      if (this.stopped || this.halted) return;
      const job = await this.d.repo.getJob(jobId);
      const r = await this.d.repo.getRound(jobId, round);
      if (!job || !r || r.status !== "open") return;
      const required = await this.required(job);
      const accepted = await this.d.repo.listUpdates(jobId, round, "accepted");
      if (accepted.length === 0 || accepted.length < required.useful) return;
      // A cluster's workers are the requester's own rented machines, paid by rent: every update counts.
      const useful = required.cluster ? accepted.length : (await this.score(job, r, accepted, false)).scored.useful;
      if (useful < required.useful) {
        this.d.events.emit("round:waiting", { jobId, round, useful, required: required.useful });
        return;
      }
      if (await this.d.repo.markRoundClosing(jobId, round)) {
        this.d.events.emit("round:closing", { jobId, round });
        void this.closeRound(jobId, round);
      }
    })().catch((err: unknown) => this.d.log.error({ err, jobId, round }, "round check failed"));
    this.checking.add(check);
    await check.finally(() => this.checking.delete(check));
  }

  /** The round's stored accepted updates, scored (protocol: orchestrator/rounds/contribution.ts). */
  private async score(job: JobRecord, r: RoundRecord, accepted: UpdateRecord[], cluster: boolean) {
    const rt = await this.d.runtimes.job(job);
    const global = await this.d.runtimes.model(r.inputModelHash);
    const rejected = await this.d.repo.listUpdates(job.jobId, r.round, "rejected");
    const results: FitResult[] = [];
    for (const u of accepted) {
      const tensors = decodeInLayout(await this.d.blobs.get(u.updateHash), global.layout);
      const flat = new Float32Array(global.flat.length);
      let pos = 0;
      for (const t of tensors) {
        flat.set(t.data, pos);
        pos += t.data.length;
      }
      results.push({ contributor: u.contributor, updateHash: u.updateHash, numSamples: u.numSamples, weights: flat });
    }
    const failures = rejected.map((u) => ({ contributor: u.contributor, updateHash: u.updateHash, reason: u.reason ?? "rejected" }));
    const scored = cluster
      ? await trustedRound(r.round, results, global, rt.strategy)
      : await scoreRound(r.round, results, accepted.map((u) => u.loss), failures, global, rt.strategy, job.settings);
    return { rt, global, scored };
  }

  roundOpened(jobId: number, round: number, deadlineAt: number): void {
    this.deadlines.arm(jobId, round, deadlineAt);
    this.d.events.emit("round:opened", { jobId, round, deadlineAt });
  }

  private attestation(u: UpdateRecord): Attestation {
    return {
      jobId: u.jobId,
      round: u.round,
      contributor: u.contributor,
      updateHash: u.updateHash,
      accuracyBps: u.accuracyBps,
      numSamples: u.numSamples,
      signature: u.signature ?? "",
      evaluator: this.d.signer.address,
      trainingPool: this.d.signer.trainingPool,
      chainId: this.d.signer.chainId,
      loss: u.loss,
    };
  }

  private refuse(input: SubmitInput, err: ApiError): ApiError {
    this.d.metrics.updatesRejected.inc({ code: err.code });
    this.d.events.emit("update:rejected", { jobId: input.jobId, round: input.round, contributor: input.contributor, code: err.code });
    return err;
  }

  /** Answer a resend: the same bytes get the same answer; other bytes are a duplicate. */
  private resend(input: SubmitInput, existing: UpdateRecord, updateHash: string): Attestation {
    if (existing.updateHash !== updateHash || existing.numSamples !== input.numSamples) {
      throw this.refuse(input, new ApiError("DUPLICATE_UPDATE", `${input.contributor} already sent update ${existing.updateHash} for round ${input.round} of job ${input.jobId}.`));
    }
    if (existing.status === "rejected") {
      throw this.refuse(input, new ApiError("BELOW_THRESHOLD", undefined, { accuracyBps: existing.accuracyBps }));
    }
    return this.attestation(existing);
  }

  /** Job active and this round the open one, else the refusal that says why. */
  private checkOpen(job: JobRecord, round: number): void {
    const jobId = job.jobId;
    if (job.status !== "active") throw new ApiError("JOB_NOT_ACTIVE", `Job ${jobId} finished after round ${job.settings.rounds - 1}; it takes no more updates.`);
    if (round < job.currentRound) throw new ApiError("ROUND_CLOSED", `Round ${round} of job ${jobId} is closed; the open round is ${job.currentRound}.`, { currentRound: job.currentRound });
    if (round > job.currentRound) throw new ApiError("ROUND_NOT_OPEN", `Round ${round} of job ${jobId} has not opened; the open round is ${job.currentRound}.`, { currentRound: job.currentRound });
  }

  async submitUpdate(input: SubmitInput): Promise<Attestation> {
    const started = this.d.now();
    const { jobId, round, contributor, numSamples } = input;
    if (this.halted) throw this.refuse(input, this.halted);
    const job = await this.d.repo.getJob(jobId);
    if (!job) throw this.refuse(input, new ApiError("JOB_NOT_FOUND", `No job ${jobId} on this orchestrator.`));
    const updateHash = "0x" + (input.bodySha256 ?? sha256HexOf(input.body));
    const existing = await this.d.repo.getUpdate(jobId, round, contributor);
    // A resend of the very same update (an answer lost to a network or server failure) gets
    // the stored answer, even after the round closed.
    if (existing && existing.updateHash === updateHash && existing.numSamples === numSamples) return this.resend(input, existing, updateHash);
    try {
      this.checkOpen(job, round);
    } catch (e) {
      throw this.refuse(input, e as ApiError);
    }
    const current = await this.d.repo.getRound(jobId, round);
    if (!current || current.status !== "open") {
      throw this.refuse(input, new ApiError("ROUND_CLOSED", `Round ${round} of job ${jobId} has enough updates and is closing.`, { currentRound: round + 1 }));
    }
    if (existing) return this.resend(input, existing, updateHash);

    const rt = await this.d.runtimes.job(job);
    const global = await this.d.runtimes.model(current.inputModelHash);
    let checked;
    try {
      checked = checkUpdate(input.body, global, job.settings.normBound);
    } catch (e) {
      throw this.refuse(input, e as ApiError);
    }
    const ev = await rt.evaluate(checked.tensors);
    // A regression's "accuracy" is R², attested in basis points clipped to [0, 10000].
    const accuracyBps = ev.regression ? r2Bps(ev.regression.r2) : toBps(ev.accuracy, ev.samples);
    const record: UpdateRecord = {
      jobId, round, contributor, updateHash, numSamples, accuracyBps, loss: ev.loss,
      status: "accepted", reason: null, signature: null, receivedAt: this.d.now(),
    };

    if (accuracyBps < job.settings.thresholdBps) {
      const r = await this.d.repo.rejectUpdate({ ...record, status: "rejected", reason: "BELOW_THRESHOLD" });
      if (!r.ok) return this.lostRace(input, r, updateHash);
      throw this.refuse(
        input,
        new ApiError("BELOW_THRESHOLD", `The update scored ${accuracyBps} bps on the validation set; job ${jobId} needs ${job.settings.thresholdBps} bps.`, {
          accuracyBps,
          thresholdBps: job.settings.thresholdBps,
        }),
      );
    }

    // Durable before answering: the bytes on disk, then the row committed with synchronous=FULL.
    await this.d.blobs.put(input.body, updateHash);
    record.signature = this.d.signer.attest({ jobId, round, contributor, updateHash, accuracyBps, numSamples });
    // The store never closes the round on a count: the engine decides, from usefulness (maybeClose).
    const r = await this.d.repo.acceptUpdate(record, Number.MAX_SAFE_INTEGER);
    if (!r.ok) return this.lostRace(input, r, updateHash);
    this.d.metrics.updatesAccepted.inc();
    this.d.events.emit("update:accepted", { jobId, round, contributor, accuracyBps, numSamples, ms: this.d.now() - started });
    void this.maybeClose(jobId, round);
    return this.attestation(record);
  }

  /** The round closed, or the same contributor's other request won, while this one was evaluated. */
  private lostRace(input: SubmitInput, r: { reason: "ROUND_CLOSED" | "DUPLICATE_UPDATE"; existing?: UpdateRecord }, updateHash: string): Attestation {
    if (r.reason === "DUPLICATE_UPDATE" && r.existing) return this.resend(input, r.existing, updateHash);
    throw this.refuse(input, new ApiError("ROUND_CLOSED", `Round ${input.round} of job ${input.jobId} closed while this update was evaluated.`));
  }

  private async onDeadline(jobId: number, round: number): Promise<void> {
    if (this.stopped || this.halted) return;
    const r = await this.d.repo.getRound(jobId, round);
    const job = await this.d.repo.getJob(jobId);
    if (!r || !job || r.status !== "open") return;
    const accepted = (await this.d.repo.listUpdates(jobId, round, "accepted")).length;
    if (accepted >= job.settings.minUpdatesAtDeadline) {
      if (await this.d.repo.markRoundClosing(jobId, round)) {
        this.d.events.emit("round:closing", { jobId, round });
        await this.closeRound(jobId, round);
      }
      return;
    }
    const deadlineAt = this.d.now() + job.settings.roundDeadlineSeconds * 1000;
    await this.d.repo.extendRound(jobId, round, deadlineAt);
    this.d.metrics.roundsExtended.inc();
    this.d.events.emit("round:extended", { jobId, round, deadlineAt, extensions: r.extensions + 1 });
    this.deadlines.arm(jobId, round, deadlineAt);
  }

  /**
   * End a job early (Repository.endJobEarly): with `keepOpen` (the requester's abort) the round in
   * progress closes as usual and is the last; without (the job finished on chain) it ends now.
   */
  async endEarly(jobId: number, keepOpen: boolean): Promise<JobRecord | null> {
    const before = await this.d.repo.getJob(jobId);
    const job = await this.d.repo.endJobEarly(jobId, this.d.now(), keepOpen);
    if (before?.status === "active" && job?.status === "finished") {
      this.deadlines.disarm(jobId, before.currentRound);
      this.d.events.emit("job:finished", { jobId, modelHash: job.modelHash });
    }
    return job;
  }

  /**
   * With other orchestrators on the store: close what one of them left closing when it died (its
   * round lock went with it), and follow the deadlines of rounds another one opened or extended.
   */
  async sweep(): Promise<void> {
    if (this.stopped || this.halted) return;
    for (const r of await this.d.repo.roundsWithStatus("closing")) if (!this.closing.has(`${r.jobId}:${r.round}`)) void this.closeRound(r.jobId, r.round);
    for (const r of await this.d.repo.roundsWithStatus("open")) this.deadlines.arm(r.jobId, r.round, r.deadlineAt);
  }

  /** Close under the round's lock: of orchestrators sharing the store, the one holding it closes; the others leave it. */
  private async closeLocked(jobId: number, round: number): Promise<void> {
    const lock = `round:${jobId}:${round}`;
    const c = this.d.coordinator;
    if (c && !(await c.tryHold(lock))) return;
    try {
      await this.doClose(jobId, round);
    } finally {
      await c?.release(lock);
    }
  }

  /** Aggregate a closing round and open the next; concurrent and repeated calls are one. */
  closeRound(jobId: number, round: number): Promise<void> {
    const key = `${jobId}:${round}`;
    let p = this.closing.get(key);
    if (!p) {
      p = this.closeLocked(jobId, round)
        .catch((err: unknown) => {
          const error = err instanceof Error ? err.message : String(err);
          this.d.log.error({ err, jobId, round }, "round close failed; will retry");
          this.d.events.emit("round:failed", { jobId, round, error });
          if (!this.stopped && !this.halted) this.deadlines.retry(jobId, round, this.d.retryMs ?? 5000, () => void this.closeRound(jobId, round));
        })
        .finally(() => this.closing.delete(key));
      this.closing.set(key, p);
    }
    return p;
  }

  private async doClose(jobId: number, round: number): Promise<void> {
    const started = this.d.now();
    const r: RoundRecord | null = await this.d.repo.getRound(jobId, round);
    const job = await this.d.repo.getJob(jobId);
    if (!r || !job || r.status === "closed" || this.halted) return;
    this.deadlines.disarm(jobId, round);
    // Sorted by update hash in the store: arrival order never changes the result.
    const accepted = await this.d.repo.listUpdates(jobId, round, "accepted");
    const required = await this.required(job);
    const { rt, global, scored } = await this.score(job, r, accepted, required.cluster);
    // Marked closing only once enough useful updates arrived (maybeClose) or at the deadline: close now.
    const { bytes, modelHash } = encodeRoundModel(scored.model, global.layout, round);
    await this.d.blobs.put(bytes, modelHash);
    const ev = await rt.strategy.evaluate(round, unflatten(scored.model, global.layout));
    // The chain may have gone while this round was aggregated: sign nothing for it.
    if (this.halted) return;
    const rewards = await this.commitRewards(job, round, modelHash, scored, required.cluster);
    const last = round + 1 >= job.settings.rounds;
    const now = this.d.now();
    const next = last ? null : { openedAt: now, deadlineAt: now + rt.strategy.configureRound(round + 1).deadlineSeconds * 1000 };
    const kept = scored.updates.filter((u) => u.excluded === null);
    await this.d.repo.completeRound({
      jobId, round, closedAt: now, modelHash, accuracy: ev.accuracy, loss: ev.loss,
      contributors: kept.map((u) => u.contributor), updateHashes: kept.map((u) => u.updateHash), rewards, next,
    });
    this.d.metrics.roundsClosed.inc();
    this.d.events.emit("round:closed", {
      jobId, round, accuracy: ev.accuracy, loss: ev.loss, contributors: kept.length, modelHash, ms: this.d.now() - started, paid: rewards.total,
    });
    if (next) this.roundOpened(jobId, round + 1, next.deadlineAt);
    else this.d.events.emit("job:finished", { jobId, modelHash });
  }

  /**
   * The round's rewards and the evaluator's commitment. The budget is the job's roundBudget, or
   * less when the pool may hold less: the pool minus every earlier commitment and the flat part
   * of every update accepted so far. A cluster's machines are paid by their rentals: budget 0.
   */
  private async commitRewards(job: JobRecord, round: number, modelHash: string, scored: ScoredRound, cluster: boolean): Promise<RoundRewards> {
    const c = job.chain;
    let free = BigInt(c.totalRewardPool);
    for (const r of await this.d.repo.listRounds(job.jobId)) if (r.round < round && r.rewards) free -= BigInt(r.rewards.total);
    free -= BigInt(c.flatPerUpdate) * BigInt((await this.d.repo.countUpdates(job.jobId)).accepted);
    const roundBudget = BigInt(c.roundBudget);
    const budget = cluster || free <= 0n ? 0n : free < roundBudget ? free : roundBudget;
    const shares = splitRewards(payableScores(scored.updates), budget, BigInt(c.maxPerContributor));
    const tree = rewardTree(job.jobId, round, shares);
    const updRoot = updatesRoot(scored.updates.map((u) => ({ updateHash: u.updateHash, weight: u.weight, counted: u.excluded === null })));
    const signature = this.d.signer.commitRound({ jobId: job.jobId, round, rewardsRoot: tree.root, updatesRoot: updRoot, modelHash, total: tree.total });
    return {
      rewardsRoot: tree.root,
      updatesRoot: updRoot,
      total: tree.total.toString(),
      budget: budget.toString(),
      signature,
      baseLoss: scored.baseLoss,
      updates: scored.updates.map((u, i) => ({ ...u, amount: shares[i].amount.toString() })),
    };
  }

  /** Stop timers and wait for closes in flight (their results are stored). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.deadlines.clear();
    await Promise.allSettled([...this.checking, ...this.closing.values()]);
    await Promise.allSettled([...this.closing.values()]);
  }
}
