/**
 * A cluster job's rentals follow the job: when it finishes or is aborted, its requester's
 * rentals tagged with the job id are ended for the refund of the unserved time, and their
 * arbiter's downtime statement settled (the `rent end` path, one rental at a time). Rentals that
 * cannot be ended yet (not acknowledged) are reported, so the command can say what keeps running.
 */
import type { Contract, Provider } from "ethers";
import { isQuackError } from "../../../protocol/errors.js";
import { endRental, listRentals, settleDowntime, type DowntimeSettlement } from "../market/renter.js";

export interface EndedRental {
  rentalId: string;
  refund: bigint;
  earned: bigint;
  txHash: string;
  /** The arbiter's downtime statement, settled right after the end (none when the rental names no arbiter). */
  downtime?: DowntimeSettlement;
  /** Why settling it failed (the end stands; `quackmesh rent settle ID` within the dispute window). */
  settleError?: string;
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

/**
 * End every active rental `renter` made for `jobId`, settling each one's downtime with the
 * statement of the orchestrator at `deps.orchestrator` (when given); pending ones (not
 * acknowledged) are listed as running.
 */
export async function endJobRentals(deps: { marketplace: Contract; provider: Provider; renter: string; fromBlock: number; orchestrator?: string }, jobId: number): Promise<JobRentals> {
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
    try {
      const e = await endRental(deps.marketplace, r.rentalId);
      const done: EndedRental = { rentalId, refund: e.refund, earned: e.earned, txHash: e.txHash };
      if (deps.orchestrator) {
        try {
          const downtime = await settleDowntime(deps.marketplace, r.rentalId, deps.orchestrator);
          if (downtime) done.downtime = downtime;
        } catch (err) {
          if (!isQuackError(err)) throw err;
          done.settleError = `${err.message} (\`quackmesh rent settle ${rentalId}\` within the dispute window)`;
        }
      }
      ended.push(done);
    } catch (err) {
      if (!isQuackError(err)) throw err;
      running.push({ rentalId, status: r.status, reason: `${err.message} (end it with \`quackmesh rent end ${rentalId}\`)` });
    }
  }
  return { ended, running };
}
