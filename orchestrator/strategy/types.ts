/**
 * Aggregation as a Strategy, after Flower's: a strategy configures each round, aggregates the
 * round's accepted results (with the failures passed in), and evaluates a model centrally. The
 * math is pure functions over flat float32 vectors that call the native addon.
 */
import type { EvalResult, Tensor } from "../../native/types.js";

/** One accepted update, flattened in the global model's tensor order. */
export interface FitResult {
  contributor: string;
  updateHash: string;
  numSamples: number;
  weights: Float32Array;
}

/** An update that was evaluated and refused (e.g. below threshold). */
export interface FitFailure {
  contributor: string;
  updateHash: string;
  reason: string;
}

export interface RoundConfig {
  round: number;
  minUpdates: number;
  minUpdatesAtDeadline: number;
  deadlineSeconds: number;
}

export interface Strategy {
  readonly name: string;
  configureRound(round: number): RoundConfig;
  /**
   * The new global model. `results` arrive sorted by update hash, so the same set of updates
   * always gives the same bytes whatever order they arrived in.
   */
  aggregate(round: number, results: FitResult[], failures: FitFailure[], global: Float32Array): Promise<Float32Array>;
  /** Centralized evaluation of a model on the job's validation set. */
  evaluate(round: number, model: Tensor[]): Promise<RoundEval>;
}

/** A central evaluation: loss and accuracy, and the accuracy of each class (index = label). */
export interface RoundEval extends EvalResult {
  classAccuracy: number[];
  /** Per validation sample, where the evaluator gives them: its label, cross-entropy and whether the model classifies it correctly. */
  perSample?: SampleFigures;
  /** A regression model's MSE and R² (protocol/regression.ts); absent for a classifier. */
  regression?: { mse: number; r2: number };
}

export interface SampleFigures {
  labels: Uint8Array;
  loss: Float32Array;
  correct: Uint8Array;
}

export type Evaluate = (model: Tensor[]) => Promise<RoundEval>;
