// Times one training epoch of the issue's MNIST CNN (scripts/bench/cnn-spec.ts) on CUDA and on the
// CPU, on synthetic MNIST-shaped data (the GPU machine has no MNIST files: timing only, no accuracy).
// APP_DIR holds the native facade and the spec compiled to JavaScript (scripts/gpu-bundle.sh's .gpu/app;
// `dist` here, after npm run build:ts, has the facade but not the bench spec):
//   node scripts/gpu-cnn-epoch.mjs APP_DIR [SAMPLES] [CPU_SAMPLES]
import { pathToFileURL } from "node:url";
import { join } from "node:path";

const app = process.argv[2] ?? ".";
const samples = Number(process.argv[3] ?? 60000);
const cpuSamples = Number(process.argv[4] ?? 6400);
const { Network, deviceInfo } = await import(pathToFileURL(join(app, "native/index.js")).href);
const { ISSUE_CNN_SPEC } = await import(pathToFileURL(join(app, "scripts/bench/cnn-spec.js")).href);

function data(count) {
  let a = 12345;
  const next = () => ((a = (Math.imul(a, 1103515245) + 12345) >>> 0) / 2 ** 32);
  return { count, features: 784, x: Float32Array.from({ length: count * 784 }, next), y: Uint8Array.from({ length: count }, () => Math.floor(next() * 10)) };
}

async function epoch(device, count) {
  const d = data(count);
  const net = Network.create(ISSUE_CNN_SPEC, { seed: 1, device });
  const opts = { epochs: 1, batchSize: 64, lr: 0.01, momentum: 0.9, seed: 2 };
  if (device === "cuda") await net.train(data(640), opts); // warm-up: module load, first allocations
  const t0 = performance.now();
  await net.train(d, opts);
  const trainMs = performance.now() - t0;
  const t1 = performance.now();
  await net.evaluate(d);
  return { device, samples: count, trainMs: Math.round(trainMs), evalMs: Math.round(performance.now() - t1), perSampleUs: +((trainMs * 1000) / count).toFixed(1) };
}

const info = deviceInfo();
console.log(JSON.stringify({ gpu: info.gpuName, threads: info.threads, simd: info.simd }));
console.log(JSON.stringify(await epoch("cuda", samples)));
console.log(JSON.stringify(await epoch("cpu", cpuSamples)));
