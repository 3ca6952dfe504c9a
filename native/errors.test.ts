import { spawnSync } from "node:child_process";
import { extname } from "node:path";
import { fileURLToPath } from "node:url";
import t from "tap";
import { addon, call, callSync } from "./addon.js";
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
  t.throws(() => validateSpec({ ...spec, loss: "mae" }), { code: "BAD_SPEC", argument: "spec.loss" });
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

t.test("CUDA is used where a GPU is usable and refused where none is", async (t) => {
  t.ok(new NativeError("CUDA_UNAVAILABLE", "m") instanceof Error);
  if (deviceInfo().cuda) {
    t.comment(`GPU present (${deviceInfo().gpuName ?? "unnamed"}): checking that "cuda" and "auto" run on it`);
    t.equal(Network.create(spec, { device: "cuda", seed: 1 }).device, "cuda", "device: \"cuda\" is accepted");
    t.equal(Network.create(spec, { device: "auto", seed: 1 }).device, "cuda", "auto picks the GPU");
    t.same(Array.from(await fedAvg([x(3, 1), x(3, 4)], [1, 2], { device: "cuda" })), [3, 3, 3], "fedAvg runs on the GPU");
    const acc = new FedAvgAccumulator(4, { device: "cuda" });
    t.equal(acc.device, "cuda");
    await acc.add(x(4, 2), 1);
    t.same(Array.from(await acc.result()), [2, 2, 2, 2], "the accumulator runs on the GPU");
    return;
  }
  t.comment("no usable GPU: checking that \"cuda\" is refused and \"auto\" falls back");
  await t.rejects(fedAvg([x(3)], [1], { device: "cuda" }), { code: "CUDA_UNAVAILABLE", argument: "opts.device" });
  t.throws(() => Network.create(spec, { device: "cuda" }), { code: "CUDA_UNAVAILABLE" });
  t.throws(() => new FedAvgAccumulator(4, { device: "cuda" }), { code: "CUDA_UNAVAILABLE" });
  t.equal(Network.create(spec, { device: "auto" }).device, "cpu", "auto falls back to the CPU");
});

// A spec whose weights cannot exist: 10^12 inputs × 1024 units (4 PB), and one whose weight count
// overflows 64 bits (2^52 × 2^20). Neither may abort the process.
const hugeSpec: ModelSpec = { input: [1_000_000, 1_000_000], layers: [{ type: "dense", units: 1024 }, { type: "dense", units: 2 }], loss: "cross-entropy" };
const overflowSpec: ModelSpec = { input: [1 << 26, 1 << 26], layers: [{ type: "dense", units: 1 << 20 }, { type: "dense", units: 2 }], loss: "cross-entropy" };

t.test("a spec too large for memory is a NativeError, not a crash", async (t) => {
  for (const [name, big] of [["huge", hugeSpec], ["overflowing", overflowSpec]] as const) {
    let caught: unknown;
    try {
      Network.create(big, { seed: 1, device: "cpu" });
    } catch (e) {
      caught = e;
    }
    t.ok(caught instanceof NativeError, `the ${name} spec throws a NativeError`);
    t.ok(["BAD_SPEC", "OUT_OF_MEMORY"].includes((caught as NativeError).code), `the ${name} spec gives BAD_SPEC or OUT_OF_MEMORY (got ${(caught as NativeError).code})`);
  }
  t.same(Array.from(await fedAvg([x(2, 1), x(2, 3)], [1, 1], { device: "cpu" })), [2, 2], "the process is alive and the engine still works");
});

// Under AddressSanitizer (a QM_SANITIZE build, with libasan preloaded) operator new reports a
// failed allocation and exits instead of throwing std::bad_alloc, so those checks cannot run.
const underAsan = /libasan/.test(process.env.LD_PRELOAD ?? "");

t.test("the addon itself turns C++ exceptions into coded errors", async (t) => {
  // Straight to the binding, past the facade's checks: what the native guard does on its own.
  const raw = addon();
  t.throws(
    () => callSync(() => new raw.Network([{ in: 2 ** 52, out: 2 ** 20, relu: false }], "cpu")),
    { name: "NativeError", code: "BAD_SPEC", argument: "layers[0]", message: /overflows/ },
    "an overflowing weight count is BAD_SPEC, not a wrapped size",
  );
  if (underAsan) {
    t.comment("AddressSanitizer: std::bad_alloc cannot be observed, OUT_OF_MEMORY checks not run");
  } else {
    t.throws(() => callSync(() => new raw.Network([{ in: 1e12, out: 1024, relu: false }], "cpu")), { name: "NativeError", code: "OUT_OF_MEMORY" }, "std::bad_alloc becomes OUT_OF_MEMORY");
    t.throws(() => callSync(() => new raw.Accumulator(2 ** 52, "cpu")), { name: "NativeError", code: "OUT_OF_MEMORY" }, "an accumulator too large for memory");
    await t.rejects(call(() => raw.memcpyBandwidth(2 ** 52, 1)), { name: "NativeError", code: "OUT_OF_MEMORY" }, "an allocation failing on a worker thread rejects the Promise");
  }
  const net = new raw.Network([{ in: 4, out: 2, relu: false }], "cpu");
  net.init(1);
  const opts = { epochs: 1, batchSize: 2, lr: 0.1, momentum: 0, seed: 1 };
  await t.rejects(call(() => net.train(x(8), new Uint8Array([0, 5]), 2, 4, opts, () => {})), { code: "BAD_ARGUMENT", argument: "data.y" });
  const after = await call(() => net.evaluate(x(8), new Uint8Array([0, 1]), 2, 4));
  t.equal(after.samples, 2, "after a failed call the network takes calls again (not BUSY)");
});

t.test("a failed training call with a progress callback lets the process exit", async (t) => {
  // The callback is released however the call ends; held, it would keep Node's event loop alive.
  const script = `
    import { addon } from ${JSON.stringify(new URL(`./addon${extname(fileURLToPath(import.meta.url))}`, import.meta.url).href)};
    const net = new (addon().Network)([{ in: 4, out: 2, relu: false }], "cpu");
    net.init(1);
    net.train(new Float32Array(8), new Uint8Array([0, 9]), 2, 4, { epochs: 1, batchSize: 2, lr: 0.1, momentum: 0, seed: 1 }, () => {})
      .then(() => console.log("resolved"), (e) => console.log("rejected " + e.code));
  `;
  // execArgv carries the TypeScript loader when the test runs from source
  const child = spawnSync(process.execPath, [...process.execArgv, "--input-type=module", "-e", script], { encoding: "utf8", timeout: 60_000, env: process.env });
  t.equal(child.signal, null, "the child exits by itself, before the timeout");
  t.equal(child.status, 0, child.status === 0 ? "with status 0" : `with status 0 (stderr: ${child.stderr.slice(-500)})`);
  t.match(child.stdout, /rejected BAD_ARGUMENT/);
});
