import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import t from "tap";
import { loadCsv, loadDataset, loadMnist, subset } from "./data.js";
import { Network, parameterShapes, validateSpec } from "./index.js";
import { NO_TORCH, runTorchReference, torchPython } from "./testing/torchReference.js";
import { MNIST_NORMALIZE } from "./spec.js";
import { parameterCount } from "../protocol/spec.js";
import type { Dataset, ModelSpec, TrainOptions } from "./types.js";

const python = torchPython;
const noTorch = NO_TORCH;
if (!python) console.log(`# skipped the PyTorch agreement tests: ${noTorch}`);

const cnn: ModelSpec = {
  input: [2, 10, 10],
  layers: [
    { type: "conv2d", outChannels: 4, kernel: 3, padding: 1 },
    { type: "relu" },
    { type: "maxpool2d", kernel: 2 },
    { type: "conv2d", inChannels: 4, outChannels: 6, kernel: [3, 2], stride: [1, 2], padding: [1, 0] },
    { type: "relu" },
    { type: "avgpool2d", kernel: 2, stride: 1 },
    { type: "dropout", p: 0 },
    { type: "flatten" },
    { type: "dense", units: 3 },
  ],
  loss: "cross-entropy",
};

const activation = (type: "relu" | "gelu" | "tanh" | "sigmoid"): ModelSpec => ({
  input: [6],
  layers: [{ type: "dense", units: 5 }, { type }, { type: "dense", units: 3 }],
  loss: "cross-entropy",
});

/** Deterministic inputs in [-1, 1) and labels. */
function data(count: number, features: number, classes: number, seed: number): Dataset {
  let s = seed;
  const next = () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 30) - 1;
  const x = new Float32Array(count * features).map(next);
  const y = new Uint8Array(count).map((_, i) => i % classes);
  return { count, features, x, y };
}

interface Run extends TrainOptions {
  steps: number;
  lr: number;
}

