// A plain TypeScript model of the three pools, used by the invariant test to predict each call's
// outcome (success, or the exact custom error) and every token movement, independently of the
// contracts' own views.

export const PENDING = 1;
export const ACTIVE = 2;
export const ENDED = 3;
export const CANCELLED = 4;

export interface MachineModel { provider: string; price: bigint; maxHours: number; listed: boolean; activeRentalId: number }
export interface RentalModel {
  machineId: number; renter: string; hours: number; amount: bigint;
  createdAt: bigint; startedAt: bigint; endedAt: bigint; withdrawn: bigint; status: number;
}
/** A committed round: its leaves ([contributor, amount], in tree order) and each leaf's proof. */
export interface CommitmentModel { total: bigint; claimed: bigint; leaves: [string, bigint][]; proofs: string[][] }
export interface JobModel {
  requester: string; evaluator: string; remaining: bigint; outstanding: bigint;
  budget: bigint; maxPer: bigint; flat: bigint; rounds: number; threshold: number;
  deadline: bigint; claimWindow: bigint; lastCommitAt: bigint; finished: boolean;
  /** Keys "round/contributor" (submitted) and "round/leaf index" (claimed). */
  submitted: Set<string>; claimed: Set<string>;
  commitments: Map<number, CommitmentModel>;
}
export interface InferenceModel { requester: string; orchestrator: string; max: bigint; settled: boolean; createdAt: bigint }

/** InferencePool.RECLAIM_DELAY. */
export const RECLAIM_DELAY = 86_400n;

/** Ids are array index + 1, as on chain. Balances are keyed by lower-case address. */
export interface Model {
  ackWindow: bigint;
  addresses: { market: string; training: string; inference: string };
  balances: Map<string, bigint>;
  machines: MachineModel[];
  rentals: RentalModel[];
  jobs: JobModel[];
  inferences: InferenceModel[];
}

/** Either the custom error the contract must revert with, or the effects of a successful call. */
export type Outcome = { error: string } | { apply: () => void };

const fail = (error: string): Outcome => ({ error });

export function move(m: Model, from: string, to: string, amount: bigint): void {
  const f = from.toLowerCase();
  const t = to.toLowerCase();
  const have = m.balances.get(f) ?? 0n;
  if (have < amount) throw new Error(`model: ${f} cannot pay ${amount}, has ${have}`);
  m.balances.set(f, have - amount);
  m.balances.set(t, (m.balances.get(t) ?? 0n) + amount);
}

export function earnedAt(r: RentalModel, at: bigint): bigint {
  const total = BigInt(r.hours) * 3600n;
  const elapsed = at - r.startedAt;
  return elapsed >= total ? r.amount : (r.amount * elapsed) / total;
}

export function earnedNow(r: RentalModel, now: bigint): bigint {
  if (r.status === ACTIVE) return earnedAt(r, now);
  if (r.status === ENDED) return earnedAt(r, r.endedAt);
  return 0n;
}

function occupies(m: Model, r: RentalModel, now: bigint): boolean {
  if (r.status === PENDING) return now <= r.createdAt + m.ackWindow;
  if (r.status === ACTIVE) return now < r.startedAt + BigInt(r.hours) * 3600n;
  return false;
}

// ---- what each contract owes, from the model alone ----

export function owedByMarket(m: Model): bigint {
  let owed = 0n;
  for (const r of m.rentals) {
    if (r.status === PENDING) owed += r.amount;
    else if (r.status === ACTIVE) owed += r.amount - r.withdrawn;
    else if (r.status === ENDED) owed += earnedAt(r, r.endedAt) - r.withdrawn;
  }
  return owed;
}

export const owedByTraining = (m: Model): bigint => m.jobs.reduce((sum, j) => sum + j.remaining, 0n);
export const owedByInference = (m: Model): bigint =>
  m.inferences.reduce((sum, j) => sum + (j.settled ? 0n : j.max), 0n);

// ---- ComputeMarketplace ----

export function list(m: Model, provider: string, price: bigint, maxHours: number): Outcome {
  if (price === 0n || price >= 2n ** 96n) return fail("InvalidPrice");
  return { apply: () => void m.machines.push({ provider, price, maxHours, listed: true, activeRentalId: 0 }) };
}

