import type { Contract, EventLog, Log, Provider } from "ethers";
import { QuackError, isQuackError } from "../../../protocol/errors.js";
import { describeRevert } from "../../../protocol/chain/revert.js";
import { parseSpecs, type MachineSpecs } from "../../../protocol/market/specs.js";
import { faucetHint } from "../chain/wallet.js";

/** Rental status as the contract's enum numbers it. */
export const RENTAL_STATUS = ["none", "pending", "active", "ended", "cancelled"] as const;
export type RentalStatusName = (typeof RENTAL_STATUS)[number];

/** "stale": listed and free, but its provider has not proven recently that it is alive. */
export type MachineStatus = "available" | "rented" | "unlisted" | "stale";

/** What people can do about the marketplace's custom errors (describeRevert fixes). */
export const MARKET_FIXES: Record<string, string> = {
  MachineBusy: "Pick another machine (`quackmesh market list`), or wait until its rental is over.",
  MachineNotListed: "The provider unlisted it; pick another machine (`quackmesh market list`).",
  InvalidHours: "Rent for fewer hours: at most the machine's maxHours (`quackmesh market list` shows it).",
  InsufficientEscrow: "Get more DUCK for the renting wallet, or approve the marketplace for the rent.",
  UnknownMachine: "Check the machine id with `quackmesh market list`.",
  UnknownRental: "Check the rental id with `quackmesh rent list`.",
  NotRenter: "Only the wallet that rented can do this; pass its --key.",
  NotProvider: "Only the wallet that listed the machine can do this; pass its --key.",
  AckWindowOpen: "The provider may still acknowledge; cancel once the acknowledgement window closed (`quackmesh rent list` shows the rental).",
  AckWindowClosed: "The renter may now cancel this rental for a full refund.",
  InvalidRentalStatus: "Check the rental's status with `quackmesh rent list`.",
  NothingToWithdraw: "Everything earned so far was already withdrawn.",
  StakeBelowMinimum: "Stake at least the marketplace's minimum (`quackmesh provide --stake DUCK`); renters: pick another machine.",
  StakeLocked: "The stake backs the machine's latest rental until its dispute window closes; try again after that.",
  NoArbiter: "This rental named no arbiter, so no downtime statement applies to it.",
  RentalNotOver: "End the rental first (`quackmesh rent end <id>`), or wait until its paid time ran out.",
  DisputeWindowClosed: "The statement came too late; the dispute window after the rental's end has closed.",
  AlreadySettled: "The downtime of this rental was already settled; nothing more is owed.",
  InvalidArbiterSignature: "Ask the rental's arbiter (the orchestrator named at `rent`) for its statement again.",
};

/** MARKET_FIXES for transactions `wallet` sends: a shortfall names the faucet command that funds that wallet. */
export function marketFixes(wallet: string): Record<string, string> {
  return { ...MARKET_FIXES, InsufficientEscrow: `Get more DUCK for ${wallet}, or approve the marketplace for the rent (on the local chain: \`${faucetHint(wallet)}\`).` };
}

/** "in 7 min" / "3 min ago" from the chain's clock. */
function fromNow(at: number, now: number): string {
  const d = at - now;
  const span = (s: number) => (s < 120 ? `${s} s` : s < 7200 ? `${Math.round(s / 60)} min` : `${(s / 3600).toFixed(1)} h`);
  return d >= 0 ? `in ${span(d)}` : `${span(-d)} ago`;
}

/**
 * A marketplace refusal of `action` on `rentalId` in plain words with the command that fixes it,
 * instead of the decoded `AckWindowOpen(rentalId=…, deadline=…)`. `now` is the chain's clock.
 * Anything that is not a marketplace revert comes back unchanged.
 */
