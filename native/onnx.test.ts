/**
 * The ONNX export runs in onnxruntime (npm onnxruntime-node, CPU) and gives the engine's own
 * predictions (Network.predict) within 1e-4 on MNIST test rows, for an MLP and a CNN with every
 * kind of layer, and for a regression; the ONNX checker accepts the files; weights that do not
 * fit the spec are refused.
 */
import t, { type Test } from "tap";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import ort from "onnxruntime-node";
import { Network, validateSpec } from "./index.js";
import { loadMnist, subset } from "./data.js";
import { encodeOnnx, onnxModelType, ONNX_OPSET } from "./onnx.js";
import { MNIST_NORMALIZE } from "./spec.js";
import type { Dataset, ModelSpec, TrainOptions } from "./types.js";

const onnxChecker = ["python3", "/usr/bin/python3"].find((p) => spawnSync(p, ["-c", "import onnx.checker"], { stdio: "ignore" }).status === 0);
const noChecker = "no Python with `import onnx` here (Debian: apt-get install python3-onnx)";
if (!onnxChecker) console.log(`# skipped the ONNX checker test: ${noChecker}`);

const ROWS = 300;
const range = (n: number, from = 0) => Array.from({ length: n }, (_, i) => from + i);
const [train, test] = [await loadMnist("train", { limit: 2000 }), subset(await loadMnist("test"), range(ROWS))];

/** A CNN with every layer type the engine trains. */
const EVERY_LAYER: ModelSpec = {
  input: [1, 28, 28],
  layers: [
    { type: "conv2d", outChannels: 4, kernel: 3, padding: 1 }, { type: "relu" }, { type: "maxpool2d", kernel: 2 },
    { type: "conv2d", outChannels: 6, kernel: [3, 2], stride: [1, 2] }, { type: "gelu" }, { type: "avgpool2d", kernel: 2, stride: 1 }, { type: "tanh" },
    { type: "flatten" }, { type: "dropout", p: 0.25 }, { type: "dense", units: 24 }, { type: "sigmoid" }, { type: "dense", units: 10 },
  ],
  loss: "cross-entropy",
  normalize: MNIST_NORMALIZE,
};

/** A regression whose dense layer takes an image input flattened. */
const REGRESSION: ModelSpec = { input: [2, 4, 4], layers: [{ type: "dense", units: 5 }, { type: "tanh" }, { type: "dense", units: 3 }], loss: "mse" };

/** onnxruntime's output for `x` (count rows of the spec's input shape) next to the engine's predict. */
async function bothSides(t: Test, spec: ModelSpec, net: Network, x: Float32Array, count: number): Promise<{ ours: Float32Array; theirs: Float32Array }> {
  const session = await ort.InferenceSession.create(encodeOnnx(spec, net.weights()));
  const output = spec.loss === "mse" ? "outputs" : "probabilities";
  t.same([session.inputNames, session.outputNames], [["input"], [output]]);
  const result = await session.run({ input: new ort.Tensor("float32", x, [count, ...spec.input]) });
  return { ours: await net.predict(x, count), theirs: result[output].data as Float32Array };
}

function agree(t: Test, ours: Float32Array, theirs: Float32Array, classes: number): void {
  t.equal(theirs.length, ours.length, "one value per row and output");
  let worst = 0;
  for (let i = 0; i < ours.length; i++) worst = Math.max(worst, Math.abs(ours[i] - theirs[i]));
  t.ok(worst <= 1e-4, `largest difference ${worst.toExponential(2)} ≤ 1e-4 over ${ours.length / classes} rows`);
  const argmax = (p: Float32Array, row: number) => range(classes).reduce((best, c) => (p[row * classes + c] > p[row * classes + best] ? c : best), 0);
  const differ = range(ours.length / classes).filter((row) => argmax(ours, row) !== argmax(theirs, row));
  t.same(differ, [], "the same class for every row");
}

async function trained(spec: ModelSpec, data: Dataset, opts: TrainOptions): Promise<Network> {
  const net = Network.create(spec, { seed: 7 });
  await net.train(data, { momentum: 0.9, seed: 7, ...opts });
  return net;
}

t.test("an MLP: class probabilities as the engine's, and any batch size", async (t) => {
  const spec: ModelSpec = { input: [784], layers: [{ type: "dense", units: 128, activation: "relu" }, { type: "dense", units: 10 }], loss: "cross-entropy", normalize: MNIST_NORMALIZE };
  const net = await trained(spec, train, { epochs: 1, batchSize: 32, lr: 0.05 });
  const { ours, theirs } = await bothSides(t, spec, net, test.x, ROWS);
  agree(t, ours, theirs, 10);
  t.ok(Math.max(...theirs) > 0.99, "trained: confident predictions, not a near-uniform softmax");
  const one = await bothSides(t, spec, net, test.x.subarray(784, 2 * 784), 1);
  agree(t, one.ours, one.theirs, 10);
});

t.test("a CNN with conv, both pools, relu, gelu, tanh, sigmoid, flatten and dropout", async (t) => {
  const spec = EVERY_LAYER;
  const net = await trained(spec, train, { epochs: 2, batchSize: 16, lr: 0.1 });
  const { ours, theirs } = await bothSides(t, spec, net, test.x, ROWS);
  agree(t, ours, theirs, 10);
  const accuracy = range(ROWS).filter((row) => range(10).every((c) => theirs[row * 10 + c] <= theirs[row * 10 + test.y[row]])).length / ROWS;
  t.equal(accuracy, (await net.evaluate(test)).accuracy, `onnxruntime's accuracy on ${ROWS} MNIST test rows is the engine's: ${(100 * accuracy).toFixed(1)} %`);
  t.ok(accuracy > 0.8 && Math.max(...theirs) > 0.99, "trained: confident predictions, not a near-uniform softmax");
});

