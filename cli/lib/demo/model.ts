/**
 * The demo's two models: the default MLP (fast), and a small CNN (`demo --model cnn`) whose two
 * strided convolutions keep a round within a few times the MLP's on a 2-core machine.
 */
import { MNIST_NORMALIZE } from "../../../native/spec.js";
import { QuackError } from "../../../protocol/errors.js";
import type { ModelSpec } from "../../../native/types.js";

export const DEMO_MODELS = ["mlp", "cnn"] as const;
export type DemoModel = (typeof DEMO_MODELS)[number];

export function parseDemoModel(text: string): DemoModel {
  const m = String(text).trim().toLowerCase();
  if (!(DEMO_MODELS as readonly string[]).includes(m)) {
    throw new QuackError("BAD_ARGUMENT", `--model '${text}' is not one of the demo's models (${DEMO_MODELS.join(", ")}).`, {
      fix: "Pass --model mlp (the default, MLP 784-H-10) or --model cnn (a small convolutional network).",
    });
  }
  return m as DemoModel;
}

/** The job's model spec: MLP 784-hidden-10, or the CNN on [1, 28, 28] images. */
export function demoSpec(model: DemoModel, o: { hidden: number; normalize: boolean }): ModelSpec {
  const normalize = o.normalize ? { normalize: { ...MNIST_NORMALIZE } } : {};
  if (model === "cnn") {
    return {
      input: [1, 28, 28],
      layers: [
        { type: "conv2d", outChannels: 8, kernel: 5, stride: 2, padding: 2 }, // → 8 × 14 × 14
        { type: "relu" },
        { type: "conv2d", outChannels: 16, kernel: 3, stride: 2, padding: 1 }, // → 16 × 7 × 7
        { type: "relu" },
        { type: "flatten" },
        { type: "dense", units: 10, activation: "none" },
      ],
      loss: "cross-entropy",
      ...normalize,
    };
  }
  return {
    input: [784],
    layers: [{ type: "dense", units: o.hidden, activation: "relu" }, { type: "dense", units: 10, activation: "none" }],
    loss: "cross-entropy",
    ...normalize,
  };
}

/** How the demo names the model in its output. */
export function describeDemoModel(model: DemoModel, hidden: number): string {
  return model === "cnn" ? "CNN conv(1→8, 5×5, stride 2)-relu-conv(8→16, 3×3, stride 2)-relu-flatten-dense(10)" : `MLP 784-${hidden}-10`;
}
