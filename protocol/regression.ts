/**
 * How a regression model ("loss":"mse") is measured on a data set, as the evaluator, job create,
 * contributors and infer all compute it: its mean squared error and R² = 1 − SSE/SST, where SST
 * sums each target's squared distance from its output's mean over the set (several outputs pool
 * their sums). R² is the regression's "accuracy": a round's accuracy, and, in basis points clipped
 * to [0, 10000], the attestation's accuracyBps and what the job's threshold is compared with.
 */
import { QuackError } from "./errors.js";

export interface RegressionFit {
  /** mean squared error over every output of every sample, in the targets' units squared */
  mse: number;
  /** 1 − SSE/SST; 1 is perfect, 0 predicts no better than the targets' mean, below 0 worse */
  r2: number;
}

/** Sum of squared deviations of `targets` (count × width, row-major) from each column's mean. */
export function totalSquares(targets: Float32Array, width: number): number {
  const count = targets.length / width;
  const mean = new Float64Array(width);
  for (let i = 0; i < targets.length; i++) mean[i % width] += targets[i];
  for (let j = 0; j < width; j++) mean[j] /= count;
  let sst = 0;
  for (let i = 0; i < targets.length; i++) {
    const d = targets[i] - mean[i % width];
    sst += d * d;
  }
  return sst;
}

/** MSE and R² of `outputs` against `targets` (both count × width), summed in float64. */
export function regressionFit(outputs: Float32Array, targets: Float32Array, width: number, sst = totalSquares(targets, width)): RegressionFit {
  if (outputs.length !== targets.length || width < 1 || targets.length % width !== 0 || targets.length === 0) {
    throw new RangeError(`${outputs.length} outputs for ${targets.length} targets of width ${width}`);
  }
  let sse = 0;
  for (let i = 0; i < targets.length; i++) {
    const d = outputs[i] - targets[i];
    sse += d * d;
  }
  return { mse: sse / targets.length, r2: 1 - sse / sst };
}

/** R² in basis points for the attestation and the threshold: clipped to [0, 10000], rounded down. */
export function r2Bps(r2: number): number {
  if (!(r2 > 0)) return 0;
  return Math.min(10000, Math.floor(r2 * 10000));
}

/**
 * A validation set whose targets do not vary has no R² (SST = 0: every model would divide by
 * zero): refused before the job is created, naming what to change.
 */
export function checkTargetsVary(targets: Float32Array, width: number, what: string): void {
  const sst = totalSquares(targets, width);
  if (!(sst > 0) || !Number.isFinite(sst)) {
    throw new QuackError("BAD_DATA", `${what} has targets that do not vary (every sample's target is the same), so R² = 1 − SSE/SST is undefined.`, {
      fix: "Use validation samples whose targets differ (R² measures how much of their variance the model explains).",
    });
  }
}
