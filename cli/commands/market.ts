import { Command } from "commander";
import { makeOutput } from "../lib/output.js";
import { addChainOptions, openChain, type ChainOptions } from "../lib/chain/options.js";
import { formatAmount } from "../../protocol/chain/units.js";
import { parsePrice, parseWhole } from "../lib/flags.js";
import { filterMachines, readMarket, type MarketMachine } from "../lib/market/marketplace.js";

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
}

function listCommand(): Command {
  const cmd = new Command("list").description("list machines: id, provider, specs, price, status (available / rented / unlisted)");
  return addChainOptions(cmd, { defaultAccount: "requester" })
    .option("--min-cores <n>", "only machines with at least this many CPU cores")
    .option("--gpu", "only machines with a GPU")
    .option("--max-price <duck>", "only machines at most this many DUCK per hour")
    .option("--available", "only machines that can be rented now")
    .addHelpText(
      "after",
      `
Machines are read from the marketplace's MachineListed events and their current state on chain,
cheapest first. A machine is 'rented' while a rental is pending or running on it.

Examples:
  $ quackmesh market list
  $ quackmesh market list --gpu --max-price 10 --available --json`,
    )
    .action(async (flags: ListFlags) => {
      const out = makeOutput(Boolean(flags.json));
      const filter = {
        minCores: flags.minCores === undefined ? undefined : parseWhole(flags.minCores, "--min-cores", 0, 1_000_000),
        gpu: Boolean(flags.gpu),
        maxPrice: flags.maxPrice === undefined ? undefined : parsePrice(flags.maxPrice, "--max-price"),
        all: !flags.available,
      };
      const ctx = await openChain(flags, { defaultAccount: "requester" });
      try {
        const contracts = await ctx.contracts();
        const machines = filterMachines(await readMarket(contracts.marketplace, ctx.provider, contracts.deployment.block), filter);
        out.emit({ network: ctx.network.name, count: machines.length, machines: machines.map(machineJson) }, table(machines));
      } finally {
        ctx.close();
      }
    });
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
    m.endpoint,
    m.provider,
  ]);
  const head = ["ID", "DUCK/H", "STATUS", "MAX H", "CORES", "RAM", "GPU", "BENCH", "ENDPOINT", "PROVIDER"];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  return [head, ...rows].map((r) => r.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd()).join("\n");
}
