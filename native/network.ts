/**
 * Network: a model trained, evaluated and run by the addon. The native object stays private.
 * Dense-only specs run on the dense engine (CPU or CUDA, plain or momentum SGD); any other spec
 * on the Sequential engine (CPU or CUDA); a dense model with another
 * optimizer on a Sequential copy on the same device.
 */
import { randomInt } from "node:crypto";
import { addon, call, callSync, type NativeDevice, type RawNetwork, type RawTrainOptions } from "./addon.js";
import { describe, fail, NativeError, requireFloat32Array, requireInteger, requireNumber, requireObject } from "./errors.js";
import { resolveDevice } from "./device.js";
import { denseLayout, engineLayout, inputFeatures, isDenseOnly, outputCount, parameterLayout, validateSpec } from "./spec.js";
import type { Dataset, Device, EvalResult, ModelSpec, Tensor, TrainOptions, TrainProgress } from "./types.js";

const MAX_SEED = Number.MAX_SAFE_INTEGER;
const OPTIMIZERS = ["sgd", "adam", "adamw"] as const;

/** The dense engine's layers for a dense-only spec, else the Sequential engine's model. */
function rawModel(spec: ModelSpec, dense: boolean) {
  return dense ? denseLayout(spec).map((l) => ({ in: l.in, out: l.out, relu: l.relu })) : engineLayout(spec);
}

/** Checked optimizer settings; defaults as torch.optim's (AdamW's weight decay 0.01). */
function readOptimizer(o: Record<string, unknown>, momentum: number): Pick<RawTrainOptions, "optimizer" | "nesterov" | "weightDecay" | "beta1" | "beta2" | "eps"> {
  const optimizer = o.optimizer ?? "sgd";
  if (!OPTIMIZERS.includes(optimizer as (typeof OPTIMIZERS)[number])) fail("BAD_ARGUMENT", "opts.optimizer", `opts.optimizer must be one of ${OPTIMIZERS.join(", ")}, got ${describe(optimizer)}`);
  const kind = optimizer as (typeof OPTIMIZERS)[number];
  if (o.nesterov !== undefined && typeof o.nesterov !== "boolean") fail("BAD_ARGUMENT", "opts.nesterov", `opts.nesterov must be a boolean, got ${describe(o.nesterov)}`);
  const nesterov = o.nesterov === true;
  if (nesterov && (kind !== "sgd" || momentum === 0)) fail("BAD_ARGUMENT", "opts.nesterov", "opts.nesterov needs the sgd optimizer with a momentum > 0");
  const weightDecay = o.weightDecay === undefined ? (kind === "adamw" ? 0.01 : 0) : requireNumber(o.weightDecay, "opts.weightDecay", (v) => v >= 0, "a finite number >= 0");
  const beta = (v: unknown, name: string, fallback: number) => (v === undefined ? fallback : requireNumber(v, name, (x) => x >= 0 && x < 1, "a number in [0, 1)"));
  const beta1 = beta(o.beta1, "opts.beta1", 0.9);
  const beta2 = beta(o.beta2, "opts.beta2", 0.999);
  const eps = o.eps === undefined ? 1e-8 : requireNumber(o.eps, "opts.eps", (v) => v > 0, "a finite number > 0");
  if (kind === "sgd" && (o.beta1 !== undefined || o.beta2 !== undefined || o.eps !== undefined)) fail("BAD_ARGUMENT", "opts.optimizer", "beta1, beta2 and eps are Adam settings: pass optimizer \"adam\" or \"adamw\"");
  return { optimizer: kind, nesterov, weightDecay, beta1, beta2, eps };
}

