import type { Tensor, EvalResult } from "../../native/types.js";
import type { FitFailure, FitResult, RoundConfig, Strategy, RoundEval } from "./types.js";

/**
 * Wraps a strategy and clips each update's distance to the global model to `maxNorm` before
 * aggregating (Flower's fixed clipping), bounding what any one contributor can move.
 */
export class ClippedStrategy implements Strategy {
  readonly name: string;

  constructor(
    private readonly inner: Strategy,
    private readonly maxNorm: number,
  ) {
    this.name = `${inner.name}+clip`;
  }

  configureRound(round: number): RoundConfig {
    return this.inner.configureRound(round);
  }

  aggregate(round: number, results: FitResult[], failures: FitFailure[], global: Float32Array): Promise<Float32Array> {
    return this.inner.aggregate(round, results.map((r) => ({ ...r, weights: clipToward(global, r.weights, this.maxNorm) })), failures, global);
  }

  evaluate(round: number, model: Tensor[]): Promise<RoundEval> {
    return this.inner.evaluate(round, model);
  }
}

/** global + (w - global) scaled down to norm `maxNorm` when it is longer. */
export function clipToward(global: Float32Array, w: Float32Array, maxNorm: number): Float32Array {
  let sq = 0;
  for (let i = 0; i < w.length; i++) {
    const d = w[i] - global[i];
    sq += d * d;
  }
  const norm = Math.sqrt(sq);
  if (norm <= maxNorm) return w;
  const scale = maxNorm / norm;
  const out = new Float32Array(w.length);
  for (let i = 0; i < w.length; i++) out[i] = global[i] + (w[i] - global[i]) * scale;
  return out;
}
