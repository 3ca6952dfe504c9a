import t from "tap";
import { FedAvgAccumulator, Network, NativeError, deviceInfo, fedAvg, krum, median, trimmedMean, validateSpec } from "./index.js";
import type { ModelSpec } from "./types.js";

const x = (n: number, v = 1) => new Float32Array(n).fill(v);
const spec: ModelSpec = { input: [4], layers: [{ type: "dense", units: 3, activation: "relu" }, { type: "dense", units: 2 }], loss: "cross-entropy" };

t.test("fedAvg rejects bad arguments with a code naming the argument", async (t) => {
  await t.rejects(fedAvg([], []), { name: "NativeError", code: "EMPTY_INPUT", argument: "inputs" });
  await t.rejects(fedAvg("nope" as never, [1]), { code: "BAD_ARGUMENT", argument: "inputs" });
  await t.rejects(fedAvg([x(3), [1, 2, 3] as never], [1, 1]), { code: "BAD_ARGUMENT", argument: "inputs[1]", message: /Float32Array/ });
  await t.rejects(fedAvg([x(3), x(4)], [1, 1]), { code: "LENGTH_MISMATCH", argument: "inputs[1]", message: /length 4/ });
  await t.rejects(fedAvg([x(0)], [1]), { code: "EMPTY_INPUT", argument: "inputs[0]" });
  await t.rejects(fedAvg([x(3), x(3)], [1]), { code: "LENGTH_MISMATCH", argument: "weights" });
  await t.rejects(fedAvg([x(3), x(3), x(3), x(3)], [1, 1, 1, NaN]), { code: "BAD_WEIGHT", argument: "weights[3]", message: "weights[3] is NaN" });
  await t.rejects(fedAvg([x(3), x(3)], [Infinity, 1]), { code: "BAD_WEIGHT", argument: "weights[0]", message: /Infinity/ });
  await t.rejects(fedAvg([x(3), x(3)], [1, -2]), { code: "BAD_WEIGHT", argument: "weights[1]", message: /negative/ });
  await t.rejects(fedAvg([x(3), x(3)], [1, "2" as never]), { code: "BAD_WEIGHT", argument: "weights[1]" });
  await t.rejects(fedAvg([x(3), x(3)], [0, 0]), { code: "ZERO_TOTAL_WEIGHT", argument: "weights" });
  await t.rejects(fedAvg([x(3)], [1], { device: "tpu" as never }), { code: "BAD_ARGUMENT", argument: "opts.device" });
  await t.rejects(fedAvg([x(3)], [1], { checkFinite: "yes" as never }), { code: "BAD_ARGUMENT", argument: "opts.checkFinite" });
});

t.test("checkFinite reports NON_FINITE naming the input", async (t) => {
  const bad = x(100_000);
  bad[77_777] = NaN;
  await t.rejects(fedAvg([x(100_000), x(100_000), bad], [1, 1, 1], { checkFinite: true }), { code: "NON_FINITE", argument: "inputs[2]", message: /index 77777/ });
  const inf = x(10);
  inf[3] = -Infinity;
  await t.rejects(median([inf, x(10)], { checkFinite: true }), { code: "NON_FINITE", argument: "inputs[0]" });
  const out = await fedAvg([x(10), inf], [1, 1]);
  t.equal(out[3], -Infinity, "without checkFinite the values pass through");
});

t.test("robust aggregators check their parameters", async (t) => {
  await t.rejects(trimmedMean([x(3), x(3)], 0.5), { code: "BAD_ARGUMENT", argument: "beta" });
  await t.rejects(trimmedMean([x(3), x(3)], -0.1), { code: "BAD_ARGUMENT", argument: "beta" });
  await t.rejects(trimmedMean([x(3), x(3)], NaN), { code: "BAD_ARGUMENT", argument: "beta" });
  await t.rejects(krum([x(3), x(3), x(3)], 1), { code: "BAD_ARGUMENT", argument: "f", message: /more than f \+ 2/ });
  await t.rejects(krum([x(3), x(3), x(3), x(3)], 1.5), { code: "BAD_ARGUMENT", argument: "f" });
  await t.rejects(krum([x(3), x(3), x(3), x(3)], 1, { m: 4 }), { code: "BAD_ARGUMENT", argument: "opts.m" });
  await t.rejects(median([]), { code: "EMPTY_INPUT", argument: "inputs" });
});

t.test("the accumulator checks each add and changes nothing on failure", async (t) => {
  t.throws(() => new FedAvgAccumulator(0), { code: "BAD_ARGUMENT", argument: "length" });
  const acc = new FedAvgAccumulator(4, { checkFinite: true });
  await t.rejects(acc.result(), { code: "EMPTY_INPUT", argument: "accumulator" });
  await t.rejects(acc.add(x(5), 1), { code: "LENGTH_MISMATCH", argument: "x" });
  await t.rejects(acc.add(x(4), NaN), { code: "BAD_WEIGHT", argument: "weight", message: "weight is NaN" });
  await t.rejects(acc.add(x(4), -1), { code: "BAD_WEIGHT", argument: "weight" });
  await t.rejects(acc.add(x(4, NaN), 1), { code: "NON_FINITE", argument: "x" });
  t.equal(acc.count, 0, "failed adds are not counted");
  await acc.add(x(4), 0);
  await t.rejects(acc.result(), { code: "ZERO_TOTAL_WEIGHT", argument: "weights" });
  await acc.add(x(4, 2), 3);
  t.same(Array.from(await acc.result()), [2, 2, 2, 2]);
});

