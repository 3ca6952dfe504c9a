/**
 * Whether a job moves, judged from the store at each request, so every reader (`job status`,
 * `job list`, `history`, the dashboard) sees the same verdict and nothing new is kept. A job is
 * `stalled` when its open round cannot close as things stand: its deadline passed without the
 * updates the round needs (none came, every one was refused below the threshold, too few were
 * accepted), or its pool has nothing left to pay contributors. It is `waiting` when enough
 * updates were accepted but too few add to the model: the round then closes at its deadline with
 * what it has, and says so instead of waiting silently.
 */
import { formatAmount } from "../../protocol/chain/units.js";
import type { JobRecord, Repository, RoundRecord, UpdateRecord } from "../store/repository.js";

export const PROGRESS_STATES = ["running", "waiting", "stalled", "finished"] as const;
export const PROGRESS_REASONS = ["no-updates", "below-threshold", "too-few-updates", "pool-exhausted", "few-useful"] as const;

export interface JobProgress {
  state: (typeof PROGRESS_STATES)[number];
  /** Why a job waits or is stalled; null while it runs or once finished. */
  reason: (typeof PROGRESS_REASONS)[number] | null;
  /** The open round (null once finished). */
  round: number | null;
  /** Since when (ms) the round has been open. */
  since: number | null;
  message: string;
  /** What the requester can do; null when nothing is needed. */
  fix: string | null;
}

export const progressSchema = {
  type: "object",
  required: ["state", "reason", "round", "since", "message", "fix"],
  description: "whether the job moves: stalled (its open round cannot close as things stand, with the reason and the fix), waiting (updates arrived but too few add to the model), running or finished",
  properties: {
    state: { type: "string", enum: [...PROGRESS_STATES] },
    reason: { type: ["string", "null"], enum: [...PROGRESS_REASONS, null] },
    round: { type: ["integer", "null"] },
    since: { type: ["integer", "null"] },
    message: { type: "string" },
    fix: { type: ["string", "null"] },
  },
} as const;

export interface ProgressFacts {
  job: JobRecord;
  /** The open round's record (null when the job is finished or the round is not stored yet). */
  round: RoundRecord | null;
  /** The open round's updates, accepted and refused. */
  updates: UpdateRecord[];
  /** DUCK wei committed by the job's closed rounds. */
  committed: bigint;
  /** Updates accepted over the whole job (each took the flat part, if any). */
  acceptedTotal: number;
  now: number;
}

const seconds = (ms: number) => `${Math.max(0, Math.round(ms / 1000))} s`;
const times = (n: number) => (n === 1 ? "once" : `${n} times`);
const pct = (bps: number) => `${(bps / 100).toFixed(2)} %`;

/** The verdict from what the store holds; pure, so every reader gets the same answer. */
export function judgeProgress(f: ProgressFacts): JobProgress {
  const { job } = f;
  const id = job.jobId;
  if (job.status !== "active") {
    return { state: "finished", reason: null, round: null, since: null, message: `Job ${id} is finished.`, fix: null };
  }
  if (!f.round) {
    // Between the job's activation and its round's row (or a round lost to a crash mid-write): nothing to judge yet.
    return { state: "running", reason: null, round: job.currentRound, since: null, message: `Round ${job.currentRound} of job ${id} is opening.`, fix: null };
  }
  const r = f.round;
  const base = { round: r.round, since: r.openedAt };
  const abort = `quackmesh job abort ${id}`;
  const c = job.chain;
  const free = BigInt(c.totalRewardPool) - f.committed - BigInt(c.flatPerUpdate) * BigInt(f.acceptedTotal);
  if (free <= 0n) {
    return {
      ...base, state: "stalled", reason: "pool-exhausted",
      message: `The pool of job ${id} is spent (${formatAmount(BigInt(c.totalRewardPool))} DUCK, all committed or paid per update): round ${r.round} and later pay contributors nothing.`,
      fix: `Abort the job: \`${abort}\` (what contributors were owed stays claimable).`,
    };
  }
  const accepted = f.updates.filter((u) => u.status === "accepted");
  const refused = f.updates.filter((u) => u.status === "rejected");
  const s = job.settings;
  if (r.extensions > 0 && accepted.length < s.minUpdatesAtDeadline) {
    const passed = `its ${s.roundDeadlineSeconds} s deadline passed ${times(r.extensions)}`;
    if (accepted.length === 0 && refused.length > 0) {
      const best = Math.max(...refused.map((u) => u.accuracyBps));
      return {
        ...base, state: "stalled", reason: "below-threshold",
        message: `Every update of round ${r.round} (${refused.length}) was refused below the threshold of ${pct(s.thresholdBps)} (best ${pct(best)}); ${passed}.`,
        fix: `The threshold is fixed on chain: abort (\`${abort}\`) and create the job again with a lower --threshold.`,
      };
    }
    if (accepted.length === 0) {
      return {
        ...base, state: "stalled", reason: "no-updates",
        message: `Round ${r.round} has had no update in the ${seconds(f.now - r.openedAt)} it has been open; ${passed}.`,
        fix: `Contributors join with \`quackmesh contribute --job ${id} --data DIR\`; to stop and get the unspent pool back: \`${abort}\`.`,
      };
    }
    return {
      ...base, state: "stalled", reason: "too-few-updates",
      message: `Round ${r.round} holds ${accepted.length} accepted update(s) and needs ${s.minUpdatesAtDeadline} to close at its deadline; ${passed}.`,
      fix: `Wait for more contributors, or stop the job: \`${abort}\`.`,
    };
  }
  const left = `its deadline in ${seconds(r.deadlineAt - f.now)}`;
  if (r.status === "open" && accepted.length >= s.minUpdates) {
    return {
      ...base, state: "waiting", reason: "few-useful",
      message: `Round ${r.round} holds ${accepted.length} accepted updates but fewer than ${s.minUpdates} add to the model; it closes at ${left} with what it has.`,
      fix: null,
    };
  }
  return {
    ...base, state: "running", reason: null,
    message: `Round ${r.round} is ${r.status}: ${accepted.length} accepted, ${refused.length} refused; it closes with ${s.minUpdates} useful updates or at ${left}.`,
    fix: null,
  };
}

/** The facts for judgeProgress, read from the store (reads only, no new store method). */
export async function jobProgress(repo: Pick<Repository, "getRound" | "listRounds" | "listUpdates" | "countUpdates">, job: JobRecord, now: number): Promise<JobProgress> {
  if (job.status !== "active") return judgeProgress({ job, round: null, updates: [], committed: 0n, acceptedTotal: 0, now });
  const [round, rounds, accepted, rejected, counts] = await Promise.all([
    repo.getRound(job.jobId, job.currentRound),
    repo.listRounds(job.jobId),
    repo.listUpdates(job.jobId, job.currentRound, "accepted"),
    repo.listUpdates(job.jobId, job.currentRound, "rejected"),
    repo.countUpdates(job.jobId),
  ]);
  const committed = rounds.reduce((sum, r) => sum + (r.rewards ? BigInt(r.rewards.total) : 0n), 0n);
  return judgeProgress({ job, round, updates: [...accepted, ...rejected], committed, acceptedTotal: counts.accepted, now });
}
