/**
 * Measurements of this machine's engine: FedAvg throughput and one MNIST training run. Used by
 * `quackmesh bench` and `npm run bench`, and by `quackmesh provide` to publish a score.
 * Each measurement warms up first, repeats, and reports the median.
 */
import { loadMnist } from "./data.js";
import { deviceInfo, fedAvg, fedAvgResidentMs, memcpyBandwidth, Network } from "./index.js";
import { resolveDevice } from "./device.js";
import { requireInteger, requireNumber } from "./errors.js";
import { MNIST_NORMALIZE } from "./spec.js";
import type { Device, ModelSpec } from "./types.js";

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** Uniform values in [-1, 1) from a small xorshift generator: fast to make, never all zeros. */
export function randomVector(n: number, seed: number): Float32Array {
  const x = new Float32Array(n);
  let s = (seed * 2654435761) >>> 0 || 1;
  for (let j = 0; j < n; j++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    x[j] = (s >>> 0) / 2147483648 - 1;
  }
  return x;
}

export interface AggregateBenchOptions {
  clients?: number;
  params?: number;
  device?: Device;
  runs?: number;
}

export interface AggregateBenchResult {
  benchmark: "aggregate";
  device: "cpu" | "cuda";
  clients: number;
  params: number;
  runs: number;
  /**
   * median wall time of one fedAvg call in steady state: host inputs in, the result written into
   * one reused output buffer (as a long-running orchestrator keeps its aggregate buffer)
   */
  ms: number;
  /** the fastest reused-buffer run: what the machine can do when nothing else competes */
  bestMs: number;
  times: number[];
  /** the same call returning a freshly allocated result each time (its page faults included) */
  freshMs: number;
  freshBestMs: number;
  freshTimes: number[];
  /** bytes read (K inputs) + written (1 output), over `ms` */
  gbPerSec: number;
  /** CPU: copy bandwidth of this machine (read + write) and our share of it */
  memcpyGbPerSec?: number;
  percentOfMemcpy?: number;
  /** CUDA: the kernel alone with the inputs resident in GPU memory */
  residentMs?: number;
  residentGbPerSec?: number;
  threads: number;
  simd: string;
}

export async function benchAggregate(opts: AggregateBenchOptions = {}): Promise<AggregateBenchResult> {
  const clients = requireInteger(opts.clients ?? 10, "clients", 1, 10000);
  const params = requireInteger(opts.params ?? 10_000_000, "params", 1);
  const runs = requireInteger(opts.runs ?? 7, "runs", 1, 1000);
  const device = resolveDevice(opts.device ?? "auto", "device");
  const info = deviceInfo();
  const inputs = Array.from({ length: clients }, (_, i) => randomVector(params, i + 1));
  const weights = inputs.map((_, i) => 100 + i);
  const out = await fedAvg(inputs, weights, { device }); // warm-up: page faults, GPU context, thread pool; then reused
  const timeRuns = async (reuse: boolean): Promise<number[]> => {
    const times: number[] = [];
    for (let r = 0; r < runs; r++) {
      const t0 = performance.now();
      await fedAvg(inputs, weights, reuse ? { device, out } : { device });
      times.push(performance.now() - t0);
    }
    return times;
  };
  const times = await timeRuns(true);
  const freshTimes = await timeRuns(false);
  const bytes = (clients + 1) * params * 4;
  const ms = median(times);
  const freshMs = median(freshTimes);
  const result: AggregateBenchResult = {
    benchmark: "aggregate",
    device,
    clients,
    params,
    runs,
    ms,
    bestMs: Math.min(...times),
    times,
    freshMs,
    freshBestMs: Math.min(...freshTimes),
    freshTimes,
    gbPerSec: bytes / ms / 1e6,
    threads: info.threads,
    simd: info.simd,
  };
  if (device === "cpu") {
    // A copy as large as the aggregation's inputs, so that neither fits in a cache the other misses.
    result.memcpyGbPerSec = (await memcpyBandwidth(Math.min(2 ** 31, Math.max(256 << 20, clients * params * 4)), 5)) / 1e9;
    result.percentOfMemcpy = (100 * result.gbPerSec) / result.memcpyGbPerSec;
  } else {
    result.residentMs = await fedAvgResidentMs(clients, params, Math.max(20, runs));
    result.residentGbPerSec = bytes / result.residentMs / 1e6;
  }
  return result;
}

export interface TrainBenchOptions {
  epochs?: number;
  batch?: number;
  lr?: number;
  momentum?: number;
  device?: Device;
  runs?: number;
  seed?: number;
}

export interface TrainBenchResult {
  benchmark: "train";
  device: "cpu" | "cuda";
  model: string;
  epochs: number;
  batch: number;
  lr: number;
  momentum: number;
  runs: number;
  /** median wall time of training `epochs` epochs on MNIST's 60,000 samples */
  ms: number;
  bestMs: number;
  times: number[];
  samplesPerSec: number;
  /** multiply-adds ×2 of forward + backward, over `ms` */
  gflops: number;
  trainLoss: number;
  testAccuracy: number;
  threads: number;
  simd: string;
}

export const MNIST_MLP: ModelSpec = {
  input: [784],
  layers: [
    { type: "dense", units: 128, activation: "relu" },
    { type: "dense", units: 10 },
  ],
  loss: "cross-entropy",
  normalize: { ...MNIST_NORMALIZE },
};

export async function benchTrain(opts: TrainBenchOptions = {}): Promise<TrainBenchResult> {
  const epochs = requireInteger(opts.epochs ?? 1, "epochs", 1, 1000);
  const batch = requireInteger(opts.batch ?? 64, "batch", 1, 60000);
  const lr = requireNumber(opts.lr ?? 0.1, "lr", (v) => v > 0, "a number > 0");
  const momentum = requireNumber(opts.momentum ?? 0, "momentum", (v) => v >= 0 && v < 1, "a number in [0, 1)");
  const runs = requireInteger(opts.runs ?? 3, "runs", 1, 100);
  const seed = requireInteger(opts.seed ?? 1, "seed", 0);
  const device = resolveDevice(opts.device ?? "auto", "device");
  const info = deviceInfo();
  const [train, test] = await Promise.all([loadMnist("train"), loadMnist("test")]);
  const warm = Network.create(MNIST_MLP, { seed, device });
  await warm.train({ ...train, count: 4096, x: train.x.subarray(0, 4096 * 784), y: train.y.subarray(0, 4096) }, { batchSize: batch, lr, seed });
  const times: number[] = [];
  let trainLoss = 0;
  let testAccuracy = 0;
  for (let r = 0; r < runs; r++) {
    const net = Network.create(MNIST_MLP, { seed, device });
    const t0 = performance.now();
    const fit = await net.train(train, { epochs, batchSize: batch, lr, momentum, seed });
    times.push(performance.now() - t0);
    trainLoss = fit.loss;
    testAccuracy = (await net.evaluate(test)).accuracy;
  }
  const ms = median(times);
  const macs = train.count * epochs * (784 * 128 * 2 + 128 * 10 * 3); // layer 1: forward + weight grad; layer 2: all three
  return {
    benchmark: "train",
    device,
    model: "784-128-10",
    epochs,
    batch,
    lr,
    momentum,
    runs,
    ms,
    bestMs: Math.min(...times),
    times,
    samplesPerSec: (train.count * epochs) / (ms / 1000),
    gflops: (2 * macs) / ms / 1e6,
    trainLoss,
    testAccuracy,
    threads: info.threads,
    simd: info.simd,
  };
}
