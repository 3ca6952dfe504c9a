/**
 * A cluster job's rentals follow the job: when it finishes, is aborted or cancelled, its
 * requester's rentals tagged with the job id are ended for the refund of the unserved time, and
 * their arbiter's downtime statement settled (the `rent end` path, one rental at a time). Rentals
 * that cannot be ended yet (not acknowledged) are reported, so the command can say what keeps
 * running; rentals whose statement could not be had are reported with the command that settles
 * them later and the time it must run by.
 */
import type { Contract, Provider } from "ethers";
import { isQuackError } from "../../../protocol/errors.js";
import { getRentalInfo } from "../market/marketplace.js";
import { endRental, listRentals, settleDowntime, type DowntimeSettlement } from "../market/renter.js";

export interface EndedRental {
  rentalId: string;
  refund: bigint;
  earned: bigint;
  txHash: string;
  /** The arbiter's downtime statement, settled right after the end (none when the rental names no arbiter). */
  downtime?: DowntimeSettlement;
  /** Set when settling failed: the end stands, and `settleCommand` settles it later. */
  unsettled?: Unsettled;
}

/** Why a rental's downtime statement could not be settled, and until when it still can be. */
export interface Unsettled {
  /** The error's code (ORCHESTRATOR_UNREACHABLE, NOT_ARBITER, …). */
  code: string;
  reason: string;
  /** Unix seconds: the marketplace takes the statement until then (the rental's end + its dispute window). */
  settleBy: number;
}

/** A rental of the job that is still running or waiting, and what to do about it. */
export interface RunningRental {
  rentalId: string;
  status: string;
  reason: string;
}

export interface JobRentals {
  ended: EndedRental[];
  running: RunningRental[];
}

/** The command that settles `rentalIds` later with the statement of the orchestrator at `url`. */
export function settleCommand(rentalIds: string[], url: string): string {
  return `quackmesh rent settle ${rentalIds.join(" ")} --orchestrator ${url}`;
}

/**
 * End every active rental `renter` made for `jobId`, settling each one's downtime with the
 * statement of the orchestrator at `deps.orchestrator`; pending ones (not acknowledged) are
 * listed as running.
 */
export async function endJobRentals(deps: { marketplace: Contract; provider: Provider; renter: string; fromBlock: number; orchestrator: string }, jobId: number): Promise<JobRentals> {
  const mine = (await listRentals(deps.marketplace, deps.provider, deps.renter, deps.fromBlock)).filter((r) => r.jobId === BigInt(jobId));
  const ended: EndedRental[] = [];
  const running: RunningRental[] = [];
  for (const r of mine.sort((a, b) => Number(a.rentalId - b.rentalId))) {
    const rentalId = String(r.rentalId);
    if (r.status === "pending") {
      running.push({ rentalId, status: r.status, reason: `not acknowledged by its provider; \`quackmesh rent cancel ${rentalId}\` refunds it once the acknowledgement window closed` });
      continue;
    }
    if (r.status !== "active") continue;
    let e: Awaited<ReturnType<typeof endRental>>;
    try {
      e = await endRental(deps.marketplace, r.rentalId);
    } catch (err) {
      if (!isQuackError(err)) throw err;
      running.push({ rentalId, status: r.status, reason: `${err.message} (end it with \`quackmesh rent end ${rentalId}\`)` });
      continue;
    }
    ended.push({ rentalId, refund: e.refund, earned: e.earned, txHash: e.txHash, ...(await settle(deps.marketplace, r.rentalId, deps.orchestrator)) });
  }
  return { ended, running };
}

/** Settle an ended rental's downtime; a refusal or an unreachable orchestrator is reported, not thrown (the end stands). */
async function settle(marketplace: Contract, rentalId: bigint, orchestrator: string): Promise<Pick<EndedRental, "downtime" | "unsettled">> {
  try {
    const downtime = await settleDowntime(marketplace, rentalId, orchestrator);
    return downtime ? { downtime } : {};
  } catch (err) {
    if (!isQuackError(err)) throw err;
    const settleBy = (await getRentalInfo(marketplace, rentalId)).endedAt + Number(await marketplace.getFunction("disputeWindow")());
    return { unsettled: { code: err.code, reason: err.message, settleBy } };
  }
}
