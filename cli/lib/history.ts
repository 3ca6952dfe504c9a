/**
 * One wallet's own history, read from the chain's events alone (no orchestrator needed): the jobs
 * it created and what came back, the updates it sent and what they earned, the machines it
 * rented (escrow, real cost, refund) and served (earnings), the inference it paid for.
 */
import type { Contract, EventLog, Provider } from "ethers";
import type { Contracts } from "../../protocol/chain/contracts.js";
import { queryChunked } from "./market/marketplace.js";

export interface JobCreatedEntry {
  jobId: number;
  txHash: string;
  block: number;
  pool: bigint;
  rounds: number;
  /** Refunded so far (an abort's refund, the finish's refund). */
  refunded: bigint;
  status: "running" | "aborted" | "finished";
}

export interface UpdateEntry {
  jobId: number;
  round: number;
  accuracyBps: number;
  numSamples: number;
  updateHash: string;
  txHash: string;
  /** The flat part paid when the update was submitted. */
  received: bigint;
  /** What the round's commitment paid this wallet when it claimed (null: not claimed). */
  claimed: bigint | null;
  claimTx: string | null;
}

export interface RentalMadeEntry {
  rentalId: string;
  machineId: string;
  jobId: number;
  hours: number;
  escrowed: bigint;
  /** Refunds: early end, cancellation, downtime. */
  refund: bigint;
  /** escrowed − refund once the rental is over; null while it runs. */
  cost: bigint | null;
  status: "running" | "ended" | "cancelled";
  txHash: string;
}

export interface RentalServedEntry {
  rentalId: string;
  machineId: string;
  renter: string;
  hours: number;
  escrowed: bigint;
  /** What the provider earned: at the end of the rental, or withdrawn so far while it runs. */
  earned: bigint;
  status: "running" | "ended" | "cancelled";
}

export interface InferenceEntry {
  jobId: number;
  txHash: string;
  escrowed: bigint;
  paid: bigint | null;
  refund: bigint;
  status: "open" | "settled" | "reclaimed";
}

export interface History {
  address: string;
  fromBlock: number;
  toBlock: number;
  jobsCreated: JobCreatedEntry[];
  updates: UpdateEntry[];
  rentalsMade: RentalMadeEntry[];
  rentalsServed: RentalServedEntry[];
  inference: InferenceEntry[];
  totals: {
    /** Escrowed in pools of jobs created, and refunded from them. */
    poolsEscrowed: bigint;
    poolsRefunded: bigint;
    /** Received for updates: flat parts plus claims. */
    contributionEarned: bigint;
    /** Real rent paid for rentals that are over, escrow of rentals still running, refunds, and rent earned as a provider. */
    rentPaid: bigint;
    rentEscrowed: bigint;
    rentRefunded: bigint;
    rentEarned: bigint;
    inferencePaid: bigint;
  };
}

const arg = (log: EventLog, name: string) => log.args.getValue(name) as unknown;
const big = (v: unknown) => BigInt(v as bigint);
const sum = (xs: bigint[]) => xs.reduce((a, b) => a + b, 0n);

async function events(c: Contract, name: string, args: unknown[], from: number, to: number): Promise<EventLog[]> {
  return queryChunked(c, name, args, from, to);
}

/** Group one event's logs by an argument (as a string key). */
async function byKey(c: Contract, name: string, key: string, from: number, to: number): Promise<Map<string, EventLog[]>> {
  const out = new Map<string, EventLog[]>();
  for (const log of await events(c, name, [], from, to)) {
    const k = String(arg(log, key));
    out.set(k, [...(out.get(k) ?? []), log]);
  }
  return out;
}

async function jobsCreated(pool: Contract, me: string, from: number, to: number): Promise<JobCreatedEntry[]> {
  const created = await events(pool, "TrainingJobCreated", [null, me], from, to);
  if (created.length === 0) return [];
  const aborted = await byKey(pool, "TrainingJobAborted", "jobId", from, to);
  const finished = await byKey(pool, "TrainingJobFinished", "jobId", from, to);
  return created.map((log) => {
    const jobId = String(arg(log, "jobId"));
    const terms = arg(log, "terms") as { totalRewardPool: bigint; rounds: bigint };
    const a = aborted.get(jobId) ?? [];
    const f = finished.get(jobId) ?? [];
    return {
      jobId: Number(jobId),
      txHash: log.transactionHash,
      block: log.blockNumber,
      pool: big(terms.totalRewardPool),
      rounds: Number(a.length > 0 ? arg(a.at(-1)!, "rounds") : terms.rounds),
      refunded: sum([...a.map((l) => big(arg(l, "refund"))), ...f.map((l) => big(arg(l, "refund")))]),
      status: f.length > 0 ? "finished" : a.length > 0 ? "aborted" : "running",
    };
  });
}

