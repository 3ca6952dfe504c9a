/** Flags and output shared by `job create --cluster` and `rent --job ID --train DIR`. */
import type { Command } from "commander";
import type { ClusterReply } from "../../orchestrator/client.js";
import { QuackError } from "../../protocol/errors.js";
import type { Output } from "../lib/output.js";
import { formatAmount } from "../../protocol/chain/units.js";
import type { ClusterEvent } from "../lib/job/cluster.js";
import type { RentedMachine } from "../lib/market/renter.js";

/**
 * With --cluster: --hours and --train are required, the pool defaults to 1 DUCK (workers are
 * paid by rent; it comes back at `job finish`) and --min-updates to the cluster size. Without
 * it, the cluster-only flags are refused. Returns whether this is a cluster job.
 */
export function clusterDefaults(cmd: Command, flags: { cluster?: string; hours?: string; train?: string; maxPrice?: string; reward?: string; minUpdates?: string }): boolean {
  if (flags.cluster === undefined) {
    const stray = (["hours", "train", "maxPrice"] as const).filter((k) => flags[k] !== undefined);
    if (stray.length > 0) {
      throw new QuackError("BAD_ARGUMENT", `--${stray[0] === "maxPrice" ? "max-price" : stray[0]} applies only to a cluster job (--cluster N).`, { fix: "Add --cluster N --hours H --train DIR, or leave the cluster flags out." });
    }
    return false;
  }
  for (const [key, flag] of [["hours", "--hours"], ["train", "--train"]] as const) {
    if (flags[key] === undefined) throw new QuackError("MISSING_OPTION", `--cluster needs ${flag}.`, { fix: "e.g. --cluster 3 --hours 2 --train ./train" });
  }
  flags.reward ??= "1";
  if (cmd.getOptionValueSource("minUpdates") === "default") flags.minUpdates = flags.cluster;
  return true;
}

export function renderClusterEvent(out: Output, e: ClusterEvent): void {
  if (out.json) return out.emit({ ...e });
  switch (e.event) {
    case "matched":
      return out.info(`${e.matched} machine${e.matched === 1 ? "" : "s"} match; renting costs ${formatAmount(e.cost)} DUCK.`);
    case "approved":
      return out.info(`Approved the marketplace for ${formatAmount(e.amount)} DUCK (tx ${e.txHash}).`);
    case "rented":
      return out.info(`Rented machine ${e.rental.machineId} (rental ${e.rental.rentalId}) at ${e.rental.endpoint} for ${formatAmount(e.rental.amount)} DUCK.`);
    case "skipped":
      return out.info(`Machine ${e.machineId} was taken meanwhile (${e.reason}); trying the next.`);
    case "acknowledged":
      return out.info(`Acknowledged by the providers: ${e.acknowledged.length ? e.acknowledged.join(", ") : "none"}${e.pending.length ? `; still pending: ${e.pending.join(", ")}` : ""}. The orchestrator deploys the workers…`);
    case "deployed":
      return out.info(`Workers: ${e.machines.map((m) => `rental ${m.rentalId} ${m.status}`).join(", ") || "none yet"}.`);
  }
}

export function emitCluster(out: Output, jobId: number, rentals: RentedMachine[], cluster: ClusterReply, sshKey: string): void {
  const byRental = new Map(cluster.machines.map((m) => [String(m.rentalId), m]));
  const machines = rentals.map((r) => {
    const m = byRental.get(r.rentalId.toString());
    return {
      rentalId: r.rentalId.toString(),
      machineId: r.machineId.toString(),
      endpoint: r.endpoint,
      provider: r.provider,
      amount: formatAmount(r.amount),
      hours: r.hours,
      status: m?.status ?? "pending",
      workerAddress: m?.workerAddress ?? null,
      workerVersion: m?.workerVersion ?? null,
      shard: m?.shard ?? null,
      error: m?.error ?? null,
    };
  });
  const total = rentals.reduce((s, r) => s + r.amount, 0n);
  out.emit(
    { event: "cluster", jobId, sshKey, rent: formatAmount(total), machines },
    `Cluster of job ${jobId} (${formatAmount(total)} DUCK of rent escrowed, key ${sshKey}):\n` +
      machines
        .map((m) => `  rental ${m.rentalId}  machine ${m.machineId}  ${m.endpoint}  ${m.status}${m.shard === null ? "" : `  shard ${m.shard}`}${m.error ? `  ${m.error}` : ""}`)
        .join("\n") +
      `\nFollow it: quackmesh job watch ${jobId}; end a rental early for a refund: quackmesh rent end <rental>`,
  );
}

export function notAcknowledged(pending: bigint[]): QuackError {
  return new QuackError("NOT_ACKNOWLEDGED", `Rental${pending.length === 1 ? "" : "s"} ${pending.join(", ")} ${pending.length === 1 ? "was" : "were"} not acknowledged in time.`, {
    fix: `Wait longer (\`quackmesh rent list\`), or once the acknowledgement window closed get a full refund: ${pending.map((id) => `quackmesh rent cancel ${id}`).join("; ")}.`,
    details: { pending: pending.map(String) },
  });
}
