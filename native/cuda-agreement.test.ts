import t from "tap";
import { FedAvgAccumulator, Network, deviceInfo, fedAvg, krum, median, trimmedMean } from "./index.js";
import type { Dataset, ModelSpec } from "./types.js";

// The CPU and CUDA engines must compute the same functions. Tolerances, and why:
// - aggregation: both sum in float64 and round once to float32, so results agree to 1 ulp of
//   values in [-1, 1]: |cpu − cuda| ≤ 2^-23 (1.2e-7); median and trimmed mean sort and average
//   the same values the same way.
// - training: float32 GEMMs summed in another order differ by rounding, and each SGD step
//   carries that forward. This model is small enough that the CUDA side takes no split-K
//   (atomic, unordered) sums, so after 64 steps the weights agree to 1e-4 (measured on an H200:
//   1.2e-7; the weights are of order 0.1–1); a wrong gradient or update moves them by 1e-2 or
//   more. (Larger models trained for long with momentum amplify rounding far more: qm_agree,
//   native/src/bench, measures that case.)
// - evaluation of identical weights: the mean loss to 1e-5 relative; accuracy to one sample
//   (a near-tie between two logits may resolve differently).
const AGGREGATE_TOL = 2 ** -23;
const WEIGHT_TOL = 1e-4;
const LOSS_REL_TOL = 1e-5;

const info = deviceInfo();
const skip = info.cuda ? false : `no NVIDIA GPU${info.gpus === 0 ? "" : " usable"}: CUDA agreement not run`;
if (skip) t.comment(skip);

/** Deterministic values in [-1, 1) (mulberry32), so both devices see identical inputs. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let z = a;
    z = Math.imul(z ^ (z >>> 15), z | 1);
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
    return (((z ^ (z >>> 14)) >>> 0) / 2 ** 32) * 2 - 1;
  };
}

function inputs(k: number, n: number, seed: number): Float32Array[] {
  const next = random(seed);
  return Array.from({ length: k }, () => Float32Array.from({ length: n }, next));
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= worst)) worst = d; // NaN makes it NaN, which fails every comparison below
  }
  return worst;
}

/** A learnable task: the label is the argmax of a fixed linear map of the features. */
function dataset(count: number, features: number, classes: number, seed: number): Dataset {
  const next = random(seed);
  const w = Float32Array.from({ length: features * classes }, next);
  const x = Float32Array.from({ length: count * features }, next);
  const y = new Uint8Array(count);
  for (let r = 0; r < count; r++) {
    let best = 0;
    let bestScore = -Infinity;
    for (let c = 0; c < classes; c++) {
      let s = 0;
      for (let f = 0; f < features; f++) s += x[r * features + f] * w[f * classes + c];
      if (s > bestScore) [best, bestScore] = [c, s];
    }
    y[r] = best;
  }
  return { count, features, x, y };
}

t.test("aggregation agrees between CPU and CUDA", { skip }, async (t) => {
  t.comment(`GPU: ${info.gpuName ?? "unnamed"}; tolerance ${AGGREGATE_TOL.toExponential(2)}`);
  // n not a multiple of 4 (the kernel's tail); K = 5 (a compiled K), 20 (the run-time K loop), 70 (over 64: streamed).
  for (const k of [5, 20, 70]) {
    const xs = inputs(k, 100_003, 11 + k);
    const weights = xs.map((_, i) => 1 + (i % 7));
    const cpu = await fedAvg(xs, weights, { device: "cpu" });
    const cuda = await fedAvg(xs, weights, { device: "cuda" });
    const d = maxAbsDiff(cpu, cuda);
    t.comment(`fedAvg K=${k}: max |cpu − cuda| = ${d.toExponential(3)}`);
    t.ok(d <= AGGREGATE_TOL, `fedAvg K=${k} agrees (${d.toExponential(3)})`);
  }
  const xs = inputs(8, 50_001, 3);
  const pairs: [string, Float32Array, Float32Array][] = [
    ["median", await median(xs, { device: "cpu" }), await median(xs, { device: "cuda" })],
    ["trimmedMean", await trimmedMean(xs, 0.25, { device: "cpu" }), await trimmedMean(xs, 0.25, { device: "cuda" })],
    ["krum m=3", (await krum(xs, 2, { m: 3, device: "cpu" })).result, (await krum(xs, 2, { m: 3, device: "cuda" })).result],
  ];
  const acc = { cpu: new FedAvgAccumulator(xs[0].length, { device: "cpu" }), cuda: new FedAvgAccumulator(xs[0].length, { device: "cuda" }) };
  for (let i = 0; i < xs.length; i++) {
    await acc.cpu.add(xs[i], i + 1);
    await acc.cuda.add(xs[i], i + 1);
  }
  pairs.push(["accumulator", await acc.cpu.result(), await acc.cuda.result()]);
  pairs.push(["accumulator vs fedAvg", await acc.cuda.result(), await fedAvg(xs, xs.map((_, i) => i + 1), { device: "cpu" })]);
  for (const [name, cpu, cuda] of pairs) {
    const d = maxAbsDiff(cpu, cuda);
    t.comment(`${name}: max |cpu − cuda| = ${d.toExponential(3)}`);
    t.ok(d <= AGGREGATE_TOL, `${name} agrees (${d.toExponential(3)})`);
  }
});

