/**
 * The tests' side of torch_reference.py: which Python can `import torch`, and one call that sends
 * it cases (a spec, its initial weights, the data, the training runs) and reads back PyTorch's
 * softmax outputs, loss and weights after each run.
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { Dataset, ModelSpec, Tensor } from "../types.js";

const REFERENCE = fileURLToPath(new URL("./torch_reference.py", import.meta.url));

/** A Python that imports torch, or undefined. */
export const torchPython = ["python3", "/usr/bin/python3"].find((p) => spawnSync(p, ["-c", "import torch"], { stdio: "ignore" }).status === 0);
export const NO_TORCH = "no Python with `import torch` here (Debian: apt-get install python3-torch)";

/** One training run as torch_reference.py reads it. */
export interface ReferenceRun {
  steps: number;
  lr: number;
  momentum?: number;
  nesterov?: boolean;
  weightDecay?: number;
  optimizer?: string;
  beta1?: number;
  beta2?: number;
  eps?: number;
  proximalMu?: number;
}

export interface ReferenceCase {
  spec: ModelSpec;
  weights: Tensor[];
  d: Dataset;
  runs: ReferenceRun[];
}

export interface ReferenceOutput {
  probs: number[];
  loss: number;
  /** Per run: weights by state-dict name after it. */
  runs: Record<string, number[]>[];
}

/** Run the cases through PyTorch; status and stderr are the script's (0 when it answered). */
export function runTorchReference(cases: ReferenceCase[]): { status: number | null; stderr: string; cases: ReferenceOutput[] } {
  const input = {
    cases: cases.map((c) => ({
      spec: c.spec,
      count: c.d.count,
      weights: Object.fromEntries(c.weights.map((w) => [w.name, Array.from(w.data)])),
      x: Array.from(c.d.x),
      y: Array.from(c.d.y),
      targets: c.d.targets && Array.from(c.d.targets),
      runs: c.runs,
    })),
  };
  const ran = spawnSync(torchPython!, [REFERENCE], { input: JSON.stringify(input), encoding: "utf8", maxBuffer: 64 << 20 });
  return { status: ran.status, stderr: ran.stderr, cases: ran.status === 0 ? (JSON.parse(ran.stdout) as { cases: ReferenceOutput[] }).cases : [] };
}
