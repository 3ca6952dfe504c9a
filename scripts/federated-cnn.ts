// The issue's federated accuracy targets, offline: non-IID contributors (Dirichlet α split of the
// training set, the splitter's plan), the MNIST CNN, R rounds of local SGD epochs from the global
// model, FedAvg weighted by samples (optionally FedProx's proximal term μ in the local training);
// the global model's test accuracy after every round, and the first round that reaches --target.
// No chain or orchestrator: this measures what the model and the split allow, in minutes.
//   npx tsx scripts/federated-cnn.ts [--dataset mnist|fashion-mnist] [--alpha 0.5] [--clients 3]
//     [--rounds 5] [--epochs 1] [--mu 0] [--target 0.97] [--per-client N] [--model issue|demo] [--seed 1]
// Prints one line per round and a JSON summary last.
import { parseArgs } from "node:util";
import { fedAvg, Network } from "../native/index.js";
import { loadImageSet, subset, type ImageSetName } from "../native/data.js";
import { ISSUE_CNN_SPEC } from "./bench/cnn-spec.js";
import { planSplit } from "../cli/lib/data/splitMnist.js";
import { demoSpec } from "../cli/lib/demo/model.js";
import type { Tensor } from "../native/types.js";

const { values: v } = parseArgs({
  options: {
    dataset: { type: "string", default: "mnist" }, alpha: { type: "string", default: "0.5" }, clients: { type: "string", default: "3" },
    rounds: { type: "string", default: "5" }, epochs: { type: "string", default: "1" }, mu: { type: "string", default: "0" },
    target: { type: "string", default: "0.97" }, "per-client": { type: "string" }, model: { type: "string", default: "issue" }, seed: { type: "string", default: "1" },
  },
});
const num = (name: keyof typeof v) => {
  const n = Number(v[name]);
  if (!Number.isFinite(n)) throw new Error(`--${name} ${JSON.stringify(v[name])} is not a number`);
  return n;
};
const dataset = v.dataset as ImageSetName;
const [alpha, clients, rounds, epochs, mu, target, seed] = (["alpha", "clients", "rounds", "epochs", "mu", "target", "seed"] as const).map(num);
const perClient = v["per-client"] === undefined ? undefined : num("per-client");
const spec = v.model === "demo" ? demoSpec("cnn", { hidden: 0, normalize: true }) : ISSUE_CNN_SPEC;

const [train, test] = await Promise.all([loadImageSet(dataset, "train"), loadImageSet(dataset, "test")]);
const plan = planSplit(train.y, { clients, alpha, seed, validation: 1, perClient });
const shards = plan.clients.map((idx) => subset(train, idx));
const started = performance.now();
console.log(`${dataset}, ${v.model} CNN, ${clients} contributors Dirichlet α = ${alpha} (${shards.map((s) => s.count).join(" + ")} samples), ${rounds} rounds × ${epochs} epoch, ${mu > 0 ? `FedProx μ = ${mu}` : "FedAvg"}`);

let global: Tensor[] = Network.create(spec, { seed }).weights();
const accuracy: number[] = [];
let reached: number | null = null;
for (let r = 0; r < rounds; r++) {
  const updates: Tensor[][] = [];
  for (let c = 0; c < shards.length; c++) {
    const net = Network.fromWeights(spec, global);
    await net.train(shards[c], { epochs, batchSize: 64, lr: 0.05, momentum: 0.9, seed: seed * 1000 + r * 10 + c, proximalMu: mu });
    updates.push(net.weights());
  }
  const weights = shards.map((s) => s.count);
  global = await Promise.all(global.map(async (t, i) => ({ ...t, data: await fedAvg(updates.map((u) => u[i].data), weights) })));
  const ev = await Network.fromWeights(spec, global).evaluate(test);
  accuracy.push(ev.accuracy);
  if (reached === null && ev.accuracy >= target) reached = r + 1;
  console.log(`round ${r + 1}: test accuracy ${(100 * ev.accuracy).toFixed(2)} %  (${((performance.now() - started) / 1000).toFixed(0)} s)`);
}
console.log(JSON.stringify({ dataset, model: v.model, alpha, clients, samples: shards.map((s) => s.count), rounds, epochs, mu, accuracy, target, roundsToTarget: reached, seconds: (performance.now() - started) / 1000 }));
