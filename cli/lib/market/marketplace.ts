import type { Contract, EventLog, Log, Provider } from "ethers";
import { describeRevert } from "../../../protocol/chain/revert.js";
import { parseSpecs, type MachineSpecs } from "../../../protocol/market/specs.js";

/** Rental status as the contract's enum numbers it. */
export const RENTAL_STATUS = ["none", "pending", "active", "ended", "cancelled"] as const;
export type RentalStatusName = (typeof RENTAL_STATUS)[number];

export type MachineStatus = "available" | "rented" | "unlisted";

/** What people can do about the marketplace's custom errors (describeRevert fixes). */
export const MARKET_FIXES: Record<string, string> = {
  MachineBusy: "Pick another machine (`quackmesh market list`), or wait until its rental is over.",
  MachineNotListed: "The provider unlisted it; pick another machine (`quackmesh market list`).",
  InvalidHours: "Rent for fewer hours: at most the machine's maxHours (`quackmesh market list` shows it).",
  InsufficientEscrow: "Get more DUCK or approve the marketplace for the rent (on the local chain: `quackmesh wallet faucet`).",
  UnknownMachine: "Check the machine id with `quackmesh market list`.",
  UnknownRental: "Check the rental id with `quackmesh rent list`.",
  NotRenter: "Only the wallet that rented can do this; pass its --key.",
  NotProvider: "Only the wallet that listed the machine can do this; pass its --key.",
  AckWindowOpen: "The provider may still acknowledge; cancel after the window closes (details.args.deadline).",
  AckWindowClosed: "The renter may now cancel this rental for a full refund.",
  InvalidRentalStatus: "Check the rental's status with `quackmesh rent list`.",
  NothingToWithdraw: "Everything earned so far was already withdrawn.",
};

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

export interface MarketMachine extends MachineListing {
  listed: boolean;
  activeRentalId: bigint;
  status: MachineStatus;
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
    logs.map(async (log) => {
      const listing = toListing(log);
      const m = await marketplace.getFunction("getMachine")(listing.machineId);
      const activeRentalId = m.activeRentalId as bigint;
      let busy = false;
      if (activeRentalId !== 0n) busy = occupies(await getRentalInfo(marketplace, activeRentalId), now, Number(ackWindow));
      const listed = Boolean(m.listed);
      const status: MachineStatus = !listed ? "unlisted" : busy ? "rented" : "available";
      // The price and limit on chain are authoritative; the event only carries what was listed.
      return { ...listing, pricePerHour: m.pricePerHour as bigint, maxHours: Number(m.maxHours), listed, activeRentalId, status };
    }),
  );
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
}

/** Machines matching the filter, cheapest first (then oldest). */
export function filterMachines(machines: MarketMachine[], f: MachineFilter): MarketMachine[] {
  return machines
    .filter((m) => f.all || m.status === "available")
    .filter((m) => f.minCores === undefined || m.specs.cores >= f.minCores)
    .filter((m) => !f.gpu || m.specs.gpus.length > 0)
    .filter((m) => f.maxPrice === undefined || m.pricePerHour <= f.maxPrice)
    .filter((m) => f.hours === undefined || m.maxHours === 0 || f.hours <= m.maxHours)
    .sort((a, b) => (a.pricePerHour === b.pricePerHour ? Number(a.machineId - b.machineId) : a.pricePerHour < b.pricePerHour ? -1 : 1));
}
