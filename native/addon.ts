/**
 * Loads the compiled addon (build/Release/quackmesh_native.node, found from the package root so
 * that both native/*.ts under tap and dist/native/*.js work) and describes its raw interface.
 * Only the facade talks to it; callers use native/index.ts.
 */
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { packageRoot } from "../protocol/package.js";
import { fromAddon, NativeError } from "./errors.js";
import type { TrainOptions } from "./types.js";

export type NativeDevice = "cpu" | "cuda";

export interface RawStats {
  loss: number;
  accuracy: number;
  samples: number;
}

export interface RawNetwork {
  init(seed: number): void;
  setLayer(layer: number, weight: Float32Array, bias: Float32Array): void;
  getLayer(layer: number): [Float32Array, Float32Array];
  /** y: labels (cross-entropy) or float targets, count × outputs (mse) */
  train(x: Float32Array, y: Uint8Array | Float32Array, count: number, features: number, opts: RawTrainOptions, onProgress?: (p: { epoch: number; batch: number; batches: number; loss: number }) => void): Promise<RawStats>;
  evaluate(x: Float32Array, y: Uint8Array | Float32Array, count: number, features: number): Promise<RawStats>;
  predict(x: Float32Array, count: number): Promise<Float32Array>;
}

/**
 * The optimizer and FedProx fields pass through as the facade's TrainOptions name them; the
 * Sequential engine only (the dense one refuses anything but plain or momentum SGD).
 */
export interface RawTrainOptions extends Pick<TrainOptions, "optimizer" | "nesterov" | "weightDecay" | "beta1" | "beta2" | "eps" | "proximalMu"> {
  epochs: number;
  batchSize: number;
  lr: number;
  momentum: number;
  seed: number;
}

/** A model for the Sequential engine (CPU): modules in nn.Sequential order. */
export interface RawSequentialSpec {
  input: [number, number, number];
  layers: { kind: string; units?: number; kernel?: [number, number]; stride?: [number, number]; padding?: [number, number]; p?: number }[];
  loss: "cross-entropy" | "mse";
}

export interface RawAddon {
  version(): string;
  deviceInfo(): { version: string; cudaCompiled: boolean; cuda: boolean; gpus: number; gpuName?: string; threads: number; simd: string };
  aggregate(method: "fedAvg" | "median" | "trimmedMean", inputs: Float32Array[], opts: { device: NativeDevice; checkFinite: boolean; weights?: number[]; trim?: number; out?: Float32Array }): Promise<Float32Array>;
  aggregate(method: "krum", inputs: Float32Array[], opts: { device: NativeDevice; checkFinite: boolean; f: number; m: number }): Promise<{ result: Float32Array; selected: number[] }>;
  memcpyBandwidth(bytes: number, repeats: number): Promise<number>;
  fedAvgResident(k: number, n: number, runs: number): Promise<number>;
  Accumulator: new (length: number, device: NativeDevice) => { add(x: Float32Array, weight: number, checkFinite: boolean): Promise<void>; result(totalWeight: number): Promise<Float32Array> };
  /** The dense engine (CPU or CUDA) from an array of layers, or the Sequential engine (CPU) from a spec. */
  Network: new (layers: { in: number; out: number; relu: boolean }[] | RawSequentialSpec, device: NativeDevice) => RawNetwork;
}

let cached: RawAddon | undefined;

/** The addon, loaded once. QUACKMESH_NATIVE_BUILD=debug picks the debug build (build-debug/Debug). */
export function addon(): RawAddon {
  if (cached) return cached;
  const root = packageRoot();
  const debug = process.env.QUACKMESH_NATIVE_BUILD === "debug";
  const file = debug ? join(root, "build-debug", "Debug", "quackmesh_native.node") : join(root, "build", "Release", "quackmesh_native.node");
  if (!existsSync(file)) {
    throw new NativeError("ADDON_MISSING", `the native addon is not built (${file} is missing): run \`npm run build:native${debug ? ":debug" : ""}\``);
  }
  cached = createRequire(import.meta.url)(file) as RawAddon;
  return cached;
}

/** Calls into the addon, turning its errors (sync or async) into NativeError. */
export async function call<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw fromAddon(e);
  }
}

export function callSync<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw fromAddon(e);
  }
}
