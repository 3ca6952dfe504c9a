import { Command } from "commander";
import { makeOutput } from "../lib/output.js";
import { addChainOptions, openChain, type ChainOptions } from "../lib/chain/options.js";
import { formatAmount } from "../../protocol/chain/units.js";
import { parsePrice, parseWhole } from "../lib/flags.js";
import { QuackError } from "../../protocol/errors.js";
import { orchestratorUrl } from "../lib/job/connect.js";
import { readLiveness, withLiveness } from "../lib/market/liveness.js";
import { parseAmount } from "../../protocol/chain/units.js";
import { MACHINE_SORTS, filterMachines, readMarket, type MachineSort, type MarketMachine } from "../lib/market/marketplace.js";

export function marketCommand(): Command {
  const market = new Command("market").description("machines offered on the compute marketplace");
  market.addCommand(listCommand());
  return market;
}

interface ListFlags extends ChainOptions {
  minCores?: string;
  gpu?: boolean;
  maxPrice?: string;
  available?: boolean;
  minStake?: string;
  minServed?: string;
  maxMissed?: string;
  maxDowntime?: string;
  sort: string;
  liveness: boolean;
  orchestrator?: string;
}

function listCommand(): Command {
  const cmd = new Command("list").description("list machines: id, provider, specs, price, status, stake and service record");
  return addChainOptions(cmd, { defaultAccount: "requester" })
    .option("--min-cores <n>", "only machines with at least this many CPU cores")
    .option("--gpu", "only machines with a GPU")
    .option("--max-price <duck>", "only machines at most this many DUCK per hour")
    .option("--available", "only machines that can be rented now")
    .option("--min-stake <duck>", "only machines with at least this much DUCK staked")
    .option("--min-served <n>", "only machines that served at least this many rentals")
    .option("--max-missed <n>", "only machines that left at most this many rentals unacknowledged")
    .option("--max-downtime <seconds>", "only machines with at most this much downtime on record")
    .option("--orchestrator <url>", "where providers' liveness records are read (env QUACKMESH_ORCHESTRATOR)")
    .option("--no-liveness", "do not read liveness records: free machines show as available")
    .option("--sort <key>", `order: ${Object.keys(MACHINE_SORTS).join(", ")} (best first)`, "price")
    .addHelpText(
      "after",
      `
Machines are read from the marketplace's MachineListed events and their current state on chain,
cheapest first. A machine is 'rented' while a rental is pending or running on it, and 'stale'
when it is free but its provider sent the orchestrator no signed sign of life in the last minute
(\`rent\` never pays for one). Each machine's
record is on chain: rentals served (acknowledged), rentals missed (never acknowledged: the renter
got everything back plus a quarter of the stake), downtime settled by renters' arbiters, and the
stake it lost. A provider with a second address can pad "served" with wash rentals; downtime,
misses and lost stake only grow (see contracts/README.md).

Examples:
  $ quackmesh market list
  $ quackmesh market list --gpu --max-price 10 --available --json
  $ quackmesh market list --sort served --min-stake 10 --max-missed 0`,
    )
    .action(async (flags: ListFlags) => {
      const out = makeOutput(Boolean(flags.json));
      const filter = {
        minCores: flags.minCores === undefined ? undefined : parseWhole(flags.minCores, "--min-cores", 0, 1_000_000),
        gpu: Boolean(flags.gpu),
        maxPrice: flags.maxPrice === undefined ? undefined : parsePrice(flags.maxPrice, "--max-price"),
        all: !flags.available,
        minStake: flags.minStake === undefined ? undefined : parseAmount(flags.minStake, "--min-stake"),
        minServed: flags.minServed === undefined ? undefined : parseWhole(flags.minServed, "--min-served", 0, 0xffffffff),
        maxMissed: flags.maxMissed === undefined ? undefined : parseWhole(flags.maxMissed, "--max-missed", 0, 0xffffffff),
        maxDowntime: flags.maxDowntime === undefined ? undefined : parseWhole(flags.maxDowntime, "--max-downtime", 0, Number.MAX_SAFE_INTEGER),
        sort: parseSort(flags.sort),
      };
      const ctx = await openChain(flags, { defaultAccount: "requester" });
      try {
        const contracts = await ctx.contracts();
        let all = await readMarket(contracts.marketplace, ctx.provider, contracts.deployment.block);
        let liveness: "checked" | "off" | "unknown" = "off";
        if (flags.liveness) {
          const target = { url: orchestratorUrl(flags), chainId: ctx.network.chainId, marketplace: contracts.deployment.contracts.ComputeMarketplace };
          try {
            all = withLiveness(all, await readLiveness(target, new Map(all.map((m) => [m.machineId, m.provider]))));
            liveness = "checked";
          } catch (err) {
            liveness = "unknown";
            out.info(`Liveness unknown: ${(err as Error).message}. Free machines show as available.`);
          }
        }
        const machines = filterMachines(all, filter);
        out.emit({ network: ctx.network.name, liveness, count: machines.length, machines: machines.map(machineJson) }, table(machines));
      } finally {
        ctx.close();
      }
    });
}