async function updates(pool: Contract, me: string, from: number, to: number): Promise<UpdateEntry[]> {
  const sent = await events(pool, "UpdateSubmitted", [null, null, me], from, to);
  const claims = await events(pool, "RewardClaimed", [null, null, me], from, to);
  const flats = await events(pool, "RewardDistributed", [null, me], from, to);
  // A flat part is paid in the same transaction as its update.
  const flatByTx = new Map(flats.map((l) => [l.transactionHash, big(arg(l, "amount"))]));
  const claimOf = new Map(claims.map((l) => [`${arg(l, "jobId")}/${arg(l, "round")}`, l]));
  const rows: UpdateEntry[] = sent.map((log) => {
    const key = `${arg(log, "jobId")}/${arg(log, "round")}`;
    const claim = claimOf.get(key);
    claimOf.delete(key);
    return {
      jobId: Number(arg(log, "jobId")),
      round: Number(arg(log, "round")),
      accuracyBps: Number(arg(log, "accuracyBps")),
      numSamples: Number(arg(log, "numSamples")),
      updateHash: String(arg(log, "updateHash")),
      txHash: log.transactionHash,
      received: flatByTx.get(log.transactionHash) ?? 0n,
      claimed: claim ? big(arg(claim, "amount")) : null,
      claimTx: claim?.transactionHash ?? null,
    };
  });
  // Claims for rounds whose update was never sent on chain (a receipt kept off chain) still count.
  for (const claim of claimOf.values()) {
    rows.push({ jobId: Number(arg(claim, "jobId")), round: Number(arg(claim, "round")), accuracyBps: 0, numSamples: 0, updateHash: "", txHash: "", received: 0n, claimed: big(arg(claim, "amount")), claimTx: claim.transactionHash });
  }
  return rows.sort((a, b) => a.jobId - b.jobId || a.round - b.round);
}

interface RentalEnds {
  ended: Map<string, EventLog[]>;
  cancelled: Map<string, EventLog[]>;
  downtime: Map<string, EventLog[]>;
}

async function rentalEnds(market: Contract, from: number, to: number): Promise<RentalEnds> {
  const has = (name: string) => market.interface.getEvent(name) !== null;
  const [ended, cancelled, downtime] = await Promise.all([
    byKey(market, "RentalEnded", "rentalId", from, to),
    byKey(market, "RentalCancelled", "rentalId", from, to),
    has("DowntimeSettled") ? byKey(market, "DowntimeSettled", "rentalId", from, to) : Promise.resolve(new Map<string, EventLog[]>()),
  ]);
  return { ended, cancelled, downtime };
}

function rentalOutcome(id: string, ends: RentalEnds): { refund: bigint; earned: bigint | null; status: "running" | "ended" | "cancelled" } {
  const ended = ends.ended.get(id) ?? [];
  const cancelled = ends.cancelled.get(id) ?? [];
  const refund = sum([...ended, ...cancelled, ...(ends.downtime.get(id) ?? [])].map((l) => big(arg(l, "refund"))));
  if (cancelled.length > 0) return { refund, earned: 0n, status: "cancelled" };
  if (ended.length > 0) return { refund, earned: sum(ended.map((l) => big(arg(l, "earned")))), status: "ended" };
  return { refund, earned: null, status: "running" };
}

/**
 * What each rental of `renter` really cost: its escrow less every refund (early end,
 * cancellation, downtime), once it is over; null while it runs. For `rent list`.
 */
export async function rentalCosts(market: Contract, provider: Provider, renter: string, fromBlock: number): Promise<Map<string, { refund: bigint; cost: bigint | null }>> {
  const to = await provider.getBlockNumber();
  const { made } = await rentals(market, renter, fromBlock, to);
  return new Map(made.map((r) => [r.rentalId, { refund: r.refund, cost: r.cost }]));
}

