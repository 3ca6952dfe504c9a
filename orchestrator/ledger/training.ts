/**
 * What TrainingPool's events say was paid: per job, the pool, what rounds committed, what
 * contributors claimed or got as flat parts, the refund. Pure: fold events oldest first.
 */
import type { ChainEventRecord } from "../store/repository.js";

export interface JobMoney {
  jobId: number;
  requester: string;
  /** DUCK wei, decimal strings. */
  pool: string;
  committed: string;
  /** Claims of committed amounts plus flat parts paid at submitUpdate. */
  paid: string;
  flat: string;
  refund: string | null;
  /** Not committed, not paid as flat parts, not refunded. */
  left: string;
  /** contributor (checksummed) → DUCK wei received (claims + flat parts). */
  byContributor: Record<string, string>;
}

export interface TrainingLedger {
  jobs: Map<number, JobMoney>;
  /** Everything contributors received, all jobs. */
  paidTotal: bigint;
}

const big = (v: unknown) => BigInt(String(v ?? "0"));
const add = (a: string, b: bigint) => (big(a) + b).toString();

export function foldTraining(events: ChainEventRecord[]): TrainingLedger {
  const jobs = new Map<number, JobMoney>();
  let paidTotal = 0n;
  const job = (id: unknown): JobMoney => {
    const jobId = Number(id);
    let j = jobs.get(jobId);
    if (!j) jobs.set(jobId, (j = { jobId, requester: "", pool: "0", committed: "0", paid: "0", flat: "0", refund: null, left: "0", byContributor: {} }));
    return j;
  };
  const pay = (j: JobMoney, contributor: string, amount: bigint) => {
    j.paid = add(j.paid, amount);
    j.byContributor[contributor] = add(j.byContributor[contributor] ?? "0", amount);
    paidTotal += amount;
  };
  for (const e of events) {
    const a = e.args;
    switch (e.name) {
      case "TrainingJobCreated": {
        const j = job(a.jobId);
        j.requester = String(a.requester);
        j.pool = String(a.totalRewardPool);
        break;
      }
      case "RoundCommitted": {
        const j = job(a.jobId);
        j.committed = add(j.committed, big(a.total));
        break;
      }
      case "RewardClaimed":
        pay(job(a.jobId), String(a.contributor), big(a.amount));
        break;
      case "RewardDistributed": {
        const j = job(a.jobId);
        j.flat = add(j.flat, big(a.amount));
        pay(j, String(a.contributor), big(a.amount));
        break;
      }
      case "TrainingJobFinished":
        job(a.jobId).refund = String(a.refund);
        break;
    }
  }
  for (const j of jobs.values()) {
    const left = big(j.pool) - big(j.committed) - big(j.flat) - big(j.refund ?? "0");
    j.left = (left > 0n ? left : 0n).toString();
  }
  return { jobs, paidTotal };
}
