// The issue's federated accuracy targets, offline: non-IID contributors (Dirichlet α split of the
// training set, the splitter's plan), the MNIST CNN, R rounds of local epochs from the global
// model, FedAvg weighted by samples (optionally FedProx's proximal term μ in the local training,
// and server momentum on the averaged step); the global model's test accuracy after every round,
// and the first round that reaches --target. No chain or orchestrator: this measures what the
// model, the split and the training settings allow, in minutes on a CPU or seconds on a GPU.
//   npx tsx scripts/federated-cnn.ts [--dataset mnist|fashion-mnist] [--alpha 0.5] [--clients 3]
//     [--rounds 5] [--epochs 1] [--mu 0] [--target 0.97] [--per-client N] [--model issue|demo]
//     [--device cpu|cuda|auto] [--optimizer sgd|adam|adamw] [--lr X] [--lr-decay X] [--batch N] [--momentum X]
//     [--nesterov] [--weight-decay X] [--normalize dataset|mnist|none] [--server-lr X]
//     [--server-momentum X] [--seed 1]
// Training settings left out take DEFAULTS below (the settings that met the issue's targets; another
// --optimizer brings torch's lr, momentum and decay for it, not the default optimizer's). Any value may be a comma list: every combination runs, the data loaded once,
// and a table over the seeds of each setting ends the output (a search in one command):
//   npx tsx scripts/federated-cnn.ts --dataset fashion-mnist --device cuda --lr 0.0005,0.001 --seed 1,2,3
// Prints one line per round and a JSON line per run.
import { parseArgs } from "node:util";
import { fedAvg, Network } from "../native/index.js";
import { loadImageSet, subset, IMAGE_SETS, type ImageSetName } from "../native/data.js";
import { ISSUE_CNN_SPEC } from "./bench/cnn-spec.js";
import { planSplit } from "../cli/lib/data/splitMnist.js";
import { demoSpec } from "../cli/lib/demo/model.js";
import type { Dataset, ModelSpec, Tensor } from "../native/types.js";

/** What the local training and the server do; every field a flag of the same name. */
interface Settings {
  optimizer: "sgd" | "adam" | "adamw";
  lr: number;
  /** the local learning rate of round r (from 0) is lr · lrDecay^r: later rounds drift less */
  lrDecay: number;
  batch: number;
  momentum: number;
  nesterov: boolean;
  weightDecay: number;
  /** dataset: the set's own pixel mean and std; mnist: MNIST's on any set; none: pixels in [0, 1] */
  normalize: "dataset" | "mnist" | "none";
  /** FedAvgM: global += serverLr · v, v = serverMomentum · v + (average − global); 1 and 0 are FedAvg */
  serverLr: number;
  serverMomentum: number;
}

/** Each set's pixel mean and std over its training images (the values torchvision's recipes use). */
const PIXEL_STATS: Record<ImageSetName, { mean: number; std: number }> = {
  mnist: { mean: 0.1307, std: 0.3081 },
  "fashion-mnist": { mean: 0.286, std: 0.353 },
};

/**
 * The settings the issue's 5-round targets were met with, found by a search on an H200
 * (native/PERF.md): Fashion-MNIST 90.05 % (mean of seeds 1-5; 85.9 % with the SGD settings the
 * MNIST figure was first taken with), MNIST 99.02 % (seeds 1-3).
 */
const DEFAULTS: Settings = {
  optimizer: "adam", lr: 0.002, lrDecay: 0.7, batch: 16, momentum: 0, nesterov: false, weightDecay: 0,
  normalize: "dataset", serverLr: 1, serverMomentum: 0.3,
};

const HELP = `usage: npx tsx scripts/federated-cnn.ts [options]   (any value may be a comma list: a grid)
  --dataset mnist|fashion-mnist   --alpha 0.5   --clients 3   --rounds 5   --epochs 1   --target 0.97
  --per-client N   --model issue|demo   --device cpu|cuda|auto (default auto)   --seed 1
  --optimizer sgd|adam|adamw   --lr X   --lr-decay X (a round)   --batch N   --momentum X (SGD)   --nesterov   --weight-decay X
  --mu X (FedProx)   --normalize dataset|mnist|none   --server-lr X   --server-momentum X (FedAvgM)
examples:
  npx tsx scripts/federated-cnn.ts --dataset fashion-mnist --device cuda --seed 1,2,3,4,5
  npx tsx scripts/federated-cnn.ts --alpha 0.1 --rounds 10 --target 0.97 --mu 0,0.001,0.01,0.1 --seed 1,2,3
  (the first settings searched, SGD: --optimizer sgd --batch 64 --lr-decay 1 --server-momentum 0)`;

const NUMBERS = ["alpha", "clients", "rounds", "epochs", "mu", "target", "per-client", "seed", "lr", "lr-decay", "batch", "momentum", "weight-decay", "server-lr", "server-momentum"] as const;
const WORDS = { dataset: IMAGE_SETS, model: ["issue", "demo"], device: ["cpu", "cuda", "auto"], optimizer: ["sgd", "adam", "adamw"], normalize: ["dataset", "mnist", "none"] } as const;
type Run = Record<(typeof NUMBERS)[number], number | undefined> & { [K in keyof typeof WORDS]: (typeof WORDS)[K][number] } & { nesterov: boolean };