/** Full-batch runs: one batch of all samples a step, so the sample order does not matter. */
async function ours(spec: ModelSpec, weights: ReturnType<Network["weights"]>, d: Dataset, run: Run) {
  const net = Network.fromWeights(spec, weights, { device: "cpu" });
  const { steps, ...opts } = run;
  await net.train(d, { ...opts, epochs: steps, batchSize: d.count, seed: 1 });
  return net.weights();
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = a.length === b.length ? 0 : Infinity;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

t.test("conv2d, pooling, flatten and dropout map to nn.Sequential names and shapes", async (t) => {
  t.same(parameterShapes(cnn), [
    { name: "0.weight", shape: [4, 2, 3, 3] },
    { name: "0.bias", shape: [4] },
    { name: "3.weight", shape: [6, 4, 3, 2] },
    { name: "3.bias", shape: [6] },
    { name: "8.weight", shape: [3, 6 * 4 * 1] },
    { name: "8.bias", shape: [3] },
  ]);
  const net = Network.create(cnn, { seed: 1, device: "auto" });
  t.equal(net.device, "cpu", "a model the CUDA engine cannot run stays on the CPU");
  t.same(net.weights().map((w) => w.name), ["0.weight", "0.bias", "3.weight", "3.bias", "8.weight", "8.bias"]);
  const flat = net.weights().map((w) => (w.name === "0.weight" ? { ...w, shape: [4, 18] } : w));
  t.throws(() => Network.fromWeights(cnn, flat), { code: "SHAPE_MISMATCH", argument: "0.weight", message: /\[4,18\] but the model needs \[4, 2, 3, 3\]/ }, "a conv weight of the wrong rank is refused");
  const bound = 1 / Math.sqrt(2 * 9);
  t.ok(net.weights()[0].data.every((v) => Math.abs(v) <= bound), "conv weights within ±1/sqrt(fan_in) as nn.Conv2d");
});

t.test("specs that do not chain are refused naming the field and the fix", async (t) => {
  const image = (layers: unknown[], input = [1, 28, 28]) => ({ input, layers, loss: "cross-entropy" });
  const conv = { type: "conv2d", outChannels: 32, kernel: 3, padding: 1 };
  const pool = { type: "maxpool2d", kernel: 4 };
  const dense = { type: "dense", units: 10 };
  const cases: [unknown, string, RegExp, RegExp?][] = [
    [image([conv, { type: "relu" }, pool, dense]), "spec.layers[3]", /dense expects 1568 inputs but gets the \[32, 7, 7\] image/, /add \{"type":"flatten"\} before it/],
    [image([{ ...conv, kernel: 31 }, { type: "flatten" }, dense]), "spec.layers[0].kernel", /31×31 is larger than the padded input 30×30/, /or more padding/],
    [image([{ ...conv, outChannels: 0 }, { type: "flatten" }, dense]), "spec.layers[0].outChannels", /between 1 and/],
    [image([conv, { type: "flatten" }, dense], [784]), "spec.layers[0]", /needs a \[C, H, W\] image but gets \[784\] from the input/, /\[1, 28, 28\]/],
    [image([{ type: "flatten" }, conv, dense]), "spec.layers[1]", /needs a \[C, H, W\] image but gets \[784\]/, /before the flatten/],
    [image([{ ...conv, inChannels: 3 }, { type: "flatten" }, dense]), "spec.layers[0].inChannels", /is 3 but the input gives 1 channels/, /set inChannels to 1/],
    [image([conv, { type: "flatten" }, dense, { type: "relu" }]), "spec.layers[3].type", /must be "dense": the last layer gives the logits/],
    [image([{ type: "dropout", p: 1 }, dense]), "spec.layers[0].p", /probability in \[0, 1\)/],
    [image([{ type: "batchnorm" }, dense]), "spec.layers[0].type", /must be one of dense, conv2d/],
    [image([{ ...conv, kernel: [3] }, { type: "flatten" }, dense]), "spec.layers[0].kernel", /\[height, width\]/],
    [image([{ ...pool, stride: 0 }, { type: "flatten" }, dense]), "spec.layers[0].stride", /between 1 and/],
    [image([{ type: "dense", units: 8, activation: "gelu" }, dense]), "spec.layers[0].activation", /"relu" or "none"/, /\{"type":"gelu"\} as a layer of its own/],
  ];
  for (const [spec, field, message, fix] of cases) {
    t.throws(() => validateSpec(spec), { code: "BAD_SPEC", argument: field, message }, field);
    if (fix) t.throws(() => validateSpec(spec), { fix }, `${field}: the fix`);
  }
  t.throws(() => validateSpec(image([conv, { type: "relu" }, { type: "flatten" }, { type: "dense", units: 64 }, dense]), { maxParameters: 1_000_000 }), { code: "BAD_SPEC", argument: "spec.layers", message: /1\.607e\+6 parameters/ }, "the parameter budget counts conv and dense weights");
  t.throws(() => validateSpec(image([conv, { type: "flatten" }, dense]), { maxActivationBytes: 8 << 20, batch: 64 }), { code: "BAD_SPEC", argument: "spec.layers", message: /MiB of activations for a batch of 64/ }, "and the activation budget each layer's output");
});

t.test("any spec is refused with BAD_SPEC or trains and predicts finite probabilities", async (t) => {
  const seed = Number(process.env.QUACKMESH_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
  const n = (min: number, max: number) => fc.integer({ min, max });
  const side = fc.oneof(n(0, 4), fc.tuple(n(0, 4), n(0, 4)).map(([a, b]) => [a, b]));
  const layer = fc.oneof(
    fc.record({ type: fc.constant("conv2d"), outChannels: n(0, 4), kernel: side, stride: side, padding: side }, { requiredKeys: ["type", "outChannels", "kernel"] }),
    fc.record({ type: fc.constantFrom("maxpool2d", "avgpool2d"), kernel: side, stride: side }, { requiredKeys: ["type", "kernel"] }),
    fc.record({ type: fc.constant("dropout"), p: fc.double({ min: 0, max: 1, noNaN: true }) }, { requiredKeys: ["type"] }),
    fc.record({ type: fc.constantFrom("flatten", "relu", "gelu", "tanh", "sigmoid") }),
    fc.record({ type: fc.constant("dense"), units: n(1, 6), activation: fc.constantFrom("relu", "none") }),
  );
  const spec = fc.record({
    input: fc.oneof(fc.tuple(n(1, 3), n(1, 9), n(1, 9)).map((d) => [...d]), fc.tuple(n(1, 20)).map((d) => [...d])),
    layers: fc.tuple(fc.array(layer, { maxLength: 5 }), n(2, 3)).map(([ls, classes]) => [...ls, { type: "dense", units: classes }]),
    loss: fc.constant("cross-entropy"),
  });
  let accepted = 0;
  await fc.assert(
    fc.asyncProperty(spec, async (s) => {
      let clean: ModelSpec;
      try {
        clean = validateSpec(s);
      } catch (e) {
        if ((e as { code?: string }).code !== "BAD_SPEC") throw e;
        return;
      }
      accepted++;
      const net = Network.create(clean, { seed: 1, device: "cpu" });
      t.equal(net.weights().reduce((sum, w) => sum + w.data.length, 0), parameterCount(clean));
      const d = data(3, net.inputs, net.classes, 5);
      await net.train(d, { batchSize: 2, lr: 0.1, momentum: 0.5, seed: 2 });
      const probs = await net.predict(d.x, d.count);
      for (let r = 0; r < d.count; r++) {
        const row = probs.subarray(r * net.classes, (r + 1) * net.classes);
        if (!row.every(Number.isFinite) || Math.abs(row.reduce((a, b) => a + b, 0) - 1) > 1e-4) throw new Error(`row ${r}: ${Array.from(row)}`);
      }
    }),
    { seed, numRuns: 300 },
  ).catch((e: Error) => {
    throw new Error(`replay: QUACKMESH_FUZZ_SEED=${seed} npx tap native/sequential.test.ts\n${e.message}`);
  });
  t.ok(accepted > 30, `${accepted} of 300 random specs accepted and run (seed ${seed})`);
});

t.test("forward, loss and training steps agree with PyTorch", { skip: python ? false : noTorch }, async (t) => {
  const sgd: Run = { steps: 1, lr: 0.5 };
  const optimizers: Run[] = [
    sgd,
    { steps: 3, lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 0.01 },
    { steps: 3, lr: 0.1, momentum: 0.5 },
    { steps: 3, lr: 0.01, optimizer: "adam", weightDecay: 0.1 },
    { steps: 3, lr: 0.01, optimizer: "adamw", beta1: 0.8, beta2: 0.99, eps: 1e-6 },
    { steps: 3, lr: 0.1, momentum: 0.9, proximalMu: 0.5 },
  ];
  const cases = [
    { name: "small CNN", spec: cnn, d: data(12, 200, 3, 7), runs: optimizers },
    ...(["relu", "gelu", "tanh", "sigmoid"] as const).map((a) => ({ name: a, spec: activation(a), d: data(10, 6, 3, 11), runs: [sgd] })),
    { name: "regression (mse, 2 outputs)", spec: { input: [6], layers: [{ type: "dense", units: 5 }, { type: "tanh" }, { type: "dense", units: 2 }], loss: "mse" } as ModelSpec, d: { ...data(10, 6, 3, 13), y: new Uint8Array(0), targets: data(10, 2, 1, 17).x }, runs: [sgd, optimizers[3]] },
    { name: "dense only (the dense engine, Adam on a copy)", spec: { input: [6], layers: [{ type: "dense", units: 4, activation: "relu" }, { type: "dense", units: 3 }], loss: "cross-entropy" } as ModelSpec, d: data(10, 6, 3, 5), runs: [sgd, optimizers[1], optimizers[3], optimizers[5]] },
  ];
  const nets = cases.map((c, i) => Network.create(c.spec, { seed: 20 + i, device: "cpu" }));
  const ran = runTorchReference(
    cases.map((c, i) => ({
      spec: c.spec,
      weights: nets[i].weights(),
      d: c.d,
      runs: c.runs.map(({ steps, lr, momentum, nesterov, weightDecay, optimizer, beta1, beta2, eps, proximalMu }) => ({ steps, lr, momentum, nesterov, weightDecay: weightDecay ?? (optimizer === "adamw" ? 0.01 : 0), optimizer, beta1, beta2, eps, proximalMu })),
    })),
  );
  t.equal(ran.status, 0, ran.stderr);
  const torch = ran;
  for (const [i, c] of cases.entries()) {
    const probs = await nets[i].predict(c.d.x, c.d.count);
    t.ok(maxDiff(probs, torch.cases[i].probs) < 1e-5, `${c.name}: softmax outputs (max diff ${maxDiff(probs, torch.cases[i].probs).toExponential(2)})`);
    const ev = await nets[i].evaluate(c.d);
    t.ok(Math.abs(ev.loss - torch.cases[i].loss) < 1e-5, `${c.name}: loss ${ev.loss} vs ${torch.cases[i].loss}`);
    for (const [r, run] of c.runs.entries()) {
      const after = await ours(c.spec, nets[i].weights(), c.d, run);
      const worst = Math.max(...after.map((w) => maxDiff(w.data, torch.cases[i].runs[r][w.name])));
      const moved = Math.max(...after.map((w, j) => maxDiff(w.data, nets[i].weights()[j].data)));
      t.ok(worst < 2e-5 && moved > 100 * worst, `${c.name}, ${run.optimizer ?? "sgd"} ${JSON.stringify(run)}: weights after ${run.steps} step(s) within ${worst.toExponential(2)} of PyTorch's (moved ${moved.toExponential(2)})`);
    }
  }
});

t.test("a regression takes float targets and a classifier labels, each refusing the other", async (t) => {
  const reg = Network.create({ input: [4], layers: [{ type: "dense", units: 3 }], loss: "mse" }, { seed: 1 });
  const cls = Network.create({ input: [4], layers: [{ type: "dense", units: 3 }], loss: "cross-entropy" }, { seed: 1 });
  const d = data(5, 4, 3, 3);
  const targets = new Float32Array(15).fill(0.5);
  await t.rejects(reg.train(d), { code: "BAD_ARGUMENT", argument: "data.targets", message: /regression \(loss "mse"\)/ });
  await t.rejects(reg.train({ ...d, targets: targets.subarray(1) }), { code: "LENGTH_MISMATCH", argument: "data.targets" });
  await t.rejects(reg.train({ ...d, targets: targets.map((v, i) => (i === 7 ? NaN : v)) }), { code: "NON_FINITE", argument: "data.targets" });
  await t.rejects(cls.train({ ...d, targets }), { code: "BAD_ARGUMENT", argument: "data.targets", message: /classifier/ });
  const before = await reg.evaluate({ ...d, targets });
  await reg.train({ ...d, targets }, { epochs: 20, batchSize: 5, lr: 0.1 });
  const after = await reg.evaluate({ ...d, targets });
  t.ok(after.loss < before.loss / 2 && after.accuracy === 0, `mean squared error ${before.loss.toFixed(3)} → ${after.loss.toFixed(3)}`);
  t.equal((await reg.predict(d.x, d.count)).length, 15, "predict gives the raw outputs");
  t.throws(() => validateSpec({ input: [4], layers: [{ type: "dense", units: 1 }], loss: "mae" }), { code: "BAD_SPEC", argument: "spec.loss", message: /"mse" \(regression\)/ });
  t.equal(validateSpec({ input: [4], layers: [{ type: "dense", units: 1 }], loss: "mse" }).loss, "mse", "jobs take regression models too (their data loads float targets)");
});

t.test("CSV target columns load as regression targets", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "quackmesh-targets-"));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, "data.csv");
  // y1 = x1 + x2, y2 = x1 − x2, with a header row
  const rows = ["y1,y2,x1,x2", ...Array.from({ length: 40 }, (_, i) => [(i % 7) / 7, (i % 5) / 5]).map(([a, b]) => [a + b, a - b, a, b].join(","))];
  await writeFile(file, rows.join("\n"));
  const ds = await loadDataset(file, { targetColumns: 2 });
  t.match(ds, { count: 40, features: 2, y: new Uint8Array(0) });
  t.same(Array.from(ds.targets!.subarray(0, 4)), [0, 0, Math.fround(1 / 7 + 1 / 5), Math.fround(1 / 7 - 1 / 5)]);
  t.same(Array.from(subset(ds, [1]).targets!), Array.from(ds.targets!.subarray(2, 4)), "subset keeps the targets");
  const net = Network.create({ input: [2], layers: [{ type: "dense", units: 2 }], loss: "mse" }, { seed: 1 });
  await net.train(ds, { epochs: 200, batchSize: 40, lr: 0.5 });
  t.ok((await net.evaluate(ds)).loss < 1e-4, "a linear model fits the linear targets");
  await writeFile(file, "1.5,1,2\n1.5,x,2\n");
  await t.rejects(loadCsv(file, { targetColumns: 1 }), { code: "BAD_DATA", message: /line 2, column 2: "x" is not a number/ });
  await writeFile(file, "1.5,2\n");
  await t.rejects(loadCsv(file, { targetColumns: 2 }), { code: "BAD_DATA", message: /each row needs 2 targets then at least one feature/ });
  await t.rejects(loadCsv(file, { targetColumns: 0 }), { code: "BAD_ARGUMENT", message: /target columns 0/ });
  await t.rejects(loadCsv(file), { code: "BAD_DATA", message: /label "1.5" is not a class number/, fix: /targetColumns/ }, "float targets read as labels are refused");
});

