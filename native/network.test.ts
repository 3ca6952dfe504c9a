import t, { type Test } from "tap";
import { loadMnist } from "./data.js";
import { Network, parameterShapes, validateSpec } from "./index.js";
import { MNIST_NORMALIZE } from "./spec.js";
import type { Dataset, ModelSpec } from "./types.js";

const mlp: ModelSpec = {
  input: [784],
  layers: [
    { type: "dense", units: 128, activation: "relu" },
    { type: "dense", units: 10 },
  ],
  loss: "cross-entropy",
};

t.test("tensor names and shapes follow PyTorch nn.Sequential", async (t) => {
  t.same(parameterShapes(mlp), [
    { name: "0.weight", shape: [128, 784] },
    { name: "0.bias", shape: [128] },
    { name: "2.weight", shape: [10, 128] },
    { name: "2.bias", shape: [10] },
  ]);
  const deep = validateSpec({ input: [28, 28], layers: [{ type: "dense", units: 32 }, { type: "dense", units: 16, activation: "relu" }, { type: "dense", units: 3 }], loss: "cross-entropy" });
  t.same(parameterShapes(deep).map((p) => p.name), ["0.weight", "0.bias", "1.weight", "1.bias", "3.weight", "3.bias"]);
  t.same(parameterShapes(deep)[0].shape, [32, 784], "a multi-dimensional input is flattened");
});

t.test("initialization is seeded and PyTorch-like", async (t) => {
  const a = Network.create(mlp, { seed: 42, device: "cpu" }).weights();
  const b = Network.create(mlp, { seed: 42, device: "cpu" }).weights();
  const c = Network.create(mlp, { seed: 43, device: "cpu" }).weights();
  t.same(a.map((x) => Array.from(x.data)), b.map((x) => Array.from(x.data)), "same seed, same weights");
  t.not(a[0].data[0], c[0].data[0], "another seed, other weights");
  const bound = 1 / Math.sqrt(784);
  const w = a[0].data;
  t.ok(w.every((v) => Math.abs(v) <= bound), "first-layer weights within ±1/sqrt(fan_in)");
  const mean = w.reduce((s, v) => s + v, 0) / w.length;
  const variance = w.reduce((s, v) => s + (v - mean) ** 2, 0) / w.length;
  t.ok(Math.abs(variance - bound ** 2 / 3) < 0.05 * bound ** 2, "uniform variance bound²/3");
});

t.test("weights round-trip through fromWeights and predict gives probabilities", async (t) => {
  const test = await loadMnist("test", { limit: 1000 });
  const net = Network.create(mlp, { seed: 7 });
  const copy = Network.fromWeights(mlp, net.weights());
  const [p1, p2] = await Promise.all([net.predict(test.x, test.count), copy.predict(test.x, test.count)]);
  t.equal(p1.length, test.count * 10);
  t.same(Array.from(p1), Array.from(p2), "a rebuilt network predicts the same");
  for (let r = 0; r < 5; r++) {
    const row = p1.subarray(r * 10, r * 10 + 10);
    t.ok(Math.abs(row.reduce((a, b) => a + b, 0) - 1) < 1e-5, `row ${r} sums to 1`);
  }
});

t.test("training with the same seed is reproducible, and predict agrees with evaluate", async (t) => {
  const train = await loadMnist("train", { limit: 3000 });
  const test = await loadMnist("test", { limit: 2000 });
  const runs = await Promise.all(
    [0, 1].map(async () => {
      const net = Network.create(mlp, { seed: 5, device: "cpu" });
      const r = await net.train(train, { epochs: 2, batchSize: 50, lr: 0.05, momentum: 0.5, seed: 9 });
      return { net, r };
    }),
  );
  t.same(runs[0].r, runs[1].r, "same seeds: same loss and accuracy");
  t.same(Array.from(runs[0].net.weights()[2].data), Array.from(runs[1].net.weights()[2].data), "and the same weights");
  t.equal(runs[0].r.samples, 6000, "two epochs of 3000");
  const ev = await runs[0].net.evaluate(test);
  const probs = await runs[0].net.predict(test.x, test.count);
  let correct = 0;
  for (let i = 0; i < test.count; i++) {
    const row = probs.subarray(i * 10, i * 10 + 10);
    if (row.indexOf(Math.max(...row)) === test.y[i]) correct++;
  }
  t.equal(ev.accuracy, correct / test.count, "evaluate's accuracy is predict's argmax accuracy");
  t.ok(ev.accuracy > 0.7, `3000 samples, 2 epochs: test accuracy ${ev.accuracy}`);
});