class UsageError extends Error {}

function parseRuns(argv: string[]): Run[] {
  const { values } = parseArgs({
    args: argv,
    options: {
      ...Object.fromEntries([...NUMBERS, ...Object.keys(WORDS)].map((k) => [k, { type: "string" as const }])),
      nesterov: { type: "boolean" }, help: { type: "boolean" },
    },
  });
  if (values.help) {
    console.log(HELP);
    process.exit(0);
  }
  const { nesterov: _n, help: _h, ...strings } = values;
  const given: Record<string, string | undefined> = { dataset: "mnist", alpha: "0.5", clients: "3", rounds: "5", epochs: "1", mu: "0", target: "0.97", model: "issue", device: "auto", seed: "1", ...(strings as Record<string, string | undefined>) };
  const axes: [string, (string | number | undefined)[]][] = [];
  for (const k of NUMBERS) {
    const list = given[k] === undefined ? [undefined] : given[k]!.split(",").map((s) => {
      const n = Number(s);
      if (s.trim() === "" || !Number.isFinite(n)) throw new UsageError(`--${k} ${JSON.stringify(s)} is not a number\nfix: e.g. --${k} 0.5, or a comma list --${k} 0.1,0.5`);
      return n;
    });
    axes.push([k, list]);
  }
  for (const [k, allowed] of Object.entries(WORDS)) {
    const list = given[k] === undefined ? [undefined] : given[k]!.split(",");
    for (const w of list) if (w !== undefined && !(allowed as readonly string[]).includes(w)) throw new UsageError(`--${k} ${JSON.stringify(w)} is not one of ${allowed.join(", ")}\nfix: e.g. --${k} ${allowed[0]}`);
    axes.push([k, list]);
  }
  const runs = axes.reduce<Record<string, unknown>[]>((acc, [k, list]) => acc.flatMap((r) => list.map((x) => ({ ...r, [k]: x }))), [{}]);
  return runs.map((r) => ({ ...r, nesterov: values.nesterov === true }) as Run);
}

/** The run's settings: its flags over the dataset's defaults, checked. */
function settingsOf(run: Run): Settings {
  const d = DEFAULTS;
  const optimizer = run.optimizer ?? d.optimizer;
  // Another optimizer than the default's does not inherit its momentum and decay, but torch's defaults.
  const own = optimizer === d.optimizer;
  const s: Settings = {
    optimizer, lr: run.lr ?? (own ? d.lr : optimizer === "sgd" ? 0.05 : 0.001), lrDecay: run["lr-decay"] ?? d.lrDecay, batch: run.batch ?? d.batch,
    momentum: run.momentum ?? (own ? d.momentum : optimizer === "sgd" ? 0.9 : 0), nesterov: run.nesterov || (own && d.nesterov),
    weightDecay: run["weight-decay"] ?? (own ? d.weightDecay : optimizer === "adamw" ? 0.01 : 0), normalize: run.normalize ?? d.normalize,
    serverLr: run["server-lr"] ?? d.serverLr, serverMomentum: run["server-momentum"] ?? d.serverMomentum,
  };
  if (!(s.lrDecay > 0 && s.lrDecay <= 1)) throw new UsageError("--lr-decay must be in (0, 1]\nfix: e.g. --lr-decay 0.7 (each round's learning rate 0.7 times the last's), or 1 for none");
  if (!(s.serverLr > 0) || !(s.serverMomentum >= 0 && s.serverMomentum < 1)) throw new UsageError("--server-lr must be > 0 and --server-momentum in [0, 1)\nfix: e.g. --server-lr 1 --server-momentum 0.5");
  return s;
}

function specOf(run: Run, s: Settings): ModelSpec {
  const base = run.model === "demo" ? demoSpec("cnn", { hidden: 0, normalize: true }) : ISSUE_CNN_SPEC;
  const { normalize: _, ...rest } = base;
  if (s.normalize === "none") return rest;
  return { ...rest, normalize: { ...PIXEL_STATS[s.normalize === "mnist" ? "mnist" : run.dataset] } };
}

function describeSettings(s: Settings, mu: number): string {
  const lr = `lr ${s.lr}${s.lrDecay === 1 ? "" : ` ×${s.lrDecay} a round`}`;
  const opt = s.optimizer === "sgd" ? `SGD ${lr} momentum ${s.momentum}${s.nesterov ? " Nesterov" : ""}` : `${s.optimizer === "adam" ? "Adam" : "AdamW"} ${lr}`;
  const server = s.serverLr === 1 && s.serverMomentum === 0 ? "" : `, server lr ${s.serverLr} momentum ${s.serverMomentum}`;
  return `${opt}${s.weightDecay ? ` weight decay ${s.weightDecay}` : ""}, batch ${s.batch}, normalize ${s.normalize}, ${mu > 0 ? `FedProx μ = ${mu}` : "FedAvg"}${server}`;
}

