/**
 * A trained CNN leaves QuackMesh as safetensors with PyTorch state-dict names: loaded into the
 * equivalent nn.Sequential (strict=True) in python3-torch, it gets the MNIST test accuracy the
 * engine reports, within 0.1 points.
 */
import t from "tap";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Network, parameterShapes } from "./index.js";
import { loadMnist, mnistDir, subset } from "./data.js";
import { encodeSafetensors } from "./safetensors.js";
import type { ModelSpec } from "./types.js";

const LOADER = fileURLToPath(new URL("./testing/torch_load_eval.py", import.meta.url));
const python = ["python3", "/usr/bin/python3"].find((p) => spawnSync(p, ["-c", "import torch"], { stdio: "ignore" }).status === 0);
const noTorch = "no Python with `import torch` here (Debian: apt-get install python3-torch)";
if (!python) console.log(`# skipped the PyTorch export check: ${noTorch}`);

// Every kind of entry a CNN spec has: conv, relu, both pools, flatten, dropout, dense with relu.
const SPEC: ModelSpec = {
  input: [1, 28, 28],
  layers: [
    { type: "conv2d", outChannels: 8, kernel: 3, padding: 1 }, { type: "relu" }, { type: "maxpool2d", kernel: 2 },
    { type: "conv2d", outChannels: 16, kernel: 3, padding: 1 }, { type: "relu" }, { type: "avgpool2d", kernel: 2 },
    { type: "flatten" }, { type: "dropout", p: 0.25 }, { type: "dense", units: 32, activation: "relu" }, { type: "dense", units: 10 },
  ],
  loss: "cross-entropy",
  normalize: { mean: 0.1307, std: 0.3081 },
};

t.test("an exported CNN loads into nn.Sequential with strict=True and keeps its accuracy", { skip: python ? false : noTorch }, async (t) => {
  const net = Network.create(SPEC, { seed: 3 });
  await net.train(subset(await loadMnist("train"), Array.from({ length: 2000 }, (_, i) => i)), { epochs: 1, batchSize: 32, lr: 0.05, momentum: 0.9, seed: 3 });
  const ours = await net.evaluate(await loadMnist("test"));
  t.ok(ours.accuracy > 0.8, `trained: engine's MNIST test accuracy ${ours.accuracy}`);

  const dir = mkdtempSync(join(tmpdir(), "qm-cnn-export-"));
  writeFileSync(join(dir, "spec.json"), JSON.stringify(SPEC));
  writeFileSync(join(dir, "model.safetensors"), encodeSafetensors(net.weights()));
  const ran = spawnSync(python!, [LOADER, join(dir, "spec.json"), join(dir, "model.safetensors"), join(mnistDir(), "t10k-images-idx3-ubyte"), join(mnistDir(), "t10k-labels-idx1-ubyte")], { encoding: "utf8" });
  t.equal(ran.status, 0, `PyTorch loaded the model: ${ran.stderr.trim().split("\n").pop() ?? ""}`);
  if (ran.status !== 0) return;
  const torch = JSON.parse(ran.stdout.trim().split("\n").pop()!) as { accuracy: number; samples: number; names: string[]; torch: string };
  t.same(torch.names, parameterShapes(SPEC).map((p) => p.name), "the state-dict names are the spec's (0, 3, 8, 9)");
  t.equal(torch.samples, 10000);
  t.ok(Math.abs(torch.accuracy - ours.accuracy) * 100 <= 0.1, `PyTorch ${torch.torch}: ${(100 * torch.accuracy).toFixed(2)} %, QuackMesh ${(100 * ours.accuracy).toFixed(2)} %`);
});