export function unlist(m: Model, caller: string, id: number): Outcome {
  const machine = m.machines[id - 1];
  if (!machine) return fail("UnknownMachine");
  if (machine.provider !== caller) return fail("NotProvider");
  if (!machine.listed) return fail("MachineNotListed");
  return { apply: () => void (machine.listed = false) };
}

export function rent(m: Model, renter: string, id: number, hours: number, now: bigint): Outcome {
  const machine = m.machines[id - 1];
  if (!machine) return fail("UnknownMachine");
  if (!machine.listed) return fail("MachineNotListed");
  if (machine.provider === renter) return fail("SelfRental");
  if (hours === 0 || (machine.maxHours !== 0 && hours > machine.maxHours)) return fail("InvalidHours");
  const current = m.rentals[machine.activeRentalId - 1];
  if (current && occupies(m, current, now)) return fail("MachineBusy");
  const amount = machine.price * BigInt(hours);
  if ((m.balances.get(renter.toLowerCase()) ?? 0n) < amount) return fail("InsufficientEscrow");
  return {
    apply: () => {
      m.rentals.push({ machineId: id, renter, hours, amount, createdAt: now, startedAt: 0n, endedAt: 0n, withdrawn: 0n, status: PENDING });
      machine.activeRentalId = m.rentals.length;
      move(m, renter, m.addresses.market, amount);
    },
  };
}

export function acknowledge(m: Model, caller: string, id: number, now: bigint): Outcome {
  const r = m.rentals[id - 1];
  if (!r) return fail("UnknownRental");
  if (m.machines[r.machineId - 1].provider !== caller) return fail("NotProvider");
  if (r.status !== PENDING) return fail("InvalidRentalStatus");
  if (now > r.createdAt + m.ackWindow) return fail("AckWindowClosed");
  return { apply: () => Object.assign(r, { status: ACTIVE, startedAt: now }) };
}

export function cancel(m: Model, caller: string, id: number, now: bigint): Outcome {
  const r = m.rentals[id - 1];
  if (!r) return fail("UnknownRental");
  if (r.renter !== caller) return fail("NotRenter");
  if (r.status !== PENDING) return fail("InvalidRentalStatus");
  if (now <= r.createdAt + m.ackWindow) return fail("AckWindowOpen");
  return {
    apply: () => {
      Object.assign(r, { status: CANCELLED, endedAt: now });
      move(m, m.addresses.market, r.renter, r.amount);
    },
  };
}

export function end(m: Model, caller: string, id: number, now: bigint): Outcome {
  const r = m.rentals[id - 1];
  if (!r) return fail("UnknownRental");
  if (r.renter !== caller) return fail("NotRenter");
  if (r.status !== ACTIVE) return fail("InvalidRentalStatus");
  return {
    apply: () => {
      const refund = r.amount - earnedAt(r, now);
      Object.assign(r, { status: ENDED, endedAt: now });
      move(m, m.addresses.market, r.renter, refund);
    },
  };
}

export function withdraw(m: Model, caller: string, id: number, now: bigint): Outcome {
  const r = m.rentals[id - 1];
  if (!r) return fail("UnknownRental");
  const provider = m.machines[r.machineId - 1].provider;
  if (provider !== caller) return fail("NotProvider");
  if (r.status !== ACTIVE && r.status !== ENDED) return fail("InvalidRentalStatus");
  const due = earnedNow(r, now) - r.withdrawn;
  if (due <= 0n) return fail("NothingToWithdraw");
  return {
    apply: () => {
      r.withdrawn += due;
      move(m, m.addresses.market, provider, due);
    },
  };
}

// ---- TrainingPool ----

export const MAX_CLAIM_WINDOW = 30n * 86_400n;

export interface JobParams {
  pool: bigint; budget: bigint; maxPer: bigint; flat: bigint; rounds: number; threshold: number;
  evaluator: string; deadline: bigint; claimWindow: bigint;
}

