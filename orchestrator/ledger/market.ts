/**
 * The marketplace as its events tell it: listings and rentals folded from ComputeMarketplace
 * events in chain order. Pure: the routes read the events from the store and call this.
 */
import { parseSpecs } from "../../protocol/market/specs.js";
import type { ChainEventRecord } from "../store/repository.js";

export type RentalStatus = "pending" | "active" | "expired" | "ended" | "cancelled";

export interface RentalView {
  rentalId: number;
  machineId: number;
  provider: string;
  renter: string;
  jobId: number;
  hours: number;
  /** DUCK wei, decimal strings. */
  escrow: string;
  /** Earned by the provider: final once ended, accrued so far while active. */
  earned: string;
  refunded: string;
  /** pending: not acknowledged yet; expired: its hours are served, nobody ended it yet. */
  status: RentalStatus;
  /** Chain seconds of the acknowledgement, null before. */
  startedAt: number | null;
  blockNumber: number;
  txHash: string;
}

export interface ListingView {
  machineId: number;
  provider: string;
  pricePerHour: string;
  maxHours: number;
  endpoint: string;
  cores: number;
  ramMiB: number;
  gpus: Array<{ name: string; memoryMiB: number }>;
  bench: number | null;
  cpu: string;
  /** false when the specs string did not parse as a machine description. */
  specsValid: boolean;
  status: "free" | "rented" | "unlisted";
  rentalsServed: number;
  /** DUCK wei earned over all its rentals (accrued so far for running ones). */
  earned: string;
  /** DUCK wei staked now, and taken from the stake for renters so far (the on-chain record's stakeLost). */
  stake: string;
  stakeLost: string;
  /** Seconds of downtime settled by arbiters' statements (the on-chain record's downtimeSeconds). */
  downtimeSeconds: number;
  blockNumber: number;
  txHash: string;
}

/** A machine's stake and record, kept apart from its listing: a relist (same id) keeps them. */
interface MachineAccount {
  stake: bigint;
  stakeLost: bigint;
  downtimeSeconds: number;
}

const str = (v: unknown) => String(v ?? "");
const int = (v: unknown) => Number(v ?? 0);

/** What a running rental has earned at `nowSec`: the contract's rule, amount × elapsed / duration. */
function accrued(escrow: bigint, startedAt: number, hours: number, nowSec: number): bigint {
  const duration = BigInt(hours) * 3600n;
  if (duration === 0n) return 0n;
  const elapsed = BigInt(Math.max(0, Math.min(nowSec - startedAt, Number(duration))));
  return (escrow * elapsed) / duration;
}

/** Fold ComputeMarketplace events (oldest first) into listings and rentals, newest first. */
export function foldMarket(events: ChainEventRecord[], nowSec: number): { listings: ListingView[]; rentals: RentalView[] } {
  const listings = new Map<number, ListingView>();
  const rentals = new Map<number, RentalView>();
  const accounts = new Map<number, MachineAccount>();
  const account = (machineId: number): MachineAccount => {
    let acc = accounts.get(machineId);
    if (!acc) accounts.set(machineId, (acc = { stake: 0n, stakeLost: 0n, downtimeSeconds: 0 }));
    return acc;
  };
  for (const e of events) {
    const a = e.args;
    switch (e.name) {
      case "MachineListed": {
        const specs = parseSpecs(str(a.specs));
        listings.set(int(a.machineId), {
          machineId: int(a.machineId),
          provider: str(a.provider),
          pricePerHour: str(a.pricePerHour),
          maxHours: int(a.maxHours),
          endpoint: str(a.endpoint),
          cores: specs.cores,
          ramMiB: specs.ramMiB,
          gpus: specs.gpus,
          bench: specs.bench ?? null,
          cpu: specs.cpu,
          specsValid: specs.valid,
          status: "free",
          rentalsServed: 0,
          earned: "0",
          stake: "0",
          stakeLost: "0",
          downtimeSeconds: 0,
          blockNumber: e.blockNumber,
          txHash: e.txHash,
        });
        break;
      }
      case "MachineUnlisted": {
        const l = listings.get(int(a.machineId));
        if (l) l.status = "unlisted";
        break;
      }
      case "MachineRented":
        rentals.set(int(a.rentalId), {
          rentalId: int(a.rentalId),
          machineId: int(a.machineId),
          provider: listings.get(int(a.machineId))?.provider ?? "",
          renter: str(a.renter),
          jobId: int(a.jobId),
          hours: int(a.numHours),
          escrow: str(a.amount),
          earned: "0",
          refunded: "0",
          status: "pending",
          startedAt: null,
          blockNumber: e.blockNumber,
          txHash: e.txHash,
        });
        break;
      case "RentalAcknowledged": {
        const r = rentals.get(int(a.rentalId));
        if (r) Object.assign(r, { status: "active", startedAt: int(a.startedAt) });
        break;
      }
      case "RentalCancelled": {
        const r = rentals.get(int(a.rentalId));
        if (r) Object.assign(r, { status: "cancelled", refunded: str(a.refund) });
        break;
      }
      case "RentalEnded": {
        const r = rentals.get(int(a.rentalId));
        if (r) Object.assign(r, { status: "ended", refunded: str(a.refund), earned: str(a.earned) });
        break;
      }
      case "StakeDeposited":
        account(int(a.machineId)).stake = BigInt(str(a.stake) || "0");
        break;
      case "StakeWithdrawn":
        account(int(a.machineId)).stake = 0n;
        break;
      case "StakeSlashed": {
        const acc = account(int(a.machineId));
        const taken = BigInt(str(a.amount) || "0");
        acc.stake = acc.stake > taken ? acc.stake - taken : 0n;
        acc.stakeLost += taken;
        break;
      }
      case "DowntimeSettled": {
        const r = rentals.get(int(a.rentalId));
        if (r) account(r.machineId).downtimeSeconds += int(a.downtimeSeconds);
        break;
      }
    }
  }
  for (const [machineId, acc] of accounts) {
    const l = listings.get(machineId);
    if (l) Object.assign(l, { stake: acc.stake.toString(), stakeLost: acc.stakeLost.toString(), downtimeSeconds: acc.downtimeSeconds });
  }
  for (const r of rentals.values()) {
    if (r.status === "active" && r.startedAt !== null) {
      r.earned = accrued(BigInt(r.escrow), r.startedAt, r.hours, nowSec).toString();
      if (nowSec >= r.startedAt + r.hours * 3600) r.status = "expired";
    }
    const l = listings.get(r.machineId);
    if (!l) continue;
    if (r.status !== "cancelled") l.rentalsServed++;
    l.earned = (BigInt(l.earned) + BigInt(r.earned)).toString();
    if ((r.status === "pending" || r.status === "active") && l.status === "free") l.status = "rented";
  }
  const newest = <T extends { blockNumber: number }>(m: Map<number, T>) => [...m.values()].reverse();
  return { listings: newest(listings), rentals: newest(rentals) };
}
