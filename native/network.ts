/** Network: a dense model trained, evaluated and run by the addon. The native object stays private. */
import { randomInt } from "node:crypto";
import { addon, call, callSync, type NativeDevice, type RawNetwork } from "./addon.js";
import { describe, fail, NativeError, requireFloat32Array, requireInteger, requireNumber, requireObject } from "./errors.js";
import { resolveDevice } from "./device.js";
import { denseLayout, inputFeatures, validateSpec, type DenseLayout } from "./spec.js";
import type { Dataset, Device, EvalResult, ModelSpec, Tensor, TrainOptions, TrainProgress } from "./types.js";

const MAX_SEED = Number.MAX_SAFE_INTEGER;

function requireDataset(data: unknown, features: number, classes: number): Dataset {
  const d = requireObject(data, "data");
  const count = requireInteger(d.count, "data.count", 1);
  if (d.features !== features) fail("SHAPE_MISMATCH", "data.features", `data.features is ${describe(d.features)} but the model takes ${features} inputs`);
  const x = requireFloat32Array(d.x, "data.x");
  if (x.length !== count * features) fail("LENGTH_MISMATCH", "data.x", `data.x has ${x.length} values but count × features is ${count * features}`);
  if (!(d.y instanceof Uint8Array)) fail("BAD_ARGUMENT", "data.y", `data.y must be a Uint8Array of labels, got ${describe(d.y)}`);
  if (d.y.length !== count) fail("LENGTH_MISMATCH", "data.y", `data.y has ${d.y.length} labels for ${count} samples`);
  const y = d.y;
  for (let i = 0; i < y.length; i++) if (y[i] >= classes) fail("BAD_ARGUMENT", "data.y", `data.y[${i}] is ${y[i]} but the model has ${classes} classes (0..${classes - 1})`);
  return { count, features, x, y };
}

/**
 * Standardized copies of input arrays, per (array, mean, std): the orchestrator evaluates many
 * updates on one validation set, so each set is transformed once, not once per update.
 */
const standardized = new WeakMap<Float32Array, Map<string, Float32Array>>();

function standardize(x: Float32Array, norm: ModelSpec["normalize"]): Float32Array {
  if (!norm) return x;
  const key = `${norm.mean}/${norm.std}`;
  let byNorm = standardized.get(x);
  const hit = byNorm?.get(key);
  if (hit) return hit;
  const out = new Float32Array(x.length);
  const inv = 1 / norm.std;
  for (let i = 0; i < x.length; i++) out[i] = (x[i] - norm.mean) * inv;
  if (!byNorm) standardized.set(x, (byNorm = new Map()));
  byNorm.set(key, out);
  return out;
}

export class Network {
  readonly device: "cpu" | "cuda";
  readonly spec: ModelSpec;
  readonly #native: RawNetwork;
  readonly #layout: DenseLayout[];
  #tail: Promise<unknown> = Promise.resolve();
  #pending = 0;

  private constructor(spec: ModelSpec, device: NativeDevice) {
    this.spec = spec;
    this.device = device;
    this.#layout = denseLayout(spec);
    const Raw = addon().Network;
    this.#native = callSync(() => new Raw(this.#layout.map((l) => ({ in: l.in, out: l.out, relu: l.relu })), device));
  }

