/**
 * TrainingPool as the job commands and the contributor see it: the on-chain job as plain
 * values, and the events a receipt or a block range carries, decoded.
 */
import type { Contract, Log, TransactionReceipt } from "ethers";
import { QuackError } from "../../../protocol/errors.js";
import { describeRevert } from "../../../protocol/chain/revert.js";
import type { RoundRewardsReply } from "../../../orchestrator/client.js";

/** The custom error's name when `err` is a decoded contract revert (describeRevert puts it in details). */
export function revertName(err: unknown): string | undefined {
  const details = (err as QuackError | undefined)?.details;
  return typeof details?.error === "string" ? details.error : undefined;
}

/** TrainingPool.commitRound's arguments for a round's signed rewards, as the orchestrator serves them. */
export function commitRoundArgs(jobId: number, round: number, r: Pick<RoundRewardsReply, "rewardsRoot" | "updatesRoot" | "modelHash" | "total" | "signature" | "updates">): unknown[] {
  // The tree's leaf count, a gas hint: commitRound prepares the claim marks of leaves 64 on with it.
  const leaves = r.updates.reduce((n, u) => (u.leaf === null ? n : Math.max(n, u.leaf + 1)), 0);
  return [jobId, round, r.rewardsRoot, r.updatesRoot, r.modelHash, r.total, leaves, r.signature];
}

/** ITrainingPool.Job with JavaScript types. */
export interface ChainJob {
  jobId: number;
  requester: string;
  evaluator: string;
  modelHash: string;
  totalRewardPool: bigint;
  /** Most one round may commit to its contributors, split by contribution. */
  roundBudget: bigint;
  /** Most one contributor may claim for one round. */
  maxPerContributor: bigint;
  /** Paid on chain for each accepted update at submitUpdate (0 = none). */
  flatPerUpdate: bigint;
  remaining: bigint;
  /** Committed to contributors and not claimed yet (never refunded). */
  outstanding: bigint;
  rounds: number;
  committedRounds: number;
  accuracyThresholdBps: number;
  /** Unix seconds. */
  deadline: number;
  /** Seconds contributors have after the last commitment before anyone may finish the job. */
  claimWindow: number;
  /** Unix seconds of the last round commitment (0 before any). */
  lastCommitAt: number;
  finished: boolean;
}

/** A job id from a command-line argument: a whole number from 1. */
export function parseJobId(text: string | number, what = "Job id"): number {
  const s = String(text).trim();
  const id = /^\d{1,15}$/.test(s) ? Number(s) : NaN;
  if (!Number.isSafeInteger(id) || id < 1) {
    throw new QuackError("BAD_ID", `${what} '${text}' is not a job number.`, {
      fix: "Pass the number `quackmesh job create` printed (job ids start at 1); `quackmesh job list` shows them.",
    });
  }
  return id;
}

/** The job from TrainingPool.getJob; UNKNOWN_JOB (with a fix) for an unused id. */
export async function readChainJob(pool: Contract, jobId: number): Promise<ChainJob> {
  let j: Record<string, unknown> & unknown[];
  try {
    j = (await pool.getFunction("getJob")(jobId)) as Record<string, unknown> & unknown[];
  } catch (err) {
    const e = describeRevert(err, pool, { method: "getJob" });
    if (revertName(e) === "UnknownJob") {
      throw new QuackError("UNKNOWN_JOB", `TrainingPool has no job ${jobId}.`, {
        fix: "Check the job id and --network/--rpc: `quackmesh job list` shows the jobs this orchestrator runs.",
        cause: err,
      });
    }
    throw e;
  }
  return {
    jobId,
    requester: String(j.requester),
    evaluator: String(j.evaluator),
    modelHash: String(j.modelHash),
    totalRewardPool: BigInt(j.totalRewardPool as bigint),
    roundBudget: BigInt(j.roundBudget as bigint),
    maxPerContributor: BigInt(j.maxPerContributor as bigint),
    flatPerUpdate: BigInt(j.flatPerUpdate as bigint),
    remaining: BigInt(j.remaining as bigint),
    outstanding: BigInt(j.outstanding as bigint),
    rounds: Number(j.rounds),
    committedRounds: Number(j.committedRounds),
    accuracyThresholdBps: Number(j.accuracyThresholdBps),
    deadline: Number(j.deadline),
    claimWindow: Number(j.claimWindow),
    lastCommitAt: Number(j.lastCommitAt),
    finished: Boolean(j.finished),
  };
}

export interface PoolEvent {
  name: string;
  args: Record<string, unknown>;
  txHash: string;
  blockNumber: number;
}

/** TrainingPool's events among `logs` (a receipt's, or a queryFilter's), decoded by name. */
export function poolEvents(pool: Contract, logs: readonly Log[], poolAddress: string): PoolEvent[] {
  const out: PoolEvent[] = [];
  for (const log of logs) {
    if (log.address.toLowerCase() !== poolAddress.toLowerCase()) continue;
    let parsed;
    try {
      parsed = pool.interface.parseLog({ topics: [...log.topics], data: log.data });
    } catch {
      continue;
    }
    if (!parsed) continue;
    const args: Record<string, unknown> = {};
    parsed.fragment.inputs.forEach((input, i) => (args[input.name] = parsed.args[i]));
    out.push({ name: parsed.name, args, txHash: log.transactionHash, blockNumber: log.blockNumber });
  }
  return out;
}

/** The first event `name` in a receipt, or a clear error when the transaction did not emit it. */
export async function eventFromReceipt(pool: Contract, receipt: TransactionReceipt, name: string): Promise<PoolEvent> {
  const found = poolEvents(pool, receipt.logs, await pool.getAddress()).find((e) => e.name === name);
  if (!found) {
    throw new QuackError("EVENT_MISSING", `Transaction ${receipt.hash} was mined but emitted no ${name} event.`, {
      fix: "Check that the deployment file points at the product's TrainingPool.",
    });
  }
  return found;
}

/** Every payment to contributors of `jobId` between two blocks (inclusive): flat parts (RewardDistributed) and claims (RewardClaimed). */
export async function rewardsBetween(pool: Contract, jobId: number, fromBlock: number, toBlock: number): Promise<Array<{ contributor: string; amount: bigint; txHash: string; blockNumber: number }>> {
  if (toBlock < fromBlock) return [];
  const logs = [
    ...(await pool.queryFilter(pool.filters.RewardDistributed(jobId), fromBlock, toBlock)),
    ...(await pool.queryFilter(pool.filters.RewardClaimed(jobId), fromBlock, toBlock)),
  ].sort((a, b) => a.blockNumber - b.blockNumber || a.index - b.index);
  return poolEvents(pool, logs, await pool.getAddress()).map((e) => ({
    contributor: String(e.args.contributor),
    amount: BigInt(e.args.amount as bigint),
    txHash: e.txHash,
    blockNumber: e.blockNumber,
  }));
}