export function explainRentalError(err: unknown, action: "end" | "cancel", rentalId: bigint, now: number): unknown {
  if (!isQuackError(err) || err.code !== "TX_REVERTED") return err;
  const name = err.details?.error as string | undefined;
  const args = (err.details?.args ?? {}) as Record<string, string>;
  const id = rentalId.toString();
  const at = (t: string | undefined) => `${new Date(Number(t) * 1000).toISOString().replace(".000Z", "Z")} (chain time, ${fromNow(Number(t), now)})`;
  const plain = (message: string, fix: string) => new QuackError("TX_REVERTED", message, { fix, details: { rentalId: id, error: name, ...args }, cause: err });
  switch (name) {
    case "AckWindowOpen":
      return plain(`Rental ${id} cannot be cancelled yet: its provider may still acknowledge it until ${at(args.deadline)}.`, `Run \`quackmesh rent cancel ${id}\` after that for a full refund; if the provider acknowledges first, \`quackmesh rent end ${id}\` refunds the unserved part.`);
    case "AckWindowClosed":
      return plain(`Rental ${id} was not acknowledged before ${at(args.deadline)}.`, `Get the full refund: \`quackmesh rent cancel ${id}\`.`);
    case "InvalidRentalStatus": {
      const status = RENTAL_STATUS[Number(args.status)] ?? "unknown";
      const verb = action === "end" ? "ended" : "cancelled";
      if (status === "pending") return plain(`Rental ${id} is still pending (its provider has not acknowledged it), so it cannot be ${verb}.`, `Cancel it for a full refund once the acknowledgement window closed: \`quackmesh rent cancel ${id}\`.`);
      if (status === "active") return plain(`Rental ${id} was acknowledged and is running, so it cannot be cancelled.`, `End it instead; the unserved part comes back: \`quackmesh rent end ${id}\`.`);
      return plain(`Rental ${id} is already ${status}; there is nothing left to ${action}.`, "See your rentals and their refunds with `quackmesh rent list`.");
    }
    case "NotRenter":
      return plain(`Rental ${id} was paid by another wallet, not ${args.caller}.`, "Run the command with the wallet that rented (--key FILE, --account NAME or QUACKMESH_PRIVATE_KEY).");
    case "UnknownRental":
      return plain(`There is no rental ${id} on this network.`, "See your rentals with `quackmesh rent list`.");
    default:
      return err;
  }
}

export interface MachineListing {
  machineId: bigint;
  provider: string;
  pricePerHour: bigint;
  maxHours: number;
  specsText: string;
  specs: MachineSpecs & { valid: boolean };
  endpoint: string;
  block: number;
}

/** A machine's service record on chain (ComputeMarketplace.getRecord). */
export interface MachineRecord {
  rentalsServed: number;
  rentalsMissed: number;
  downtimeSeconds: number;
  /** DUCK wei of stake paid to renters. */
  stakeLost: bigint;
}

export interface MarketMachine extends MachineListing {
  listed: boolean;
  activeRentalId: bigint;
  status: MachineStatus;
  /** DUCK wei staked on the machine now. */
  stake: bigint;
  record: MachineRecord;
  /** Unix seconds of the provider's latest valid liveness record; null for none, undefined when not read. */
  lastSeen?: number | null;
}

export interface RentalInfo {
  rentalId: bigint;
  machineId: bigint;
  renter: string;
  jobId: bigint;
  hours: number;
  amount: bigint;
  createdAt: number;
  startedAt: number;
  endedAt: number;
  withdrawn: bigint;
  status: RentalStatusName;
  /** When the paid time runs out (startedAt + hours × 3600); 0 while pending. */
  endsAt: number;
  /** Signer of the rental's downtime statement; the zero address when none. */
  arbiter: string;
  downtimeSeconds: number;
  settled: boolean;
}

/** Latest block's timestamp: the chain's clock (Hardhat's can be moved with evm_increaseTime). */
export async function chainNow(provider: Provider): Promise<number> {
  const block = await provider.getBlock("latest");
  return block ? block.timestamp : Math.floor(Date.now() / 1000);
}