t.test("training is seeded and its settings checked before any work", async (t) => {
  const d = data(40, 200, 3, 21);
  const runs = await Promise.all(
    [0, 1].map(async () => {
      const net = Network.create(cnn, { seed: 4 });
      await net.train(d, { batchSize: 8, lr: 0.05, optimizer: "adam", seed: 6 });
      return net.weights().map((w) => Array.from(w.data));
    }),
  );
  t.same(runs[0], runs[1], "same seed, data and weights: the same CNN weights after training");
  const net = Network.create(cnn, { seed: 4 });
  const before = net.weights().map((w) => Array.from(w.data));
  await t.rejects(net.train(d, { lr: NaN }), { code: "BAD_ARGUMENT", argument: "opts.lr" });
  await t.rejects(net.train(d, { optimizer: "rmsprop" as "sgd" }), { code: "BAD_ARGUMENT", argument: "opts.optimizer", message: /sgd, adam, adamw/ });
  await t.rejects(net.train(d, { optimizer: "adam", nesterov: true }), { code: "BAD_ARGUMENT", argument: "opts.nesterov" });
  await t.rejects(net.train(d, { optimizer: "adam", beta2: 1 }), { code: "BAD_ARGUMENT", argument: "opts.beta2" });
  await t.rejects(net.train(d, { weightDecay: -0.1 }), { code: "BAD_ARGUMENT", argument: "opts.weightDecay" });
  await t.rejects(net.train(d, { proximalMu: Infinity }), { code: "BAD_ARGUMENT", argument: "opts.proximalMu" });
  await t.rejects(net.train(d, { beta1: 0.5 }), { code: "BAD_ARGUMENT", argument: "opts.optimizer", message: /Adam settings/ });
  t.same(net.weights().map((w) => Array.from(w.data)), before, "refused settings change nothing");
});