t.test("specs and weights are checked field by field", async (t) => {
  t.throws(() => validateSpec(null), { code: "BAD_SPEC", argument: "spec" });
  t.throws(() => validateSpec({ ...spec, input: [] }), { code: "BAD_SPEC", argument: "spec.input" });
  t.throws(() => validateSpec({ ...spec, input: [0] }), { code: "BAD_SPEC", argument: "spec.input[0]" });
  t.throws(() => validateSpec({ ...spec, loss: "mse" }), { code: "BAD_SPEC", argument: "spec.loss" });
  t.throws(() => validateSpec({ ...spec, layers: [{ type: "conv", units: 3 }, { type: "dense", units: 2 }] }), { code: "BAD_SPEC", argument: "spec.layers[0].type" });
  t.throws(() => validateSpec({ ...spec, layers: [{ type: "dense", units: 2.5 }] }), { code: "BAD_SPEC", argument: "spec.layers[0].units" });
  t.throws(() => validateSpec({ ...spec, layers: [{ type: "dense", units: 3, activation: "tanh" }, { type: "dense", units: 2 }] }), { code: "BAD_SPEC", argument: "spec.layers[0].activation" });
  t.throws(() => validateSpec({ ...spec, layers: [{ type: "dense", units: 2, activation: "relu" }] }), { code: "BAD_SPEC", argument: "spec.layers[0].activation" });
  t.throws(() => validateSpec({ ...spec, extra: 1 }), { code: "BAD_SPEC", argument: "spec.extra" });
  t.throws(() => Network.create({ ...spec, layers: [] }), { code: "BAD_SPEC", argument: "spec.layers" });
  const good = Network.create(spec, { seed: 3 }).weights();
  t.throws(() => Network.fromWeights(spec, good.slice(1)), { code: "SHAPE_MISMATCH", argument: "0.weight", message: /missing/ });
  t.throws(() => Network.fromWeights(spec, [...good.slice(1), { ...good[0], shape: [4, 3] }]), { code: "SHAPE_MISMATCH", argument: "0.weight", message: /\[3, 4\]/ });
  t.throws(() => Network.fromWeights(spec, [...good, { name: "4.weight", shape: [1], data: x(1) }]), { code: "SHAPE_MISMATCH", argument: "4.weight" });
  const nan = good.map((g) => ({ ...g, data: g.data.slice() }));
  nan[3].data[1] = NaN;
  t.throws(() => Network.fromWeights(spec, nan), { code: "NON_FINITE", argument: "2.bias" });
  t.throws(() => Network.create(spec, { seed: -1 }), { code: "BAD_ARGUMENT", argument: "opts.seed" });
});

t.test("training and prediction check the data", async (t) => {
  const net = Network.create(spec, { seed: 1 });
  const data = { count: 2, features: 4, x: x(8, 0.5), y: new Uint8Array([0, 1]) };
  await t.rejects(net.train({ ...data, features: 5 }), { code: "SHAPE_MISMATCH", argument: "data.features" });
  await t.rejects(net.train({ ...data, x: x(7) }), { code: "LENGTH_MISMATCH", argument: "data.x" });
  await t.rejects(net.train({ ...data, y: new Uint8Array([0, 2]) }), { code: "BAD_ARGUMENT", argument: "data.y", message: /data.y\[1\] is 2/ });
  await t.rejects(net.train({ ...data, count: 0 }), { code: "BAD_ARGUMENT", argument: "data.count" });
  await t.rejects(net.train(data, { lr: -1 }), { code: "BAD_ARGUMENT", argument: "opts.lr" });
  await t.rejects(net.train(data, { batchSize: 0 }), { code: "BAD_ARGUMENT", argument: "opts.batchSize" });
  await t.rejects(net.train(data, { momentum: 1 }), { code: "BAD_ARGUMENT", argument: "opts.momentum" });
  await t.rejects(net.predict(x(7), 2), { code: "LENGTH_MISMATCH", argument: "x" });
  const running = net.train(data, { epochs: 200 });
  t.throws(() => net.weights(), { code: "BUSY" }, "weights() refuses while training runs");
  await running;
  t.equal(net.weights().length, 4);
});

t.test("CUDA requested where none is usable", async (t) => {
  if (deviceInfo().cuda) {
    t.pass("a GPU is present: nothing to refuse");
    return;
  }
  await t.rejects(fedAvg([x(3)], [1], { device: "cuda" }), { code: "CUDA_UNAVAILABLE", argument: "opts.device" });
  t.throws(() => Network.create(spec, { device: "cuda" }), { code: "CUDA_UNAVAILABLE" });
  t.equal(Network.create(spec, { device: "auto" }).device, "cpu", "auto falls back to the CPU");
  t.ok(new NativeError("CUDA_UNAVAILABLE", "m") instanceof Error);
});
