/**
 * The types shared by the native engine's TypeScript facade and its callers (orchestrator,
 * contributor, worker, bench). The facade in ./index.ts implements the functions; this file
 * only names the shapes so that callers can be written against them.
 */

/** Where numeric work runs. `auto` picks CUDA when the addon was built with it and a GPU exists. */
export type Device = "cpu" | "cuda" | "auto";

/** One named float32 tensor. Names follow PyTorch `nn.Sequential` state dicts: "0.weight", "0.bias", "2.weight"… */
export interface Tensor {
  name: string;
  shape: number[];
  data: Float32Array;
}

export type { Activation, Conv2dLayerSpec, DenseLayerSpec, DropoutLayerSpec, LayerSpec, LayerType, ModelSpec, PlainLayerSpec, Pool2dLayerSpec } from "../protocol/spec.js";

/** A labelled data set in memory: `x` is count × features float32 (pixels scaled to [0, 1]). */
export interface Dataset {
  count: number;
  features: number;
  x: Float32Array;
  /** class labels, one per sample (classification; empty for regression) */
  y: Uint8Array;
  /** regression targets, count × outputs (a model with the "mse" loss) */
  targets?: Float32Array;
}

export interface EvalResult {
  /** mean cross-entropy, or the mean squared error over every output */
  loss: number;
  /** share of argmax predictions equal to the label; 0 for regression */
  accuracy: number;
  samples: number;
}

export interface TrainProgress {
  epoch: number;
  batch: number;
  batches: number;
  loss: number;
}

export interface TrainOptions {
  epochs?: number;
  batchSize?: number;
  lr?: number;
  /** SGD momentum in [0, 1) */
  momentum?: number;
  /** "sgd" (default), "adam" or "adamw", as torch.optim defines them */
  optimizer?: "sgd" | "adam" | "adamw";
  /** SGD with momentum: Nesterov's form */
  nesterov?: boolean;
  /** L2 penalty added to the gradient (SGD, Adam) or decoupled decay (AdamW, default 0.01) */
  weightDecay?: number;
  /** Adam and AdamW: moment decay rates (0.9, 0.999) and the denominator's epsilon (1e-8) */
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** FedProx: μ/2‖w − w₀‖² added to the loss, w₀ the weights this call starts from (default 0: off) */
  proximalMu?: number;
  /** shuffling seed; the same seed, data and weights give the same result on CPU */
  seed?: number;
  onProgress?: (p: TrainProgress) => void;
}