t.test("the benchmark CNN of issue 12 (conv 32-pool-conv 64-pool-dense 128-dense 10, untrained)", async (t) => {
  const spec: ModelSpec = {
    input: [1, 28, 28],
    layers: [
      { type: "conv2d", outChannels: 32, kernel: 3, padding: 1 }, { type: "relu" }, { type: "maxpool2d", kernel: 2 },
      { type: "conv2d", outChannels: 64, kernel: 3, padding: 1 }, { type: "relu" }, { type: "maxpool2d", kernel: 2 },
      { type: "flatten" }, { type: "dense", units: 128, activation: "relu" }, { type: "dense", units: 10 },
    ],
    loss: "cross-entropy",
    normalize: MNIST_NORMALIZE,
  };
  const { ours, theirs } = await bothSides(t, spec, Network.create(spec, { seed: 5 }), test.x.subarray(0, 100 * 784), 100);
  agree(t, ours, theirs, 10);
});

t.test("a regression on an image input that a dense layer takes flattened: raw outputs", async (t) => {
  const spec = REGRESSION;
  const net = Network.create(spec, { seed: 3 });
  const x = Float32Array.from(range(40 * 32), (i) => Math.sin(i * 0.37) * 2);
  const { ours, theirs } = await bothSides(t, spec, net, x, 40);
  agree(t, ours, theirs, 3);
});

t.test("the file: opset, a dynamic batch dimension, the spec in its metadata", async (t) => {
  const spec: ModelSpec = { input: [6], layers: [{ type: "dense", units: 4, activation: "relu" }, { type: "dense", units: 2 }], loss: "cross-entropy" };
  const model = onnxModelType().toObject(onnxModelType().decode(encodeOnnx(spec, Network.create(spec, { seed: 1 }).weights())), { longs: Number }) as {
    opset_import: Array<{ version: number }>;
    graph: { input: Array<{ type: { tensor_type: { shape: { dim: unknown[] } } } }>; node: Array<{ op_type: string }> };
    metadata_props: Array<{ key: string; value: string }>;
  };
  t.same(model.opset_import.map((o) => o.version), [ONNX_OPSET]);
  t.same(model.graph.input[0].type.tensor_type.shape.dim, [{ dim_param: "batch" }, { dim_value: 6 }]);
  t.same(model.graph.node.map((n) => n.op_type), ["Gemm", "Relu", "Gemm", "Softmax"]);
  t.same(JSON.parse(model.metadata_props[0].value), validateSpec(spec), "the spec as the engine reads it");
});

t.test("the ONNX checker (python3-onnx, full check with shape inference) accepts the files", { skip: onnxChecker ? false : noChecker }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "qm-onnx-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const files = [EVERY_LAYER, REGRESSION].map((spec, i) => {
    const file = join(dir, `model-${i}.onnx`);
    writeFileSync(file, encodeOnnx(spec, Network.create(spec, { seed: 1 }).weights()));
    return file;
  });
  const check = "import onnx, sys\nfor f in sys.argv[1:]:\n    onnx.checker.check_model(onnx.load(f), full_check=True)\nprint(onnx.__version__)";
  const ran = spawnSync(onnxChecker!, ["-c", check, ...files], { encoding: "utf8" });
  t.equal(ran.status, 0, `onnx ${ran.stdout.trim()} checked both files: ${ran.stderr.trim().split("\n").pop() ?? ""}`);
});

t.test("weights that do not fit the spec, and bad specs, are refused with a fix", async (t) => {
  const spec: ModelSpec = { input: [6], layers: [{ type: "dense", units: 4 }, { type: "dense", units: 2 }], loss: "cross-entropy" };
  const weights = Network.create(spec, { seed: 1 }).weights();
  const fix = /Export the weights this spec trains: 0\.weight \[4, 6\], 0\.bias \[4\], 1\.weight \[2, 4\], 1\.bias \[2\]/;
  t.throws(() => encodeOnnx(spec, weights.slice(1)), { code: "SHAPE_MISMATCH", message: "Tensor 0.weight is missing.", fix });
  t.throws(() => encodeOnnx(spec, [...weights, { ...weights[0], name: "5.weight" }]), { code: "SHAPE_MISMATCH", message: /5\.weight is not part/ });
  t.throws(() => encodeOnnx(spec, [{ ...weights[0], shape: [6, 4] }, ...weights.slice(1)]), { code: "SHAPE_MISMATCH", message: /has shape \[6, 4\].*needs \[4, 6\]/ });
  t.throws(() => encodeOnnx(spec, [{ ...weights[0], data: new Float32Array(3) }, ...weights.slice(1)]), { code: "SHAPE_MISMATCH", message: /\(3 values\)/ });
  t.throws(() => encodeOnnx({ ...spec, layers: [{ type: "maxpool2d", kernel: 2 }, ...spec.layers] }, weights), { code: "BAD_SPEC", fix: /\[channels, height, width\]/ });
});