const LOG_CHUNK = 10_000;

/** Events of one filter from `fromBlock` to `toBlock`, read in chunks (public RPCs cap ranges). */
export async function queryChunked(contract: Contract, event: string, args: unknown[], fromBlock: number, toBlock: number): Promise<EventLog[]> {
  const filter = contract.filters[event](...args);
  const out: EventLog[] = [];
  for (let start = fromBlock; start <= toBlock; start += LOG_CHUNK) {
    const end = Math.min(toBlock, start + LOG_CHUNK - 1);
    const logs: Array<EventLog | Log> = await contract.queryFilter(filter, start, end);
    for (const log of logs) if ("args" in log) out.push(log);
  }
  return out;
}

export function toListing(log: EventLog): MachineListing {
  const [machineId, provider, pricePerHour, maxHours, specsText, endpoint] = log.args as unknown as [bigint, string, bigint, bigint, string, string];
  return { machineId, provider, pricePerHour, maxHours: Number(maxHours), specsText, specs: parseSpecs(specsText), endpoint, block: log.blockNumber };
}

export async function getRentalInfo(marketplace: Contract, rentalId: bigint): Promise<RentalInfo> {
  let r: Record<string, unknown> & unknown[];
  try {
    r = await marketplace.getFunction("getRental")(rentalId);
  } catch (err) {
    throw describeRevert(err, marketplace, { method: "getRental", fixes: MARKET_FIXES });
  }
  const hours = Number(r.numHours);
  const startedAt = Number(r.startedAt);
  return {
    rentalId,
    machineId: r.machineId as bigint,
    renter: r.renter as string,
    jobId: r.jobId as bigint,
    hours,
    amount: r.amount as bigint,
    createdAt: Number(r.createdAt),
    startedAt,
    endedAt: Number(r.endedAt),
    withdrawn: r.withdrawn as bigint,
    status: RENTAL_STATUS[Number(r.status)] ?? "none",
    endsAt: startedAt === 0 ? 0 : startedAt + hours * 3600,
    arbiter: r.arbiter as string,
    downtimeSeconds: Number(r.downtimeSeconds),
    settled: Boolean(r.settled),
  };
}

/** True while a rental keeps its machine busy: pending inside the ack window, or active and not over. */
export function occupies(rental: RentalInfo, now: number, ackWindowSeconds: number): boolean {
  if (rental.status === "pending") return now <= rental.createdAt + ackWindowSeconds;
  if (rental.status === "active") return now < rental.endsAt;
  return false;
}

/**
 * Every machine ever listed since `fromBlock` (the deployment block), with its current state:
 * from MachineListed events plus getMachine / getRental, judged at the chain's clock.
 */
export async function readMarket(marketplace: Contract, provider: Provider, fromBlock: number): Promise<MarketMachine[]> {
  const latest = await provider.getBlockNumber();
  const [logs, now, ackWindow] = await Promise.all([
    queryChunked(marketplace, "MachineListed", [], fromBlock, latest),
    chainNow(provider),
    marketplace.getFunction("ackWindow")() as Promise<bigint>,
  ]);
  return Promise.all(
    latestListings(logs).map(async (listing) => {
      const [m, rec] = await Promise.all([
        marketplace.getFunction("getMachine")(listing.machineId),
        marketplace.getFunction("getRecord")(listing.machineId),
      ]);
      const record: MachineRecord = {
        rentalsServed: Number(rec.rentalsServed),
        rentalsMissed: Number(rec.rentalsMissed),
        downtimeSeconds: Number(rec.downtimeSeconds),
        stakeLost: rec.stakeLost as bigint,
      };
      const activeRentalId = m.activeRentalId as bigint;
      let busy = false;
      if (activeRentalId !== 0n) busy = occupies(await getRentalInfo(marketplace, activeRentalId), now, Number(ackWindow));
      const listed = Boolean(m.listed);
      const status: MachineStatus = !listed ? "unlisted" : busy ? "rented" : "available";
      // The price and limit on chain are authoritative; the event only carries what was listed.
      return { ...listing, pricePerHour: m.pricePerHour as bigint, maxHours: Number(m.maxHours), listed, activeRentalId, status, stake: m.stake as bigint, record };
    }),
  );
}