t.test("training and evaluation agree between CPU and CUDA", { skip }, async (t) => {
  const spec: ModelSpec = {
    input: [24],
    layers: [
      { type: "dense", units: 48, activation: "relu" },
      { type: "dense", units: 32, activation: "relu" },
      { type: "dense", units: 6 },
    ],
    loss: "cross-entropy",
  };
  const data = dataset(1024, 24, 6, 5);
  // 2 epochs of 32 batches: full batches replay the CUDA graph; 1024 % 48 leaves a partial batch.
  for (const batchSize of [32, 48]) {
    const opts = { epochs: 2, batchSize, lr: 0.05, momentum: 0.9, seed: 9 };
    const cpu = Network.create(spec, { seed: 21, device: "cpu" });
    const cuda = Network.create(spec, { seed: 21, device: "cuda" });
    t.same(
      cpu.weights().map((w) => Array.from(w.data)),
      cuda.weights().map((w) => Array.from(w.data)),
      "the same seed gives the same initial weights on both devices",
    );
    const [cpuStats, cudaStats] = [await cpu.train(data, opts), await cuda.train(data, opts)];
    const cw = cpu.weights();
    const gw = cuda.weights();
    let worst = 0;
    for (let i = 0; i < cw.length; i++) worst = Math.max(worst, maxAbsDiff(cw[i].data, gw[i].data));
    t.comment(`batch ${batchSize}: train loss cpu ${cpuStats.loss.toFixed(6)} cuda ${cudaStats.loss.toFixed(6)}; max |w_cpu − w_cuda| = ${worst.toExponential(3)}`);
    t.ok(worst <= WEIGHT_TOL, `batch ${batchSize}: weights after training agree within ${WEIGHT_TOL} (${worst.toExponential(3)})`);
    t.ok(Math.abs(cpuStats.loss - cudaStats.loss) <= 1e-4 * Math.abs(cpuStats.loss), "the mean training loss agrees");
    t.ok(cudaStats.loss < Math.log(6), "training on CUDA learned something (loss below chance)");

    // Identical weights evaluated on both devices.
    const onCuda = Network.fromWeights(spec, cw, { device: "cuda" });
    const [e1, e2] = [await cpu.evaluate(data), await onCuda.evaluate(data)];
    const rel = Math.abs(e1.loss - e2.loss) / e1.loss;
    t.comment(`batch ${batchSize}: eval loss cpu ${e1.loss.toFixed(7)} cuda ${e2.loss.toFixed(7)} (rel ${rel.toExponential(2)}); accuracy ${e1.accuracy} vs ${e2.accuracy}`);
    t.ok(rel <= LOSS_REL_TOL, `evaluation loss agrees within ${LOSS_REL_TOL} relative`);
    t.ok(Math.abs(e1.accuracy - e2.accuracy) <= 1 / data.count + 1e-12, "evaluation accuracy agrees to one sample");
  }
});

// The Sequential engine (conv2d, both poolings, dropout, the activations, dense; SGD, Adam, MSE):
// the same batches and dropout masks on both devices, so the weights differ only by float32
// rounding (GEMMs summed in another order; exp/erf/tanh in double on both), carried through the steps.
// A wrong kernel (an index, a missed window, a stale mask) moves them by 1e-2 or more.
const CNN_WEIGHT_TOL = 1e-4;

