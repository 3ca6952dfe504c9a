import { parseDevice } from "../lib/flags.js";
import { Command } from "commander";
import { benchAggregate, benchTrain, type AggregateBenchResult, type TrainBenchResult } from "../../native/bench.js";
import { isNativeError } from "../../native/errors.js";
import { QuackError } from "../../protocol/errors.js";
import { makeOutput } from "../lib/output.js";
import { benchServeCommand } from "./bench/serve.js";

/** Each subcommand is one factory here; add another (e.g. `bench serve`, in its own file) with one entry. */
const subcommands: Array<() => Command> = [aggregateCommand, trainCommand, benchServeCommand];

export function benchCommand(): Command {
  const bench = new Command("bench").description("measure this machine: aggregation, training and orchestrator speed").addHelpText(
    "after",
    `
Examples:
  $ quackmesh bench aggregate --clients 10 --params 10000000
  $ quackmesh bench aggregate --device cuda --json
  $ quackmesh bench train --epochs 1 --batch 64 --lr 0.1
  $ quackmesh bench serve --clients 50 --params 100000`,
  );
  for (const make of subcommands) bench.addCommand(make());
  return bench;
}

/** Native errors become the product's error type, with a fix where one helps. */
function asQuackError(e: unknown): unknown {
  if (!isNativeError(e)) return e;
  const fix = e.code === "CUDA_UNAVAILABLE" ? "Use --device cpu or --device auto." : e.code === "ADDON_MISSING" ? "Run npm run build:native." : undefined;
  return new QuackError(e.code, e.message, { fix, details: e.argument ? { argument: e.argument } : undefined, cause: e });
}

function intOption(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < 1) throw new QuackError("BAD_ARGUMENT", `--${name} must be a positive integer, got ${JSON.stringify(v)}`);
    return n;
  };
}

function numberOption(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n)) throw new QuackError("BAD_ARGUMENT", `--${name} must be a number, got ${JSON.stringify(v)}`);
    return n;
  };
}

export function formatAggregate(r: AggregateBenchResult): string {
  const lines = [
    `FedAvg ${r.clients} × ${r.params.toLocaleString("en-US")} float32 on ${r.device} (${r.device === "cpu" ? `${r.threads} threads, ${r.simd}` : "GPU"})`,
    `  ${r.ms.toFixed(2)} ms median of ${r.runs} (best ${r.bestMs.toFixed(2)})   ${r.gbPerSec.toFixed(2)} GB/s (bytes read + written), output buffer reused`,
    `  ${r.freshMs.toFixed(2)} ms median with a fresh result per call (best ${r.freshBestMs.toFixed(2)})`,
  ];
  if (r.memcpyGbPerSec !== undefined) lines.push(`  memcpy on this machine ${r.memcpyGbPerSec.toFixed(2)} GB/s: FedAvg runs at ${r.percentOfMemcpy?.toFixed(0)}% of it`);
  if (r.residentMs !== undefined) lines.push(`  kernel with inputs resident on the GPU: ${r.residentMs.toFixed(3)} ms, ${r.residentGbPerSec?.toFixed(0)} GB/s`);
  return lines.join("\n");
}

export function formatTrain(r: TrainBenchResult): string {
  return [
    `MNIST MLP ${r.model}, ${r.epochs} epoch(s), batch ${r.batch}, lr ${r.lr} on ${r.device} (${r.device === "cpu" ? `${r.threads} threads, ${r.simd}` : "GPU"})`,
    `  ${r.ms.toFixed(0)} ms median of ${r.runs} (best ${r.bestMs.toFixed(0)})   ${Math.round(r.samplesPerSec).toLocaleString("en-US")} samples/s   ${r.gflops.toFixed(1)} GFLOP/s`,
    `  test accuracy ${(100 * r.testAccuracy).toFixed(2)}%   train loss ${r.trainLoss.toFixed(4)}`,
  ].join("\n");
}

function aggregateCommand(): Command {
  return new Command("aggregate")
    .description("FedAvg throughput: K client updates of N float32 averaged, median of several runs")
    .option("--clients <k>", "number of client updates", intOption("clients"), 10)
    .option("--params <n>", "parameters per update", intOption("params"), 10_000_000)
    .option("--runs <r>", "timed runs after a warm-up", intOption("runs"), 7)
    .option("--device <device>", "cpu, cuda or auto", (v: string) => parseDevice(v), "auto")
    .option("--json", "one JSON object")
    .action(async (flags: { clients: number; params: number; runs: number; device: "cpu" | "cuda" | "auto"; json?: boolean }) => {
      const out = makeOutput(Boolean(flags.json));
      try {
        const r = await benchAggregate(flags);
        out.emit({ ...r }, formatAggregate(r));
      } catch (e) {
        throw asQuackError(e);
      }
    });
}

function trainCommand(): Command {
  return new Command("train")
    .description("one MNIST training run (MLP 784-128-10), median of several runs, with test accuracy")
    .option("--epochs <n>", "epochs a run", intOption("epochs"), 1)
    .option("--batch <n>", "mini-batch size", intOption("batch"), 64)
    .option("--lr <x>", "learning rate", numberOption("lr"), 0.1)
    .option("--momentum <x>", "SGD momentum", numberOption("momentum"), 0)
    .option("--runs <r>", "timed runs after a warm-up", intOption("runs"), 3)
    .option("--device <device>", "cpu, cuda or auto", (v: string) => parseDevice(v), "auto")
    .option("--json", "one JSON object")
    .action(async (flags: { epochs: number; batch: number; lr: number; momentum: number; runs: number; device: "cpu" | "cuda" | "auto"; json?: boolean }) => {
      const out = makeOutput(Boolean(flags.json));
      try {
        const r = await benchTrain(flags);
        out.emit({ ...r }, formatTrain(r));
      } catch (e) {
        throw asQuackError(e);
      }
    });
}