/** One listing per machine: a provider that restarts relists the same id, and its latest event (endpoint, specs) wins. */
export function latestListings(logs: EventLog[]): MachineListing[] {
  const byId = new Map<bigint, MachineListing>();
  for (const log of logs) {
    const listing = toListing(log);
    const seen = byId.get(listing.machineId);
    if (!seen || seen.block <= listing.block) byId.set(listing.machineId, listing);
  }
  return [...byId.values()].sort((a, b) => Number(a.machineId - b.machineId));
}

export interface MachineFilter {
  minCores?: number;
  gpu?: boolean;
  /** DUCK wei per hour. */
  maxPrice?: bigint;
  /** Only machines that accept a rental this long. */
  hours?: number;
  /** Include rented and unlisted machines too (market list --all). */
  all?: boolean;
  /** DUCK wei staked at least. */
  minStake?: bigint;
  /** At least this many rentals served. */
  minServed?: number;
  /** At most this many rentals never acknowledged. */
  maxMissed?: number;
  /** At most this many seconds of settled downtime. */
  maxDowntime?: number;
  sort?: MachineSort;
}

/** Orders of `market list --sort`: each puts the better machine first. */
export const MACHINE_SORTS = {
  price: (a: MarketMachine, b: MarketMachine) => cmp(a.pricePerHour, b.pricePerHour),
  stake: (a: MarketMachine, b: MarketMachine) => cmp(b.stake, a.stake),
  served: (a: MarketMachine, b: MarketMachine) => b.record.rentalsServed - a.record.rentalsServed,
  downtime: (a: MarketMachine, b: MarketMachine) => a.record.downtimeSeconds - b.record.downtimeSeconds,
  missed: (a: MarketMachine, b: MarketMachine) => a.record.rentalsMissed - b.record.rentalsMissed,
  lost: (a: MarketMachine, b: MarketMachine) => cmp(a.record.stakeLost, b.record.stakeLost),
  bench: (a: MarketMachine, b: MarketMachine) => (b.specs.bench ?? 0) - (a.specs.bench ?? 0),
} as const;
export type MachineSort = keyof typeof MACHINE_SORTS;

function cmp(a: bigint, b: bigint): number {
  return a === b ? 0 : a < b ? -1 : 1;
}

/** Machines matching the filter, by `sort` (cheapest first by default), then by price, then oldest. */
export function filterMachines(machines: MarketMachine[], f: MachineFilter): MarketMachine[] {
  const order = MACHINE_SORTS[f.sort ?? "price"];
  return machines
    .filter((m) => f.all || m.status === "available")
    .filter((m) => f.minCores === undefined || m.specs.cores >= f.minCores)
    .filter((m) => !f.gpu || m.specs.gpus.length > 0)
    .filter((m) => f.maxPrice === undefined || m.pricePerHour <= f.maxPrice)
    .filter((m) => f.hours === undefined || m.maxHours === 0 || f.hours <= m.maxHours)
    .filter((m) => f.minStake === undefined || m.stake >= f.minStake)
    .filter((m) => f.minServed === undefined || m.record.rentalsServed >= f.minServed)
    .filter((m) => f.maxMissed === undefined || m.record.rentalsMissed <= f.maxMissed)
    .filter((m) => f.maxDowntime === undefined || m.record.downtimeSeconds <= f.maxDowntime)
    .sort((a, b) => order(a, b) || MACHINE_SORTS.price(a, b) || Number(a.machineId - b.machineId));
}
