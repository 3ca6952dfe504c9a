// What scoring a round costs the evaluator: the leave-one-out the engine runs
// (orchestrator/rounds/contribution.ts scoreRound: one evaluation of each update's own model for the
// learned-nothing check, one aggregation and one evaluation per kept update, plus the base and the
// full aggregate) against a truncated Monte-Carlo Shapley estimate
// (P random orders, each adding the updates one by one: n aggregations and evaluations per order)
// and exact Shapley (2^n subsets, extrapolated from the measured cost of one evaluation).
// Real MNIST, an MLP 784-128-10, updates trained on different shards, the engine's own evaluator.
// Run: node --loader ts-node/esm/transpile-only scripts/scoring-cost.ts [--validation N] [--permutations P] [--json]
import { loadMnist, subset } from "../native/data.js";
import { Network } from "../native/index.js";
import { flatten, unflatten } from "../native/tensors.js";
import type { Dataset, ModelSpec, Tensor } from "../native/types.js";
import { scoreRound } from "../orchestrator/rounds/contribution.js";
import { classAccuracy, sampleFigures } from "../orchestrator/rounds/runtime.js";
import { globalModel } from "../orchestrator/rounds/checks.js";
import { makeStrategy, type FitResult, type RoundEval } from "../orchestrator/strategy/index.js";
import { DEFAULT_SETTINGS } from "../protocol/settings.js";

const args = process.argv.slice(2);
const option = (name: string, fallback: number) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : fallback);
const json = args.includes("--json");
const VALIDATION = option("--validation", 2000);
const PERMUTATIONS = option("--permutations", 10);
const SIZES = [3, 8, 16];

const spec: ModelSpec = { input: [784], layers: [{ type: "dense", units: 128, activation: "relu" }, { type: "dense", units: 10, activation: "none" }], loss: "cross-entropy" };
const train = await loadMnist("train", { limit: 16 * 500 + 2000 });
const validation = subset(await loadMnist("test"), Array.from({ length: VALIDATION }, (_, i) => i));

let evaluations = 0;
const evaluate = async (model: Tensor[]): Promise<RoundEval> => {
  evaluations++;
  const net = Network.fromWeights(spec, model);
  const ev = await net.evaluate(validation);
  const probabilities = await net.predict(validation.x, validation.count);
  return { ...ev, classAccuracy: classAccuracy(probabilities, validation.y, 10), perSample: sampleFigures(probabilities, validation.y, 10) };
};
const strategy = makeStrategy(DEFAULT_SETTINGS, evaluate);

// A global model that learned a little (round 1 of a job), then one update per shard of 500.
const start = Network.create(spec, { seed: 1 });
await start.train(subset(train, Array.from({ length: 2000 }, (_, i) => 16 * 500 + i)), { epochs: 1, batchSize: 64, lr: 0.1, seed: 1 });
const global = globalModel("0x" + "0".repeat(64), start.weights());
const shard = (k: number): Dataset => subset(train, Array.from({ length: 500 }, (_, i) => k * 500 + i));
const updates: FitResult[] = [];
for (let k = 0; k < Math.max(...SIZES); k++) {
  const net = Network.fromWeights(spec, global.tensors);
  await net.train(shard(k), { epochs: 1, batchSize: 32, lr: 0.1, seed: 10 + k });
  updates.push({ contributor: `0x${String(k + 1).padStart(40, "0")}`, updateHash: `0x${String(k + 1).padStart(64, "0")}`, numSamples: 500, weights: flatten(net.weights()) });
}

async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; evaluations: number; value: T }> {
  const before = evaluations;
  const t0 = performance.now();
  const value = await fn();
  return { ms: performance.now() - t0, evaluations: evaluations - before, value };
}

/** Truncated Monte-Carlo Shapley (Ghorbani & Zou 2019): stop an order once the rest cannot change the loss by more than `tolerance`. */
async function tmcShapley(results: FitResult[], permutations: number, tolerance = 1e-3): Promise<number[]> {
  const lossOf = async (members: FitResult[]) =>
    (await evaluate(unflatten(members.length ? await strategy.aggregate(1, members, [], global.flat) : global.flat, global.layout))).loss;
  const base = await lossOf([]);
  const full = await lossOf(results);
  const values = new Array<number>(results.length).fill(0);
  let seed = 7;
  const rnd = () => ((seed = (seed * 1664525 + 1013904223) >>> 0) / 2 ** 32);
  for (let p = 0; p < permutations; p++) {
    const order = results.map((_, i) => i).sort(() => rnd() - 0.5);
    let previous = base;
    for (let j = 0; j < order.length; j++) {
      const loss = Math.abs(previous - full) < tolerance ? previous : await lossOf(order.slice(0, j + 1).map((i) => results[i]));
      values[order[j]] += (previous - loss) / permutations;
      previous = loss;
    }
  }
  return values;
}

const rows = [];
const oneEval = await timed(() => evaluate(global.tensors));
for (const n of SIZES) {
  const results = updates.slice(0, n);
  const loo = await timed(() => scoreRound(1, results, results.map(() => 0), [], global, strategy, DEFAULT_SETTINGS));
  const tmc = await timed(() => tmcShapley(results, PERMUTATIONS));
  rows.push({
    updates: n,
    leaveOneOut: { ms: Math.round(loo.ms), evaluations: loo.evaluations },
    tmcShapley: { permutations: PERMUTATIONS, ms: Math.round(tmc.ms), evaluations: tmc.evaluations },
    exactShapley: { evaluations: 2 ** n, estimatedMs: Math.round(2 ** n * oneEval.ms) },
  });
}

const result = { validation: VALIDATION, model: "784-128-10", evaluationMs: Number(oneEval.ms.toFixed(1)), rows };
if (json) process.stdout.write(JSON.stringify(result) + "\n");
else {
  process.stdout.write(`Scoring cost per round (MNIST MLP 784-128-10, ${VALIDATION} validation samples, one evaluation ${oneEval.ms.toFixed(1)} ms)\n`);
  process.stdout.write("updates  leave-one-out          TMC-Shapley (P=" + PERMUTATIONS + ")        exact Shapley (estimated)\n");
  for (const r of rows) {
    process.stdout.write(
      `${String(r.updates).padStart(7)}  ${`${r.leaveOneOut.ms} ms (${r.leaveOneOut.evaluations} evals)`.padEnd(22)} ${`${r.tmcShapley.ms} ms (${r.tmcShapley.evaluations} evals)`.padEnd(25)} ${r.exactShapley.estimatedMs} ms (${r.exactShapley.evaluations} evals)\n`,
    );
  }
}