async function federate(run: Run, train: Dataset, test: Dataset) {
  const s = settingsOf(run);
  const spec = specOf(run, s);
  const [alpha, clients, rounds, epochs, mu, target, seed] = [run.alpha!, run.clients!, run.rounds!, run.epochs!, run.mu!, run.target!, run.seed!];
  const plan = planSplit(train.y, { clients, alpha, seed, validation: 1, perClient: run["per-client"] });
  const shards = plan.clients.map((idx) => subset(train, idx));
  const device = run.device;
  const started = performance.now();
  console.log(`\n${run.dataset}, ${run.model} CNN on ${device}, ${clients} contributors Dirichlet α = ${alpha} (${shards.map((x) => x.count).join(" + ")} samples), ${rounds} rounds × ${epochs} epoch, seed ${seed}; ${describeSettings(s, mu)}`);
  let global: Tensor[] = Network.create(spec, { seed, device }).weights();
  let velocity: Float32Array[] | undefined;
  const accuracy: number[] = [];
  let reached: number | null = null;
  for (let r = 0; r < rounds; r++) {
    const updates: Tensor[][] = [];
    for (let c = 0; c < shards.length; c++) {
      const net = Network.fromWeights(spec, global, { device });
      await net.train(shards[c], {
        epochs, batchSize: s.batch, lr: s.lr * s.lrDecay ** r, momentum: s.momentum, optimizer: s.optimizer, nesterov: s.nesterov,
        weightDecay: s.weightDecay, seed: seed * 1000 + r * 10 + c, proximalMu: mu,
      });
      updates.push(net.weights());
    }
    const averaged = await Promise.all(global.map((_, i) => fedAvg(updates.map((u) => u[i].data), shards.map((x) => x.count))));
    velocity ??= averaged.map((a) => new Float32Array(a.length));
    global = global.map((t, i) => {
      const v = velocity![i], a = averaged[i], data = new Float32Array(a.length);
      for (let j = 0; j < a.length; j++) {
        v[j] = s.serverMomentum * v[j] + (a[j] - t.data[j]);
        data[j] = t.data[j] + s.serverLr * v[j];
      }
      return { ...t, data };
    });
    const ev = await Network.fromWeights(spec, global, { device }).evaluate(test);
    accuracy.push(ev.accuracy);
    if (reached === null && ev.accuracy >= target) reached = r + 1;
    console.log(`round ${r + 1}: test accuracy ${(100 * ev.accuracy).toFixed(2)} %  (${((performance.now() - started) / 1000).toFixed(1)} s)`);
  }
  const result = { dataset: run.dataset, model: run.model, device, alpha, clients, samples: shards.map((x) => x.count), rounds, epochs, mu, seed, ...s, accuracy, target, roundsToTarget: reached, seconds: (performance.now() - started) / 1000 };
  console.log(JSON.stringify(result));
  return result;
}

type Result = Awaited<ReturnType<typeof federate>>;

/** One row per setting (every field but the seed): final accuracy over its seeds, and rounds to the target. */
function table(results: Result[]): string {
  const groups = new Map<string, Result[]>();
  for (const r of results) {
    const { seed: _s, accuracy: _a, roundsToTarget: _t, seconds: _x, samples: _n, ...key } = r;
    const k = JSON.stringify(key);
    groups.set(k, [...(groups.get(k) ?? []), r]);
  }
  const rows = [...groups.values()].map((g) => {
    const finals = g.map((r) => 100 * r.accuracy[r.accuracy.length - 1]);
    const mean = finals.reduce((a, b) => a + b, 0) / finals.length;
    return { mean, line: `${mean.toFixed(2).padStart(6)} %  min ${Math.min(...finals).toFixed(2)}  seeds ${g.map((r) => r.seed).join(",")}  rounds to ${100 * g[0].target} %: ${g.map((r) => r.roundsToTarget ?? "-").join(",")}  | ${g[0].dataset} α ${g[0].alpha}, ${describeSettings(g[0], g[0].mu)}` };
  });
  return ["\nfinal test accuracy, mean over seeds (best first):", ...rows.sort((a, b) => b.mean - a.mean).map((r) => r.line)].join("\n");
}

try {
  const runs = parseRuns(process.argv.slice(2));
  const results: Result[] = [];
  for (const run of runs) {
    const [train, test] = await Promise.all([loadImageSet(run.dataset, "train"), loadImageSet(run.dataset, "test")]);
    results.push(await federate(run, train, test));
  }
  if (results.length > 1) console.log(table(results));
} catch (e) {
  // Bad flags (ours, parseArgs' ERR_PARSE_ARGS_*, the engine's BAD_ARGUMENT…): the message and a fix, no stack.
  const { code, fix } = e as { code?: unknown; fix?: string };
  if (!(e instanceof UsageError || typeof code === "string")) throw e;
  const message = (e as Error).message;
  console.error(`error: ${message}${message.includes("fix:") ? "" : `\nfix: ${fix ?? "see --help"}`}`);
  process.exitCode = 1;
}