export function createJob(m: Model, requester: string, p: JobParams, now: bigint): Outcome {
  if (p.pool === 0n || p.pool >= 2n ** 128n) return fail("InvalidRewardPool");
  if (p.budget === 0n || p.budget > p.pool || p.budget >= 2n ** 96n) return fail("InvalidRoundBudget");
  if (p.maxPer === 0n || p.maxPer > p.budget) return fail("InvalidMaxPerContributor");
  if (p.flat > p.budget) return fail("InvalidFlatPerUpdate");
  if (p.rounds === 0) return fail("InvalidRounds");
  if (p.threshold > 10_000) return fail("InvalidThreshold");
  if (p.deadline <= now) return fail("InvalidDeadline");
  if (p.claimWindow > MAX_CLAIM_WINDOW) return fail("InvalidClaimWindow");
  if ((m.balances.get(requester.toLowerCase()) ?? 0n) < p.pool) return fail("InsufficientFunds");
  return {
    apply: () => {
      const { pool, budget, maxPer, flat, rounds, threshold, evaluator, deadline, claimWindow } = p;
      m.jobs.push({
        requester, evaluator, remaining: pool, outstanding: 0n, budget, maxPer, flat, rounds, threshold,
        deadline, claimWindow, lastCommitAt: 0n, finished: false,
        submitted: new Set(), claimed: new Set(), commitments: new Map(),
      });
      move(m, requester, m.addresses.training, pool);
    },
  };
}

const free = (j: JobModel): bigint => j.remaining - j.outstanding;

export function submit(m: Model, who: string, id: number, round: number, accuracy: number, signer: string, now: bigint): Outcome {
  const j = m.jobs[id - 1];
  if (!j) return fail("UnknownJob");
  if (j.finished) return fail("JobAlreadyFinished");
  if (now > j.deadline) return fail("DeadlinePassed");
  if (round >= j.rounds) return fail("RoundOutOfRange");
  if (accuracy < j.threshold) return fail("BelowThreshold");
  const key = `${round}/${who}`;
  if (j.submitted.has(key)) return fail("AlreadySubmitted");
  if (j.flat !== 0n && free(j) === 0n) return fail("PoolExhausted");
  if (signer !== j.evaluator) return fail("InvalidAttestation");
  return {
    apply: () => {
      const reward = j.flat < free(j) ? j.flat : free(j);
      j.submitted.add(key);
      j.remaining -= reward;
      move(m, m.addresses.training, who, reward);
    },
  };
}

/** `leaves` and `proofs` describe the tree whose root is committed; `zeroRoot` sends a zero root instead. */
export function commit(
  m: Model, id: number, round: number, total: bigint, zeroRoot: boolean, signer: string, now: bigint,
  leaves: [string, bigint][], proofs: string[][],
): Outcome {
  const j = m.jobs[id - 1];
  if (!j) return fail("UnknownJob");
  if (j.finished) return fail("JobAlreadyFinished");
  if (round >= j.rounds) return fail("RoundOutOfRange");
  if (j.commitments.has(round)) return fail("RoundAlreadyCommitted");
  if (zeroRoot) return fail("ZeroRewardsRoot");
  if (signer !== j.evaluator) return fail("InvalidCommitmentSignature");
  const limit = j.budget < free(j) ? j.budget : free(j);
  if (total > limit) return fail("CommitmentTooLarge");
  return {
    apply: () => {
      j.commitments.set(round, { total, claimed: 0n, leaves, proofs });
      j.outstanding += total;
      j.lastCommitAt = now;
    },
  };
}

/**
 * `who` claims `amount` for leaf `index` of `round` with the proof of leaf `proofOf` of the
 * committed tree (a leaf's index is its position in `leaves`).
 */
export function claim(m: Model, who: string, id: number, round: number, index: number, amount: bigint, proofOf: number): Outcome {
  const j = m.jobs[id - 1];
  const c = j?.commitments.get(round);
  if (!j || !c) return fail("RoundNotCommitted");
  const key = `${round}/${index}`;
  if (j.claimed.has(key)) return fail("AlreadyClaimed");
  const leaf = c.leaves[proofOf];
  if (!leaf || proofOf !== index || leaf[0] !== who || leaf[1] !== amount) return fail("InvalidProof");
  if (amount > j.maxPer) return fail("ClaimAboveMaximum");
  if (c.claimed + amount > c.total) return fail("ClaimExceedsCommitment");
  return {
    apply: () => {
      j.claimed.add(key);
      c.claimed += amount;
      j.outstanding -= amount;
      j.remaining -= amount;
      move(m, m.addresses.training, who, amount);
    },
  };
}