t.test("dropout is the identity at evaluation and drops values in training", async (t) => {
  const withDropout: ModelSpec = { input: [8], layers: [{ type: "dense", units: 16, activation: "relu" }, { type: "dropout", p: 0.5 }, { type: "dense", units: 2 }], loss: "cross-entropy" };
  const plain: ModelSpec = { input: [8], layers: [{ type: "dense", units: 16, activation: "relu" }, { type: "dense", units: 2 }], loss: "cross-entropy" };
  const net = Network.create(withDropout, { seed: 3 });
  const w = net.weights();
  const same = Network.fromWeights(plain, w.map((x) => (x.name.startsWith("3.") ? { ...x, name: x.name.replace("3.", "2.") } : x)));
  const d = data(20, 8, 2, 9);
  t.same(Array.from(await net.predict(d.x, d.count)), Array.from(await same.predict(d.x, d.count)), "predictions as without the dropout layer");
  const a = Network.fromWeights(withDropout, w);
  const b = Network.fromWeights(plain, same.weights());
  await a.train(d, { batchSize: 20, lr: 0.5, seed: 4 });
  await b.train(d, { batchSize: 20, lr: 0.5, seed: 4 });
  t.not(a.weights()[0].data.join(), b.weights()[0].data.join(), "training with dropout takes other steps");
  const c = Network.fromWeights(withDropout, w);
  await c.train(d, { batchSize: 20, lr: 0.5, seed: 4 });
  t.same(Array.from(c.weights()[0].data), Array.from(a.weights()[0].data), "the same seed drops the same values");
});

