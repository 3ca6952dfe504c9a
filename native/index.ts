/**
 * The native engine's TypeScript facade: every argument is checked here, with an error naming
 * it, before native code runs; native handles stay private. Aggregation runs off the JS thread
 * and returns Promises.
 */
import { addon, call, callSync, type NativeDevice } from "./addon.js";
import { describe, fail, NativeError, requireFloat32Array, requireInputs, requireInteger, requireNumber, requireObject, requireWeight } from "./errors.js";
import { resolveDevice } from "./device.js";
import type { Device } from "./types.js";

export { NativeError, isNativeError, NATIVE_ERROR_CODES, type NativeErrorCode } from "./errors.js";
export { deviceInfo, type DeviceInfo } from "./device.js";
export { validateSpec, parameterShapes, inputFeatures, outputCount, MNIST_NORMALIZE } from "./spec.js";
export { Network } from "./network.js";
export type * from "./types.js";

export interface AggregateOptions {
  device?: Device;
  /** Reject inputs holding NaN or Infinity with NON_FINITE naming the input. */
  checkFinite?: boolean;
}

export interface AggregateOutOptions extends AggregateOptions {
  /**
   * Where to write the result (returned as-is): a Float32Array as long as each input, not
   * sharing memory with any input. Reusing one spares a fresh result's page faults per call.
   */
  out?: Float32Array;
}

function readOptions(opts: unknown): { device: NativeDevice; checkFinite: boolean } {
  const o = requireObject(opts ?? {}, "opts");
  if (o.checkFinite !== undefined && typeof o.checkFinite !== "boolean") fail("BAD_ARGUMENT", "opts.checkFinite", `opts.checkFinite must be a boolean, got ${describe(o.checkFinite)}`);
  return { device: resolveDevice(o.device), checkFinite: o.checkFinite === true };
}

/** Checks opts.out against the inputs; undefined when the caller passed none. */
function readOut(opts: unknown, xs: Float32Array[]): { out?: Float32Array } {
  const o = requireObject(opts ?? {}, "opts");
  if (o.out === undefined) return {};
  const out = requireFloat32Array(o.out, "opts.out");
  if (out.length !== xs[0].length) fail("LENGTH_MISMATCH", "opts.out", `opts.out has length ${out.length} but the inputs have ${xs[0].length}`);
  const start = out.byteOffset, end = out.byteOffset + out.byteLength;
  xs.forEach((x, i) => {
    if (x.buffer === out.buffer && x.byteOffset < end && start < x.byteOffset + x.byteLength)
      fail("BAD_ARGUMENT", "opts.out", `opts.out shares memory with inputs[${i}]: pass a separate Float32Array for the result`);
  });
  return { out };
}

function requireWeights(weights: unknown, k: number): number[] {
  if (!Array.isArray(weights)) fail("BAD_ARGUMENT", "weights", `weights must be an array of numbers, got ${describe(weights)}`);
  if (weights.length !== k) fail("LENGTH_MISMATCH", "weights", `weights has ${weights.length} entries for ${k} inputs`);
  const clean = weights.map((w, i) => requireWeight(w, `weights[${i}]`));
  if (!(clean.reduce((a, b) => a + b, 0) > 0)) fail("ZERO_TOTAL_WEIGHT", "weights", "weights sum to 0: at least one weight must be positive");
  return clean;
}

/** FedAvg: sum w_i x_i / sum w_i, summed in float64. */
export async function fedAvg(inputs: Float32Array[], weights: number[], opts: AggregateOutOptions = {}): Promise<Float32Array> {
  const xs = requireInputs(inputs);
  const w = requireWeights(weights, xs.length);
  const o = readOptions(opts);
  return call(() => addon().aggregate("fedAvg", xs, { ...o, ...readOut(opts, xs), weights: w }));
}

/** Coordinate-wise median; for an even K the mean of the two middle values (as numpy.median). */
export async function median(inputs: Float32Array[], opts: AggregateOutOptions = {}): Promise<Float32Array> {
  const xs = requireInputs(inputs);
  const o = readOptions(opts);
  return call(() => addon().aggregate("median", xs, { ...o, ...readOut(opts, xs) }));
}

