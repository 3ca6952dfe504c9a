/**
 * A job as it runs, as a stream of events: its counters, each closed round with the global
 * model's accuracy, each reward TrainingPool paid. Ends when the job finishes.
 */
import type { Contract, Provider } from "ethers";
import type { JobDetail, JobProgress, OrchestratorClient } from "../../../orchestrator/client.js";
import { rewardsBetween } from "./chainJob.js";
import { Backoff, isTransient, sleep } from "./wait.js";
import { qualityName, type QualityName } from "../../../protocol/quality.js";

export type WatchEvent =
  | {
      event: "status";
      jobId: number;
      status: "active" | "finished";
      currentRound: number;
      rounds: number;
      accepted: number;
      rejected: number;
      requester: string;
      evaluator: string;
      thresholdBps: number;
      /** What the rounds' accuracy is for this job's model: accuracy, or a regression's R². */
      metric: QualityName;
    }
  | { event: "round"; jobId: number; round: number; accuracy: number; metric: QualityName; loss: number | null; contributors: number; modelHash: string | null }
  | { event: "reward"; jobId: number; contributor: string; amount: bigint; txHash: string; blockNumber: number }
  | { event: "waiting"; jobId: number; reason: string; delayMs: number }
  /** The orchestrator's verdict on whether the job moves, when it changes (a stalled job says why and what to do). */
  | { event: "progress"; jobId: number; state: JobProgress["state"]; reason: JobProgress["reason"]; round: number | null; message: string; fix: string | null }
  | { event: "finished"; jobId: number; modelHash: string; rounds: number; finalAccuracy: number | null; metric: QualityName; totalPaid: bigint };

export interface WatchOptions {
  client: OrchestratorClient;
  jobId: number;
  /** TrainingPool and its provider: rewards are read from RewardDistributed and RewardClaimed events when given. */
  pool?: Contract;
  provider?: Provider;
  pollMs?: number;
  /**
   * After the last round closed, how long to keep reading rewards: contributors claim on chain
   * after their update was attested, so the last claims land after the job finished (default 10 s;
   * ends earlier once every accepted update was paid).
   */
  rewardGraceMs?: number;
  signal?: AbortSignal;
}

export async function* watchJob(opts: WatchOptions): AsyncGenerator<WatchEvent> {
  const { client, jobId, pool, provider, signal } = opts;
  const pollMs = opts.pollMs ?? 1000;
  const retry = new Backoff(pollMs, 15_000);
  const seenRounds = new Set<number>();
  let lastStatus = "";
  let lastProgress = "running";
  let fromBlock: number | undefined;
  let totalPaid = 0n;
  let paidCount = 0;
  let finishedAt: number | undefined;
  for (;;) {
    let job: JobDetail;
    try {
      job = await client.getJob(jobId);
    } catch (err) {
      if (!isTransient(err)) throw err;
      const delayMs = retry.next();
      yield { event: "waiting", jobId, reason: (err as Error).message, delayMs };
      await sleep(delayMs, signal);
      continue;
    }
    retry.reset();
    const status = {
      event: "status" as const,
      jobId,
      status: job.status,
      currentRound: job.currentRound,
      rounds: job.rounds,
      accepted: job.updates.accepted,
      rejected: job.updates.rejected,
      requester: job.requester,
      evaluator: job.evaluator,
      thresholdBps: job.settings.thresholdBps,
      metric: qualityName(job.spec),
    };
    const key = JSON.stringify(status);
    if (key !== lastStatus) {
      lastStatus = key;
      yield status;
    }
    const p = job.progress;
    // Only what departs from plain running is news (and the return to it).
    const progressKey = p ? (p.state === "running" || p.state === "finished" ? "running" : `${p.state}:${p.reason}:${p.round}`) : "running";
    if (p && progressKey !== lastProgress) {
      lastProgress = progressKey;
      yield { event: "progress", jobId, state: p.state, reason: p.reason, round: p.round, message: p.message, fix: p.fix };
    }
    for (const r of job.history) {
      if (r.status !== "closed" || r.accuracy === null || seenRounds.has(r.round)) continue;
      seenRounds.add(r.round);
      yield { event: "round", jobId, round: r.round, accuracy: r.accuracy, metric: status.metric, loss: r.loss, contributors: r.contributors.length, modelHash: r.modelHash };
    }
    if (pool && provider) {
      fromBlock ??= job.chain.blockNumber;
      const toBlock = await provider.getBlockNumber();
      for (const r of await rewardsBetween(pool, jobId, fromBlock, toBlock)) {
        totalPaid += r.amount;
        paidCount++;
        yield { event: "reward", jobId, ...r };
      }
      fromBlock = toBlock + 1;
    }
    if (job.status === "finished") finishedAt ??= Date.now();
    const claimsDone = !pool || !provider || paidCount >= job.updates.accepted || Date.now() - (finishedAt ?? 0) > (opts.rewardGraceMs ?? 10_000);
    if (finishedAt !== undefined && claimsDone) {
      const last = job.history.filter((r) => r.accuracy !== null).at(-1);
      yield { event: "finished", jobId, modelHash: job.modelHash, rounds: job.rounds, finalAccuracy: last?.accuracy ?? null, metric: status.metric, totalPaid };
      return;
    }
    await sleep(pollMs, signal);
  }
}