t.test("progress is reported while training", async (t) => {
  const train = await loadMnist("train", { limit: 640 });
  const seen: number[] = [];
  const net = Network.create(mlp, { seed: 1 });
  await net.train(train, { batchSize: 64, lr: 0.1, onProgress: (p) => seen.push(p.batch) });
  t.ok(seen.includes(9), "the last batch of the epoch is reported");
});

async function mnistEpoch(t: Test, momentum: number, minimum: number, spec: ModelSpec = mlp): Promise<void> {
  const train: Dataset = await loadMnist("train");
  const test: Dataset = await loadMnist("test");
  const net = Network.create(spec, { seed: 2024, device: "cpu" });
  const before = await net.evaluate(test);
  const fit = await net.train(train, { epochs: 1, batchSize: 64, lr: 0.1, momentum, seed: 1 });
  const after = await net.evaluate(test);
  t.equal(fit.samples, 60000);
  t.ok(after.loss < before.loss, `test loss fell from ${before.loss.toFixed(3)} to ${after.loss.toFixed(3)}`);
  t.ok(after.accuracy >= minimum, `MNIST 784-128-10, 1 epoch, batch 64, lr 0.1, momentum ${momentum}: test accuracy ${after.accuracy} >= ${minimum}`);
}

t.test("one MNIST epoch, plain SGD, standardized inputs reaches >= 95% test accuracy on the CPU", (t) =>
  mnistEpoch(t, 0, 0.95, { ...mlp, normalize: MNIST_NORMALIZE }),
);
t.test("one MNIST epoch with momentum reaches >= 95% test accuracy on the CPU", (t) => mnistEpoch(t, 0.9, 0.95));
// Plain SGD on raw [0, 1] pixels reaches about 93% after one epoch (a float64 numpy version of the same recipe: 92.96%).
t.test("one MNIST epoch with plain SGD reaches >= 92% test accuracy on the CPU", (t) => mnistEpoch(t, 0, 0.92));

t.test("spec.normalize standardizes inputs and is validated", async (t) => {
  const spec = { ...mlp, normalize: MNIST_NORMALIZE };
  t.same(validateSpec(spec).normalize, MNIST_NORMALIZE);
  t.throws(() => validateSpec({ ...mlp, normalize: { mean: 0, std: 0 } }), { code: "BAD_SPEC", argument: "spec.normalize.std" });
  t.throws(() => validateSpec({ ...mlp, normalize: { mean: "a", std: 1 } }), { code: "BAD_SPEC", argument: "spec.normalize.mean" });
  t.throws(() => validateSpec({ ...mlp, normalize: { mean: 0, std: 1, extra: 1 } }), { code: "BAD_SPEC", argument: "spec.normalize.extra" });
  const test = await loadMnist("test", { limit: 200 });
  const weights = Network.create(mlp, { seed: 3 }).weights();
  const withNorm = Network.fromWeights(spec, weights);
  const raw = Network.fromWeights(mlp, weights);
  const manual = new Float32Array(test.x.length);
  for (let i = 0; i < manual.length; i++) manual[i] = (test.x[i] - MNIST_NORMALIZE.mean) / MNIST_NORMALIZE.std;
  const [a, b] = await Promise.all([withNorm.predict(test.x, test.count), raw.predict(manual, test.count)]);
  let maxDiff = 0;
  for (let i = 0; i < a.length; i++) maxDiff = Math.max(maxDiff, Math.abs(a[i] - b[i]));
  t.ok(maxDiff < 1e-6, `a normalizing network equals a raw one on standardized inputs (max diff ${maxDiff})`);
  t.equal(test.x[0], (await loadMnist("test", { limit: 200 })).x[0], "the caller's data is not modified");
});