function parseSort(text: string): MachineSort {
  if (Object.hasOwn(MACHINE_SORTS, text)) return text as MachineSort;
  throw new QuackError("BAD_ARGUMENT", `--sort '${text}' is not one of ${Object.keys(MACHINE_SORTS).join(", ")}.`, { fix: "Pass e.g. --sort served." });
}

export function machineJson(m: MarketMachine): Record<string, unknown> {
  return {
    machineId: m.machineId.toString(),
    provider: m.provider,
    pricePerHour: formatAmount(m.pricePerHour),
    pricePerHourWei: m.pricePerHour.toString(),
    maxHours: m.maxHours,
    status: m.status,
    endpoint: m.endpoint,
    cores: m.specs.cores,
    ramMiB: m.specs.ramMiB,
    cpu: m.specs.cpu,
    gpus: m.specs.gpus,
    bench: m.specs.bench ?? null,
    hostKey: m.specs.hostKey ?? null,
    specsValid: m.specs.valid,
    activeRentalId: m.activeRentalId === 0n ? null : m.activeRentalId.toString(),
    lastSeen: m.lastSeen ?? null,
    stake: formatAmount(m.stake),
    record: {
      rentalsServed: m.record.rentalsServed,
      rentalsMissed: m.record.rentalsMissed,
      downtimeSeconds: m.record.downtimeSeconds,
      stakeLost: formatAmount(m.record.stakeLost),
    },
  };
}

function table(machines: MarketMachine[]): string {
  if (machines.length === 0) return "No machines match.";
  const rows = machines.map((m) => [
    m.machineId.toString(),
    formatAmount(m.pricePerHour),
    m.status,
    m.maxHours === 0 ? "-" : String(m.maxHours),
    String(m.specs.cores),
    `${(m.specs.ramMiB / 1024).toFixed(1)}G`,
    m.specs.gpus.length === 0 ? "-" : `${m.specs.gpus.length}× ${m.specs.gpus[0].name}`,
    m.specs.bench === undefined ? "-" : String(m.specs.bench),
    formatAmount(m.stake),
    `${m.record.rentalsServed}/${m.record.rentalsMissed}`,
    formatDowntime(m.record.downtimeSeconds),
    formatAmount(m.record.stakeLost),
    m.endpoint,
    m.provider,
  ]);
  const head = ["ID", "DUCK/H", "STATUS", "MAX H", "CORES", "RAM", "GPU", "BENCH", "STAKE", "SERVED/MISSED", "DOWN", "LOST", "ENDPOINT", "PROVIDER"];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  return [head, ...rows].map((r) => r.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd()).join("\n");
}

function formatDowntime(seconds: number): string {
  if (seconds === 0) return "0";
  return seconds < 3600 ? `${Math.round(seconds / 60)}m` : `${(seconds / 3600).toFixed(1)}h`;
}