/** Coordinate-wise trimmed mean: drops floor(beta·K) values from each end, averages the rest. */
export async function trimmedMean(inputs: Float32Array[], beta: number, opts: AggregateOutOptions = {}): Promise<Float32Array> {
  const xs = requireInputs(inputs);
  const b = requireNumber(beta, "beta", (v) => v >= 0 && v < 0.5, "a number in [0, 0.5)");
  const trim = Math.floor(b * xs.length);
  const o = readOptions(opts);
  return call(() => addon().aggregate("trimmedMean", xs, { ...o, ...readOut(opts, xs), trim }));
}

/**
 * Krum: scores each input by the summed squared distance to its K−f−2 nearest others and keeps
 * the best; with m > 1 (Multi-Krum) the mean of the m best. `selected` lists them, best first.
 */
export async function krum(inputs: Float32Array[], f: number, opts: AggregateOptions & { m?: number } = {}): Promise<{ result: Float32Array; selected: number[] }> {
  const xs = requireInputs(inputs);
  const faulty = requireInteger(f, "f", 0);
  if (xs.length < faulty + 3) fail("BAD_ARGUMENT", "f", `Krum needs more than f + 2 inputs: got ${xs.length} inputs with f = ${faulty}`);
  const o = requireObject(opts ?? {}, "opts");
  const m = o.m === undefined ? 1 : requireInteger(o.m, "opts.m", 1, xs.length - faulty);
  return call(() => addon().aggregate("krum", xs, { ...readOptions(opts), f: faulty, m }));
}

/**
 * Streaming FedAvg: add updates as they arrive; memory is one float64 running sum, not K inputs.
 * Calls are queued, so add() may be called without awaiting the previous one.
 */
export class FedAvgAccumulator {
  readonly length: number;
  readonly device: NativeDevice;
  readonly #native: InstanceType<ReturnType<typeof addon>["Accumulator"]>;
  readonly #checkFinite: boolean;
  #tail: Promise<unknown> = Promise.resolve();
  #count = 0;
  #totalWeight = 0;

  constructor(length: number, opts: AggregateOptions = {}) {
    this.length = requireInteger(length, "length", 1);
    const o = readOptions(opts);
    this.device = o.device;
    this.#checkFinite = o.checkFinite;
    const Raw = addon().Accumulator;
    this.#native = callSync(() => new Raw(this.length, o.device));
  }

  /** Number of updates added so far. */
  get count(): number {
    return this.#count;
  }

  get totalWeight(): number {
    return this.#totalWeight;
  }

  #enqueue<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#tail.then(fn, fn);
    this.#tail = run.catch(() => undefined);
    return run;
  }

  /** Adds weight · x. A rejected add (e.g. NON_FINITE) changes nothing. */
  async add(x: Float32Array, weight: number): Promise<void> {
    const input = requireFloat32Array(x, "x");
    if (input.length !== this.length) fail("LENGTH_MISMATCH", "x", `x has length ${input.length} but the accumulator holds ${this.length}`);
    const w = requireWeight(weight, "weight");
    await this.#enqueue(async () => {
      await call(() => this.#native.add(input, w, this.#checkFinite));
      this.#count++;
      this.#totalWeight += w;
    });
  }

  /** The weighted mean of everything added so far (after pending adds finish). */
  async result(): Promise<Float32Array> {
    return this.#enqueue(async () => {
      if (this.#count === 0) throw new NativeError("EMPTY_INPUT", "nothing was added to the accumulator: call add() first", "accumulator");
      if (!(this.#totalWeight > 0)) throw new NativeError("ZERO_TOTAL_WEIGHT", "the weights added sum to 0: at least one weight must be positive", "weights");
      return call(() => this.#native.result(this.#totalWeight));
    });
  }
}

/** Measured copy bandwidth (bytes read + written per second) with all CPU threads: the ceiling for aggregation. */
export async function memcpyBandwidth(bytes = 256 * 1024 * 1024, repeats = 5): Promise<number> {
  const n = requireInteger(bytes, "bytes", 1);
  const r = requireInteger(repeats, "repeats", 1, 1000);
  return call(() => addon().memcpyBandwidth(n, r));
}

/** GPU FedAvg of K×n float32 already resident on the device: median kernel time in ms (benchmarks). */
export async function fedAvgResidentMs(k: number, n: number, runs = 20): Promise<number> {
  requireInteger(k, "k", 1);
  requireInteger(n, "n", 1);
  requireInteger(runs, "runs", 1, 10000);
  resolveDevice("cuda", "device");
  return call(() => addon().fedAvgResident(k, n, runs));
}