t.test("a small CNN learns MNIST in one epoch of 2,000 images", async (t) => {
  const spec: ModelSpec = {
    input: [1, 28, 28],
    layers: [
      { type: "conv2d", outChannels: 8, kernel: 3, padding: 1 },
      { type: "relu" },
      { type: "maxpool2d", kernel: 2 },
      { type: "conv2d", outChannels: 16, kernel: 3, padding: 1 },
      { type: "relu" },
      { type: "maxpool2d", kernel: 2 },
      { type: "flatten" },
      { type: "dense", units: 10 },
    ],
    loss: "cross-entropy",
    normalize: MNIST_NORMALIZE,
  };
  const train = await loadMnist("train", { limit: 2000 });
  const test = await loadMnist("test", { limit: 1000 });
  const net = Network.create(spec, { seed: 2 });
  const before = net.weights()[0].data;
  await net.train(train, { epochs: 1, batchSize: 32, lr: 0.05, momentum: 0.9, seed: 2 });
  const ev = await net.evaluate(test);
  // 0.908 measured; a model whose convolutions did not learn stays well below
  t.ok(ev.accuracy >= 0.85, `test accuracy ${ev.accuracy} after one epoch (floor 0.85)`);
  t.ok(maxDiff(net.weights()[0].data, before) > 0.05, "the first convolution learned");
});
