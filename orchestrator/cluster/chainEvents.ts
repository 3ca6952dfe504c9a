/**
 * ComputeMarketplace events → the store. Listings are kept so a rental's endpoint is known; a
 * rental that names a job becomes a row of that job's cluster (whether or not the job is known
 * yet: the orchestrator may see the rental before it activated the job); acknowledgements,
 * ends and cancellations move the row on. Returns what the cluster service should do next.
 */
import { getAddress } from "ethers";
import { parseEndpoint } from "../../protocol/market/endpoint.js";
import { parseSpecs } from "../../protocol/market/specs.js";
import { parsePublicKey } from "../../protocol/market/sshKeys.js";
import type { ChainEventRecord, Repository } from "../store/repository.js";

export const MARKET_EVENTS = ["MachineListed", "MachineRented", "RentalAcknowledged", "RentalEnded", "RentalCancelled"] as const;

export type MarketAction =
  | { kind: "none"; note: string }
  | { kind: "deploy"; jobId: number; note: string }
  | { kind: "ended"; jobId: number; rentalId: number; note: string };

/** Ids on chain are uint256; the store keeps safe integers. Larger ones cannot be ours. */
function safeId(v: string | number | boolean | undefined): number | null {
  const n = Number(v);
  return Number.isSafeInteger(n) && n >= 0 ? n : null;
}

export async function applyMarketEvent(repo: Repository, ev: ChainEventRecord, now: number): Promise<MarketAction> {
  const a = ev.args;
  switch (ev.name) {
    case "MachineListed": {
      const machineId = safeId(a.machineId);
      if (machineId === null) return { kind: "none", note: "machine id out of range" };
      await repo.saveMarketMachine({
        machineId,
        provider: getAddress(String(a.provider)),
        endpoint: String(a.endpoint),
        specs: String(a.specs),
        pricePerHour: String(a.pricePerHour),
        block: ev.blockNumber,
      });
      return { kind: "none", note: "listing stored" };
    }
    case "MachineRented": {
      const [jobId, machineId, rentalId] = [safeId(a.jobId), safeId(a.machineId), safeId(a.rentalId)];
      if (!jobId) return { kind: "none", note: "rental for no job" };
      if (machineId === null || rentalId === null) return { kind: "none", note: "id out of range" };
      const listing = await repo.getMarketMachine(machineId);
      if (!listing) return { kind: "none", note: `machine ${machineId} was never listed` };
      let keyFingerprint: string | null = null;
      try {
        keyFingerprint = parsePublicKey(String(a.sshPublicKey)).fingerprint;
      } catch {
        // A malformed key: the provider refuses it too; the row shows the rental without a key.
      }
      const row = {
        jobId,
        machineId,
        rentalId,
        provider: listing.provider,
        renter: getAddress(String(a.renter)),
        keyFingerprint,
        hostKey: parseSpecs(listing.specs).hostKey ?? null,
        status: "pending",
        updatedAt: now,
        workerAddress: null,
        workerVersion: null,
        shard: null,
        lastHeartbeat: null,
        error: null as string | null,
      };
      try {
        const ep = parseEndpoint(listing.endpoint, "The listed endpoint");
        await repo.upsertClusterMachine({ ...row, host: ep.host, port: ep.port, username: ep.user ?? null });
      } catch (err) {
        await repo.upsertClusterMachine({ ...row, host: listing.endpoint, port: 0, username: null, status: "failed", error: `BAD_ENDPOINT: ${(err as Error).message}` });
      }
      return { kind: "none", note: `rental ${rentalId} joins job ${jobId}'s cluster` };
    }
    case "RentalAcknowledged": {
      const m = await repo.findClusterMachineByRental(Number(a.rentalId));
      if (!m) return { kind: "none", note: "not a cluster rental" };
      if (m.status === "pending") await repo.updateClusterMachine(m.jobId, m.machineId, { status: "acknowledged", updatedAt: now });
      return { kind: "deploy", jobId: m.jobId, note: `rental ${m.rentalId} acknowledged` };
    }
    case "RentalEnded":
    case "RentalCancelled": {
      const m = await repo.findClusterMachineByRental(Number(a.rentalId));
      if (!m) return { kind: "none", note: "not a cluster rental" };
      await repo.updateClusterMachine(m.jobId, m.machineId, { status: "ended", updatedAt: now });
      return { kind: "ended", jobId: m.jobId, rentalId: m.rentalId!, note: `rental ${m.rentalId} ${ev.name === "RentalEnded" ? "ended" : "cancelled"}` };
    }
    default:
      return { kind: "none", note: "recorded" };
  }
}