function requireDataset(data: unknown, features: number, classes: number, loss: ModelSpec["loss"]): Dataset {
  const d = requireObject(data, "data");
  const count = requireInteger(d.count, "data.count", 1);
  if (d.features !== features) fail("SHAPE_MISMATCH", "data.features", `data.features is ${describe(d.features)} but the model takes ${features} inputs`);
  const x = requireFloat32Array(d.x, "data.x");
  if (x.length !== count * features) fail("LENGTH_MISMATCH", "data.x", `data.x has ${x.length} values but count × features is ${count * features}`);
  if (loss === "mse") {
    if (!(d.targets instanceof Float32Array)) fail("BAD_ARGUMENT", "data.targets", `the model is a regression (loss "mse"): data.targets must be a Float32Array of count × ${classes} targets, got ${describe(d.targets)}`);
    if (d.targets.length !== count * classes) fail("LENGTH_MISMATCH", "data.targets", `data.targets has ${d.targets.length} values but count × outputs is ${count * classes}`);
    const t = d.targets;
    for (let i = 0; i < t.length; i++) if (!Number.isFinite(t[i])) fail("NON_FINITE", "data.targets", `data.targets[${i}] is ${t[i]}`);
    return { count, features, x, y: new Uint8Array(0), targets: t };
  }
  if (d.targets !== undefined) fail("BAD_ARGUMENT", "data.targets", "the model is a classifier (loss \"cross-entropy\"): it takes labels (data.y), not regression targets; use a spec with \"loss\":\"mse\" for regression");
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
  /** true: the dense engine (an Mlp); false: the Sequential engine (both on CPU or CUDA) */
  readonly #dense: boolean;
  readonly #params: ReturnType<typeof parameterLayout>;
  #tail: Promise<unknown> = Promise.resolve();
  #pending = 0;

  private constructor(spec: ModelSpec, device: NativeDevice) {
    this.spec = spec;
    this.#dense = isDenseOnly(spec);
    this.device = device;
    this.#params = parameterLayout(spec);
    const Raw = addon().Network;
    this.#native = callSync(() => new Raw(rawModel(spec, this.#dense), this.device));
  }

  /** A fresh network, initialized like PyTorch's nn.Linear and nn.Conv2d (uniform ±1/sqrt(fan_in)). */
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
    const layout = parameterLayout(clean);
    const expected = new Set(layout.flatMap((l) => [l.weight.name, l.bias.name]));
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
    const weights = layout.map((l) => [take(l.weight.name, l.weight.shape), take(l.bias.name, l.bias.shape)] as const);
    const net = new Network(clean, resolveDevice(o.device));
    weights.forEach(([w, b], l) => callSync(() => net.#native.setLayer(l, w, b)));
    return net;
  }

  get inputs(): number {
    return inputFeatures(this.spec);
  }

  get classes(): number {
    return outputCount(this.spec);
  }

  /** A checked data set with inputs standardized as the spec asks. */
  #prepare(data: Dataset): Dataset {
    const d = requireDataset(data, this.inputs, this.classes, this.spec.loss);
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

  /**
   * Mini-batch training on softmax cross-entropy: SGD (momentum, Nesterov, weight decay), Adam or
   * AdamW as torch.optim defines them, with FedProx's proximal term when proximalMu > 0; the
   * optimizer's state lives for this call only. Returns
   * mean loss and accuracy over the epochs.
   */
  async train(data: Dataset, opts: TrainOptions = {}): Promise<EvalResult> {
    const d = this.#prepare(data);
    const o = requireObject(opts, "opts");
    const epochs = o.epochs === undefined ? 1 : requireInteger(o.epochs, "opts.epochs", 1, 100000);
    const batchSize = o.batchSize === undefined ? 32 : requireInteger(o.batchSize, "opts.batchSize", 1, 1 << 20);
    const lr = o.lr === undefined ? 0.01 : requireNumber(o.lr, "opts.lr", (v) => v > 0, "a finite number > 0");
    const momentum = o.momentum === undefined ? 0 : requireNumber(o.momentum, "opts.momentum", (v) => v >= 0 && v < 1, "a number in [0, 1)");
    const seed = o.seed === undefined ? randomInt(2 ** 47) : requireInteger(o.seed, "opts.seed", 0, MAX_SEED);
    const optimizer = { ...readOptimizer(o, momentum), proximalMu: o.proximalMu === undefined ? 0 : requireNumber(o.proximalMu, "opts.proximalMu", (v) => v >= 0, "a finite number >= 0") };
    if (o.onProgress !== undefined && typeof o.onProgress !== "function") fail("BAD_ARGUMENT", "opts.onProgress", "opts.onProgress must be a function");
    const onProgress = o.onProgress as ((p: TrainProgress) => void) | undefined;
    let settled = false;
    const progress = onProgress && ((p: TrainProgress) => {
      if (!settled) onProgress(p);
    });
    try {
      const settings: RawTrainOptions = { epochs, batchSize, lr, momentum, seed };
      const plainSgd = optimizer.optimizer === "sgd" && !optimizer.nesterov && optimizer.weightDecay === 0 && optimizer.proximalMu === 0;
      if (!this.#dense || plainSgd) {
        if (!this.#dense) Object.assign(settings, optimizer);
        return await this.#enqueue(() => call(() => this.#native.train(d.x, d.targets ?? d.y, d.count, d.features, settings, progress)));
      }
      // A dense model with an optimizer the dense engine lacks: trained by the Sequential engine
      // (on the same device) on a copy of its weights, which are copied back.
      return await this.#enqueue(async () => {
        const Raw = addon().Network;
        const seq = callSync(() => new Raw(rawModel(this.spec, false), this.device));
        this.#params.forEach((_, i) => {
          const [w, b] = callSync(() => this.#native.getLayer(i));
          callSync(() => seq.setLayer(i, w, b));
        });
        const result = await call(() => seq.train(d.x, d.y, d.count, d.features, { ...settings, ...optimizer }, progress));
        this.#params.forEach((_, i) => {
          const [w, b] = callSync(() => seq.getLayer(i));
          callSync(() => this.#native.setLayer(i, w, b));
        });
        return result;
      });
    } finally {
      settled = true;
    }
  }

  /** Mean loss and accuracy on a data set, without changing the weights. */
  async evaluate(data: Dataset): Promise<EvalResult> {
    const d = this.#prepare(data);
    return this.#enqueue(() => call(() => this.#native.evaluate(d.x, d.targets ?? d.y, d.count, d.features)));
  }

  /** Softmax probabilities, count × classes, row-major (a regression's raw outputs). */
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
    return this.#params.flatMap((l, i) => {
      const [w, b] = callSync(() => this.#native.getLayer(i));
      return [
        { name: l.weight.name, shape: [...l.weight.shape], data: w },
        { name: l.bias.name, shape: [...l.bias.shape], data: b },
      ];
    });
  }
}