const cnnSpec: ModelSpec = {
  input: [2, 12, 12],
  layers: [
    { type: "conv2d", outChannels: 4, kernel: 3, padding: 1 },
    { type: "relu" },
    { type: "maxpool2d", kernel: 3, stride: 2 }, // overlapping windows: 4×5×5
    { type: "conv2d", outChannels: 6, kernel: 3, stride: 2, padding: 1 }, // 6×3×3
    { type: "gelu" },
    { type: "avgpool2d", kernel: 2, stride: 1 }, // 6×2×2
    { type: "flatten" },
    { type: "dropout", p: 0.25 },
    { type: "dense", units: 16 },
    { type: "tanh" },
    { type: "dense", units: 8 },
    { type: "sigmoid" },
    { type: "dense", units: 5 },
  ],
  loss: "cross-entropy",
};

function worstWeightDiff(a: Network, b: Network): number {
  const wa = a.weights();
  const wb = b.weights();
  let worst = wa.length === wb.length ? 0 : Infinity;
  for (let i = 0; i < wa.length; i++) worst = Math.max(worst, maxAbsDiff(wa[i].data, wb[i].data));
  return worst;
}

t.test("a CNN trains and evaluates alike on CPU and CUDA", { skip }, async (t) => {
  const data = dataset(200, 2 * 12 * 12, 5, 17);
  const runs = [
    { name: "SGD momentum 0.9, batch 32 (7 batches, the last partial), 2 epochs", opts: { epochs: 2, batchSize: 32, lr: 0.05, momentum: 0.9, seed: 4 } },
    { name: "Adam, batch 50, 2 epochs", opts: { epochs: 2, batchSize: 50, lr: 0.003, optimizer: "adam" as const, seed: 5 } },
    { name: "AdamW + FedProx, batch 64", opts: { epochs: 1, batchSize: 64, lr: 0.003, optimizer: "adamw" as const, proximalMu: 0.1, seed: 6 } },
  ];
  for (const { name, opts } of runs) {
    const cpu = Network.create(cnnSpec, { seed: 31, device: "cpu" });
    const cuda = Network.create(cnnSpec, { seed: 31, device: "cuda" });
    t.equal(cuda.device, "cuda", "the CNN runs on the CUDA engine");
    t.equal(worstWeightDiff(cpu, cuda), 0, "the same seed gives the same initial weights");
    const [cs, gs] = [await cpu.train(data, opts), await cuda.train(data, opts)];
    const worst = worstWeightDiff(cpu, cuda);
    const moved = worstWeightDiff(cuda, Network.create(cnnSpec, { seed: 31, device: "cpu" }));
    t.comment(`CNN ${name}: train loss cpu ${cs.loss.toFixed(6)} cuda ${gs.loss.toFixed(6)}; max |w_cpu − w_cuda| = ${worst.toExponential(3)} (training moved weights by up to ${moved.toExponential(2)})`);
    t.ok(moved >= 100 * CNN_WEIGHT_TOL, `${name}: training changed the weights far beyond the tolerance`);
    t.ok(worst <= CNN_WEIGHT_TOL, `${name}: weights agree within ${CNN_WEIGHT_TOL} (${worst.toExponential(3)})`);
    t.ok(Math.abs(cs.loss - gs.loss) <= 1e-4 * cs.loss, `${name}: the mean training loss agrees`);
    t.ok(Math.abs(gs.accuracy - cs.accuracy) <= 1 / cs.samples + 1e-12, `${name}: the training accuracy agrees to one sample`);

    const onCuda = Network.fromWeights(cnnSpec, cpu.weights(), { device: "cuda" });
    const [e1, e2] = [await cpu.evaluate(data), await onCuda.evaluate(data)];
    const rel = Math.abs(e1.loss - e2.loss) / e1.loss;
    t.comment(`CNN ${name}: eval loss cpu ${e1.loss.toFixed(7)} cuda ${e2.loss.toFixed(7)} (rel ${rel.toExponential(2)}); accuracy ${e1.accuracy} vs ${e2.accuracy}`);
    t.ok(rel <= LOSS_REL_TOL, "evaluation of identical weights: loss agrees");
    t.ok(Math.abs(e1.accuracy - e2.accuracy) <= 1 / data.count + 1e-12, "evaluation accuracy agrees to one sample");
    const [p1, p2] = [await cpu.predict(data.x, data.count), await onCuda.predict(data.x, data.count)];
    const dp = maxAbsDiff(p1, p2);
    t.comment(`CNN ${name}: predictions of identical weights: max |p_cpu − p_cuda| = ${dp.toExponential(3)}`);
    t.ok(dp <= 1e-6, "predicted probabilities agree within 1e-6");
  }
  // No atomics in the gradients: a second CUDA run gives the same weights bit for bit.
  const opts = runs[0].opts;
  const [a, b] = [Network.create(cnnSpec, { seed: 8, device: "cuda" }), Network.create(cnnSpec, { seed: 8, device: "cuda" })];
  await a.train(data, opts);
  await b.train(data, opts);
  t.equal(worstWeightDiff(a, b), 0, "CUDA training is reproducible");
});

