import type { Contract, Provider } from "ethers";
import { parseEndpoint } from "../../cli/lib/market/endpoint.js";
import { chainNow, getRentalInfo, queryChunked, toListing } from "../../cli/lib/market/marketplace.js";
import type { ClusterMachine } from "./manager.js";

/**
 * The machines rented for training job `jobId` that are still running (acknowledged and not
 * over), read from MachineRented events since `fromBlock` plus getRental, with each machine's
 * endpoint from its MachineListed event. Machines whose endpoint does not parse are left out
 * and returned in `skipped`.
 */
export async function clusterOfJob(
  marketplace: Contract,
  provider: Provider,
  fromBlock: number,
  jobId: bigint,
): Promise<{ machines: ClusterMachine[]; skipped: Array<{ rentalId: string; endpoint: string }> }> {
  const latest = await provider.getBlockNumber();
  const now = await chainNow(provider);
  const rented = (await queryChunked(marketplace, "MachineRented", [], fromBlock, latest)).filter((l) => (l.args.jobId as bigint) === jobId);
  const machines: ClusterMachine[] = [];
  const skipped: Array<{ rentalId: string; endpoint: string }> = [];
  for (const log of rented) {
    const rentalId = log.args.rentalId as bigint;
    const info = await getRentalInfo(marketplace, rentalId);
    if (info.status !== "active" || now >= info.endsAt) continue;
    const [listed] = await queryChunked(marketplace, "MachineListed", [info.machineId], fromBlock, latest);
    if (!listed) continue;
    const listing = toListing(listed);
    try {
      const ep = parseEndpoint(listing.endpoint, "The listed endpoint");
      machines.push({ rentalId, machineId: info.machineId, host: ep.host, port: ep.port, provider: listing.provider, ...(ep.user ? { username: ep.user } : {}) });
    } catch {
      skipped.push({ rentalId: rentalId.toString(), endpoint: listing.endpoint });
    }
  }
  return { machines, skipped };
}
