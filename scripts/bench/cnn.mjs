#!/usr/bin/env node
// The engine's side of the CNN benchmark (scripts/bench.mjs runs it in its own process, so that
// QUACKMESH_THREADS, read when the addon loads, sets its threads; the PyTorch side is torch_cnn.py):
// conv(1→32, 3×3, pad 1)-relu-maxpool2-conv(32→64, 3×3, pad 1)-relu-maxpool2-flatten-dense(128)-relu-
// dense(10) on the first SAMPLES MNIST training images, one epoch, SGD with momentum, batch 64; then
// the MNIST test accuracy. Prints one JSON line. --device cuda runs it on the GPU (the peer is
// torch_cnn_cuda.py).
//   node scripts/bench/cnn.mjs [--samples 60000] [--batch 64] [--lr 0.05] [--momentum 0.9] [--device cpu|cuda]
import { join, dirname } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const dist = (f) => pathToFileURL(join(root, "dist", "native", f)).href;
const { Network, deviceInfo } = await import(dist("index.js"));
const { loadMnist, subset } = await import(dist("data.js"));
const { ISSUE_CNN_SPEC } = await import(pathToFileURL(join(root, "dist", "scripts", "bench", "cnn-spec.js")).href);


const { values } = parseArgs({ options: { samples: { type: "string" }, batch: { type: "string" }, lr: { type: "string" }, momentum: { type: "string" }, device: { type: "string" } } });
const device = values.device ?? "cpu";
const samples = Number(values.samples ?? 60000), batchSize = Number(values.batch ?? 64), lr = Number(values.lr ?? 0.05), momentum = Number(values.momentum ?? 0.9);
const [train, test] = await Promise.all([loadMnist("train"), loadMnist("test")]);
const data = samples === train.count ? train : subset(train, Array.from({ length: samples }, (_, i) => i));
const warm = Network.create(ISSUE_CNN_SPEC, { seed: 0, device }); // first-call costs (CUDA: module load, allocations) stay out of the timing
await warm.train(subset(train, Array.from({ length: 512 }, (_, i) => i)), { batchSize, lr, momentum, seed: 0 });
const net = Network.create(ISSUE_CNN_SPEC, { seed: 1, device });
const t0 = performance.now();
const cpu0 = process.cpuUsage();
await net.train(data, { epochs: 1, batchSize, lr, momentum, seed: 1 });
const ms = performance.now() - t0;
const cpu = process.cpuUsage(cpu0); // every thread of the process, in µs: less at the mercy of other load than wall time
const cpuMs = (cpu.user + cpu.system) / 1000;
const { accuracy } = await net.evaluate(test);
const info = deviceInfo();
process.stdout.write(JSON.stringify({ ms, cpu_ms: cpuMs, samples: data.count, test_accuracy: accuracy, device, gpu: info.gpuName, threads: info.threads, simd: info.simd, version: info.version }) + "\n");