async function rentals(market: Contract, me: string, from: number, to: number): Promise<{ made: RentalMadeEntry[]; served: RentalServedEntry[] }> {
  const rented = await events(market, "MachineRented", [null, null, me], from, to);
  const mine = await events(market, "MachineListed", [null, me], from, to);
  const machineIds = new Set(mine.map((l) => String(arg(l, "machineId"))));
  const servedLogs = machineIds.size === 0 ? [] : (await events(market, "MachineRented", [], from, to)).filter((l) => machineIds.has(String(arg(l, "machineId"))));
  if (rented.length === 0 && servedLogs.length === 0) return { made: [], served: [] };
  const ends = await rentalEnds(market, from, to);
  const made = rented.map((log): RentalMadeEntry => {
    const id = String(arg(log, "rentalId"));
    const escrowed = big(arg(log, "amount"));
    const o = rentalOutcome(id, ends);
    return {
      rentalId: id,
      machineId: String(arg(log, "machineId")),
      jobId: Number(arg(log, "jobId")),
      hours: Number(arg(log, "numHours")),
      escrowed,
      refund: o.refund,
      cost: o.status === "running" ? null : escrowed - o.refund,
      status: o.status,
      txHash: log.transactionHash,
    };
  });
  const withdrawn = servedLogs.length > 0 && market.interface.getEvent("EarningsWithdrawn") !== null ? await byKey(market, "EarningsWithdrawn", "rentalId", from, to) : new Map<string, EventLog[]>();
  const served = servedLogs.map((log): RentalServedEntry => {
    const id = String(arg(log, "rentalId"));
    const o = rentalOutcome(id, ends);
    return {
      rentalId: id,
      machineId: String(arg(log, "machineId")),
      renter: String(arg(log, "renter")),
      hours: Number(arg(log, "numHours")),
      escrowed: big(arg(log, "amount")),
      earned: o.earned ?? sum((withdrawn.get(id) ?? []).map((l) => big(arg(l, "amount")))),
      status: o.status,
    };
  });
  return { made, served };
}

async function inference(pool: Contract, me: string, from: number, to: number): Promise<InferenceEntry[]> {
  const created = await events(pool, "InferenceJobCreated", [null, me], from, to);
  if (created.length === 0) return [];
  const settled = await byKey(pool, "InferenceSettled", "jobId", from, to);
  const reclaimed = await byKey(pool, "InferenceReclaimed", "jobId", from, to);
  return created.map((log) => {
    const id = String(arg(log, "jobId"));
    const s = settled.get(id)?.[0];
    const r = reclaimed.get(id)?.[0];
    return {
      jobId: Number(id),
      txHash: log.transactionHash,
      escrowed: big(arg(log, "maxPayment")),
      paid: s ? big(arg(s, "paid")) : r ? 0n : null,
      refund: s ? big(arg(s, "refund")) : r ? big(arg(r, "refund")) : 0n,
      status: s ? "settled" : r ? "reclaimed" : "open",
    };
  });
}

/** The history of `address` from the deployment's block to the latest. */
export async function readHistory(contracts: Contracts, provider: Provider, address: string): Promise<History> {
  const from = contracts.deployment.block;
  const to = await provider.getBlockNumber();
  const [jobs, ups, rent, inf] = await Promise.all([
    jobsCreated(contracts.trainingPool, address, from, to),
    updates(contracts.trainingPool, address, from, to),
    rentals(contracts.marketplace, address, from, to),
    inference(contracts.inferencePool, address, from, to),
  ]);
  return {
    address,
    fromBlock: from,
    toBlock: to,
    jobsCreated: jobs,
    updates: ups,
    rentalsMade: rent.made,
    rentalsServed: rent.served,
    inference: inf,
    totals: {
      poolsEscrowed: sum(jobs.map((j) => j.pool)),
      poolsRefunded: sum(jobs.map((j) => j.refunded)),
      contributionEarned: sum(ups.map((u) => u.received + (u.claimed ?? 0n))),
      rentPaid: sum(rent.made.map((r) => r.cost ?? 0n)),
      rentEscrowed: sum(rent.made.filter((r) => r.cost === null).map((r) => r.escrowed - r.refund)),
      rentRefunded: sum(rent.made.map((r) => r.refund)),
      rentEarned: sum(rent.served.map((r) => r.earned)),
      inferencePaid: sum(inf.map((i) => i.paid ?? 0n)),
    },
  };
}