t.test("a convolutional regression (mean squared error) agrees between CPU and CUDA", { skip }, async (t) => {
  const spec: ModelSpec = {
    input: [1, 8, 8],
    layers: [{ type: "conv2d", outChannels: 3, kernel: 3 }, { type: "relu" }, { type: "flatten" }, { type: "dense", units: 2 }],
    loss: "mse",
  };
  const next = random(23);
  const count = 96;
  const x = Float32Array.from({ length: count * 64 }, next);
  const targets = Float32Array.from({ length: count * 2 }, (_, i) => x[(i >> 1) * 64 + (i & 1)] * 0.5 + x[(i >> 1) * 64 + 9]);
  const data: Dataset = { count, features: 64, x, y: new Uint8Array(0), targets };
  const opts = { epochs: 3, batchSize: 16, lr: 0.02, momentum: 0.5, nesterov: true, weightDecay: 1e-3, seed: 3 };
  const cpu = Network.create(spec, { seed: 2, device: "cpu" });
  const cuda = Network.create(spec, { seed: 2, device: "cuda" });
  const [cs, gs] = [await cpu.train(data, opts), await cuda.train(data, opts)];
  const worst = worstWeightDiff(cpu, cuda);
  t.comment(`regression: train loss cpu ${cs.loss.toFixed(7)} cuda ${gs.loss.toFixed(7)}; max |w_cpu − w_cuda| = ${worst.toExponential(3)}`);
  t.ok(worst <= CNN_WEIGHT_TOL, `weights agree within ${CNN_WEIGHT_TOL}`);
  t.ok(Math.abs(cs.loss - gs.loss) <= 1e-4 * cs.loss, "the mean training loss agrees");
  const onCuda = Network.fromWeights(spec, cpu.weights(), { device: "cuda" });
  const [e1, e2] = [await cpu.evaluate(data), await onCuda.evaluate(data)];
  t.ok(Math.abs(e1.loss - e2.loss) <= LOSS_REL_TOL * e1.loss, `evaluation loss agrees (${e1.loss} vs ${e2.loss})`);
  const dp = maxAbsDiff(await cpu.predict(x, count), await onCuda.predict(x, count));
  t.comment(`regression: predictions of identical weights: max |cpu − cuda| = ${dp.toExponential(3)}`);
  t.ok(dp <= 1e-5, "predicted outputs agree within 1e-5");
});

t.test("a dense model with Adam (the Sequential engine's copy) agrees between CPU and CUDA", { skip }, async (t) => {
  const spec: ModelSpec = { input: [24], layers: [{ type: "dense", units: 32, activation: "relu" }, { type: "dense", units: 6 }], loss: "cross-entropy" };
  const data = dataset(256, 24, 6, 7);
  const opts = { epochs: 2, batchSize: 32, lr: 0.01, optimizer: "adam" as const, weightDecay: 1e-4, seed: 12 };
  const cpu = Network.create(spec, { seed: 3, device: "cpu" });
  const cuda = Network.create(spec, { seed: 3, device: "cuda" });
  const [cs, gs] = [await cpu.train(data, opts), await cuda.train(data, opts)];
  const worst = worstWeightDiff(cpu, cuda);
  const moved = worstWeightDiff(cuda, Network.create(spec, { seed: 3, device: "cpu" }));
  t.comment(`dense + Adam: train loss cpu ${cs.loss.toFixed(7)} cuda ${gs.loss.toFixed(7)}; max |w_cpu − w_cuda| = ${worst.toExponential(3)} (moved ${moved.toExponential(2)})`);
  t.ok(moved >= 100 * CNN_WEIGHT_TOL, "training changed the weights far beyond the tolerance");
  t.ok(worst <= CNN_WEIGHT_TOL, `weights agree within ${CNN_WEIGHT_TOL}`);
  t.ok(Math.abs(cs.loss - gs.loss) <= 1e-4 * cs.loss, "the mean training loss agrees");
});