/** `signer` is who signed JobFinished, or undefined for an empty signature. */
export function finish(m: Model, caller: string, id: number, signer: string | undefined, now: bigint): Outcome {
  const j = m.jobs[id - 1];
  if (!j) return fail("UnknownJob");
  if (j.finished) return fail("JobAlreadyFinished");
  if (signer === undefined) {
    if (caller !== j.requester) return fail("NotRequester");
    if (now <= j.deadline) return fail("JobStillRunning");
  } else if (signer !== j.evaluator) {
    return fail("InvalidFinishSignature");
  } else if (caller !== j.requester || j.outstanding !== 0n) {
    if (j.commitments.size < j.rounds) return fail("RoundsNotCommitted");
    if (now < j.lastCommitAt + j.claimWindow) return fail("ClaimWindowOpen");
  }
  return {
    apply: () => {
      const refund = free(j);
      j.finished = true;
      j.remaining = j.outstanding;
      move(m, m.addresses.training, j.requester, refund);
    },
  };
}

/**
 * The requester stops job `id` after `rounds` rounds, with the evaluator's statement signed by
 * `signer` for `signedRounds`: the free pool comes back but for a round budget per uncommitted kept
 * round (all of it when the job pays a flat part); with nothing pending the job finishes.
 */
export function abort(m: Model, caller: string, id: number, rounds: number, signer: string, signedRounds: number): Outcome {
  const j = m.jobs[id - 1];
  if (!j) return fail("UnknownJob");
  if (j.finished) return fail("JobAlreadyFinished");
  if (caller !== j.requester) return fail("NotRequester");
  const committed = j.commitments.size;
  if (rounds < committed || rounds > j.rounds) return fail("InvalidAbortRounds");
  if (signer !== j.evaluator || signedRounds !== rounds) return fail("InvalidAbortSignature");
  return {
    apply: () => {
      const f = free(j);
      const pending = rounds > committed;
      let reserve = 0n;
      if (pending) reserve = j.flat !== 0n ? f : BigInt(rounds - committed) * j.budget;
      if (reserve > f) reserve = f;
      j.remaining -= f - reserve;
      j.rounds = rounds;
      if (!pending) j.finished = true;
      move(m, m.addresses.training, j.requester, f - reserve);
    },
  };
}

/** The TrainingPool invariants, on the model: a description of the first one broken, or null. */
export function trainingInvariantProblem(m: Model): string | null {
  for (const [i, j] of m.jobs.entries()) {
    if (j.outstanding > j.remaining) return `job ${i + 1}: outstanding ${j.outstanding} > remaining ${j.remaining}`;
    let open = 0n;
    for (const [round, c] of j.commitments) {
      if (c.claimed > c.total || c.total > j.budget) return `job ${i + 1} round ${round}: claimed ${c.claimed}, total ${c.total}, budget ${j.budget}`;
      open += c.total - c.claimed;
    }
    if (open !== j.outstanding) return `job ${i + 1}: outstanding ${j.outstanding} but rounds leave ${open} unclaimed`;
  }
  return null;
}

// ---- InferencePool ----

export function createInference(m: Model, requester: string, max: bigint, orchestrator: string, now: bigint): Outcome {
  if (max === 0n) return fail("InvalidPayment");
  if ((m.balances.get(requester.toLowerCase()) ?? 0n) < max) return fail("InsufficientFunds");
  return {
    apply: () => {
      m.inferences.push({ requester, orchestrator, max, settled: false, createdAt: now });
      move(m, requester, m.addresses.inference, max);
    },
  };
}

export function settle(m: Model, id: number, providers: string[], amounts: bigint[], signer: string): Outcome {
  const j = m.inferences[id - 1];
  if (!j) return fail("UnknownJob");
  if (j.settled) return fail("AlreadySettled");
  let total = 0n;
  for (const a of amounts) {
    if (a > j.max) return fail("PaymentExceedsMax");
    total += a;
  }
  if (total > j.max) return fail("PaymentExceedsMax");
  if (signer !== j.orchestrator) return fail("InvalidUsageSignature");
  return {
    apply: () => {
      j.settled = true;
      providers.forEach((p, i) => move(m, m.addresses.inference, p, amounts[i]));
      move(m, m.addresses.inference, j.requester, j.max - total);
    },
  };
}

export function reclaim(m: Model, caller: string, id: number, now: bigint): Outcome {
  const j = m.inferences[id - 1];
  if (!j) return fail("UnknownJob");
  if (j.settled) return fail("AlreadySettled");
  if (caller !== j.requester) return fail("NotRequester");
  if (now < j.createdAt + RECLAIM_DELAY) return fail("ReclaimTooEarly");
  return {
    apply: () => {
      j.settled = true;
      move(m, m.addresses.inference, j.requester, j.max);
    },
  };
}