  /** A fresh network, initialized like PyTorch's nn.Linear (uniform ±1/sqrt(fan_in)). */
  static create(spec: ModelSpec, opts: { seed?: number; device?: Device } = {}): Network {
    const o = requireObject(opts, "opts");
    const clean = validateSpec(spec);
    const seed = o.seed === undefined ? randomInt(2 ** 47) : requireInteger(o.seed, "opts.seed", 0, MAX_SEED);
    const net = new Network(clean, resolveDevice(o.device));
    callSync(() => net.#native.init(seed));
    return net;
  }

  /** A network holding the given tensors (names and shapes as parameterShapes(spec) lists them). */
  static fromWeights(spec: ModelSpec, tensors: Tensor[], opts: { device?: Device } = {}): Network {
    const o = requireObject(opts, "opts");
    const clean = validateSpec(spec);
    if (!Array.isArray(tensors)) fail("BAD_ARGUMENT", "tensors", `tensors must be an array of {name, shape, data}, got ${describe(tensors)}`);
    const byName = new Map<string, Tensor>();
    tensors.forEach((t, i) => {
      const obj = requireObject(t, `tensors[${i}]`);
      if (typeof obj.name !== "string") fail("BAD_ARGUMENT", `tensors[${i}].name`, `tensors[${i}].name must be a string`);
      if (byName.has(obj.name)) fail("SHAPE_MISMATCH", obj.name, `tensor ${obj.name} appears twice`);
      byName.set(obj.name, t);
    });
    const layout = denseLayout(clean);
    const expected = new Set(layout.flatMap((l) => [`${l.index}.weight`, `${l.index}.bias`]));
    for (const name of byName.keys()) if (!expected.has(name)) fail("SHAPE_MISMATCH", name, `tensor ${name} is not part of this model (expected ${[...expected].join(", ")})`);
    const take = (name: string, shape: number[]): Float32Array => {
      const t = byName.get(name);
      if (!t) fail("SHAPE_MISMATCH", name, `tensor ${name} is missing`);
      if (!Array.isArray(t.shape) || t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i]))
        fail("SHAPE_MISMATCH", name, `tensor ${name} has shape [${String(t.shape)}] but the model needs [${shape.join(", ")}]`);
      const data = requireFloat32Array(t.data, `${name}.data`);
      if (data.length !== shape.reduce((a, b) => a * b, 1)) fail("SHAPE_MISMATCH", name, `tensor ${name} holds ${data.length} values for shape [${shape.join(", ")}]`);
      for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i])) fail("NON_FINITE", name, `tensor ${name} holds a non-finite value at index ${i}`);
      return data;
    };
    const weights = layout.map((l) => [take(`${l.index}.weight`, [l.out, l.in]), take(`${l.index}.bias`, [l.out])] as const);
    const net = new Network(clean, resolveDevice(o.device));
    weights.forEach(([w, b], l) => callSync(() => net.#native.setLayer(l, w, b)));
    return net;
  }

  get inputs(): number {
    return inputFeatures(this.spec);
  }

  get classes(): number {
    return this.#layout[this.#layout.length - 1].out;
  }

  /** A checked data set with inputs standardized as the spec asks. */
  #prepare(data: Dataset): Dataset {
    const d = requireDataset(data, this.inputs, this.classes);
    return { ...d, x: standardize(d.x, this.spec.normalize) };
  }

  /** Runs calls one after another: the native network does one thing at a time. */
  #enqueue<T>(fn: () => Promise<T>): Promise<T> {
    this.#pending++;
    const run = this.#tail.then(fn, fn);
    this.#tail = run.then(
      () => this.#pending--,
      () => this.#pending--,
    );
    return run;
  }

  /** Mini-batch SGD (optional momentum) on softmax cross-entropy; returns mean loss and accuracy over the epochs. */
  async train(data: Dataset, opts: TrainOptions = {}): Promise<EvalResult> {
    const d = this.#prepare(data);
    const o = requireObject(opts, "opts");
    const epochs = o.epochs === undefined ? 1 : requireInteger(o.epochs, "opts.epochs", 1, 100000);
    const batchSize = o.batchSize === undefined ? 32 : requireInteger(o.batchSize, "opts.batchSize", 1, 1 << 20);
    const lr = o.lr === undefined ? 0.01 : requireNumber(o.lr, "opts.lr", (v) => v > 0, "a finite number > 0");
    const momentum = o.momentum === undefined ? 0 : requireNumber(o.momentum, "opts.momentum", (v) => v >= 0 && v < 1, "a number in [0, 1)");
    const seed = o.seed === undefined ? randomInt(2 ** 47) : requireInteger(o.seed, "opts.seed", 0, MAX_SEED);
    if (o.onProgress !== undefined && typeof o.onProgress !== "function") fail("BAD_ARGUMENT", "opts.onProgress", "opts.onProgress must be a function");
    const onProgress = o.onProgress as ((p: TrainProgress) => void) | undefined;
    let settled = false;
    const progress = onProgress && ((p: TrainProgress) => {
      if (!settled) onProgress(p);
    });
    try {
      return await this.#enqueue(() => call(() => this.#native.train(d.x, d.y, d.count, d.features, { epochs, batchSize, lr, momentum, seed }, progress)));
    } finally {
      settled = true;
    }
  }

  /** Mean loss and accuracy on a data set, without changing the weights. */
  async evaluate(data: Dataset): Promise<EvalResult> {
    const d = this.#prepare(data);
    return this.#enqueue(() => call(() => this.#native.evaluate(d.x, d.y, d.count, d.features)));
  }

  /** Softmax probabilities, count × classes, row-major. */
  async predict(x: Float32Array, count: number): Promise<Float32Array> {
    const input = requireFloat32Array(x, "x");
    const n = requireInteger(count, "count", 1);
    if (input.length !== n * this.inputs) fail("LENGTH_MISMATCH", "x", `x has ${input.length} values but count × ${this.inputs} inputs is ${n * this.inputs}`);
    const ready = standardize(input, this.spec.normalize);
    return this.#enqueue(() => call(() => this.#native.predict(ready, n)));
  }

  /** The current weights as PyTorch-named tensors (copies). */
  weights(): Tensor[] {
    if (this.#pending > 0) throw new NativeError("BUSY", "the network is training or evaluating: await that call before reading weights()");
    return this.#layout.flatMap((l, i) => {
      const [w, b] = callSync(() => this.#native.getLayer(i));
      return [
        { name: `${l.index}.weight`, shape: [l.out, l.in], data: w },
        { name: `${l.index}.bias`, shape: [l.out], data: b },
      ];
    });
  }
}
