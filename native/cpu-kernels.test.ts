// The CPU engine's SGEMM and fused layers on shapes that take each of their paths, against
// PyTorch: B packed per call (more than 48 rows, or more than 64K floats of B, split in panels),
// read in place, packed by the layer once (dense weights), packed transposed (conv weight
// gradients); last strips of 1-8 and 9-15 columns; 1-5 leftover rows; ReLU fused into the conv2d
// and dense before it; the same-width and general im2col; 2×2 max pooling of odd widths.
import t from "tap";
import { Network } from "./index.js";
import { NO_TORCH, runTorchReference, torchPython } from "./testing/torchReference.js";
import type { Dataset, ModelSpec, TrainOptions } from "./types.js";

const python = torchPython;

function data(count: number, features: number, classes: number, seed: number): Dataset {
  let s = seed;
  const next = () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 30) - 1;
  return { count, features, x: new Float32Array(count * features).map(next), y: new Uint8Array(count).map((_, i) => i % classes) };
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = a.length === b.length ? 0 : Infinity;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

const wideConv: ModelSpec = {
  input: [3, 9, 9],
  layers: [
    { type: "conv2d", outChannels: 50, kernel: 3, padding: 1 }, // 50 rows: B packed; 81 pixels: a 1-column last strip
    { type: "relu" },
    { type: "maxpool2d", kernel: 2 }, // 9 → 4: the 4-wide path, the odd column dropped
    { type: "conv2d", outChannels: 13, kernel: 2 }, // 4 → 3: the general im2col; 9 pixels: a 9-column strip
    { type: "relu" },
    { type: "flatten" },
    { type: "dense", units: 70 }, // 70 = 4 × 16 + 6
    { type: "relu" },
    { type: "dense", units: 5 },
  ],
  loss: "cross-entropy",
};

// 2,100 inputs: the weight gradient's B (40 × 2,100) is packed in two panels.
const wideDense: ModelSpec = {
  input: [2100],
  layers: [{ type: "dense", units: 20, activation: "relu" }, { type: "dense", units: 3 }],
  loss: "cross-entropy",
};

interface Case {
  name: string;
  spec: ModelSpec;
  d: Dataset;
  run: TrainOptions & { steps: number; lr: number };
}

const cases: Case[] = [
  { name: "wide conv", spec: wideConv, d: data(40, 3 * 81, 5, 3), run: { steps: 2, lr: 0.05, momentum: 0.9 } },
  { name: "wide dense (Sequential engine, Adam)", spec: wideDense, d: data(40, 2100, 3, 9), run: { steps: 2, lr: 0.01, optimizer: "adam" } },
  { name: "wide dense (dense engine, SGD)", spec: wideDense, d: data(40, 2100, 3, 9), run: { steps: 2, lr: 0.05 } },
];

t.test("the CPU kernels agree with PyTorch on shapes that take every path", { skip: python ? false : NO_TORCH }, async (t) => {
  const nets = cases.map((c, i) => Network.create(c.spec, { seed: 40 + i, device: "cpu" }));
  const ran = runTorchReference(
    cases.map((c, i) => ({ spec: c.spec, weights: nets[i].weights(), d: c.d, runs: [{ steps: c.run.steps, lr: c.run.lr, momentum: c.run.momentum, optimizer: c.run.optimizer, weightDecay: 0 }] })),
  );
  t.equal(ran.status, 0, ran.stderr);
  const torch = ran;
  for (const [i, c] of cases.entries()) {
    const probs = await nets[i].predict(c.d.x, c.d.count);
    t.ok(maxDiff(probs, torch.cases[i].probs) < 1e-5, `${c.name}: softmax outputs within ${maxDiff(probs, torch.cases[i].probs).toExponential(2)}`);
    const net = Network.fromWeights(c.spec, nets[i].weights(), { device: "cpu" });
    const { steps, ...opts } = c.run;
    await net.train(c.d, { ...opts, epochs: steps, batchSize: c.d.count, seed: 1 }); // full batches: the sample order does not matter
    const after = net.weights();
    const worst = Math.max(...after.map((w) => maxDiff(w.data, torch.cases[i].runs[0][w.name])));
    const moved = Math.max(...after.map((w, j) => maxDiff(w.data, nets[i].weights()[j].data)));
    t.ok(worst < 2e-5 && moved > 100 * worst, `${c.name}: weights after ${steps} steps within ${worst.toExponential(2)} of PyTorch's (moved ${moved.toExponential(2)})`);
  }
});

t.test("the same seed gives the same weights, bit for bit", async (t) => {
  const d = data(50, 3 * 81, 5, 7);
  const train = async () => {
    const net = Network.create(wideConv, { seed: 5, device: "cpu" });
    await net.train(d, { epochs: 2, batchSize: 16, lr: 0.05, momentum: 0.9, seed: 3 });
    return net.weights();
  };
  const [a, b] = [await train(), await train()];
  t.same(a.map((w) => Array.from(w.data)), b.map((w) => Array.from(w.data)));
});
