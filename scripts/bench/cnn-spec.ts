/** The issue's MNIST CNN, the one the bench times (scripts/bench/cnn.mjs) and the federated script trains. */
import { MNIST_NORMALIZE } from "../../native/spec.js";
import type { ModelSpec } from "../../native/types.js";

export const ISSUE_CNN_SPEC: ModelSpec = {
  input: [1, 28, 28],
  layers: [
    { type: "conv2d", outChannels: 32, kernel: 3, padding: 1 }, { type: "relu" }, { type: "maxpool2d", kernel: 2 },
    { type: "conv2d", outChannels: 64, kernel: 3, padding: 1 }, { type: "relu" }, { type: "maxpool2d", kernel: 2 },
    { type: "flatten" }, { type: "dense", units: 128 }, { type: "relu" }, { type: "dense", units: 10 },
  ],
  loss: "cross-entropy",
  normalize: { ...MNIST_NORMALIZE },
};
