/**
 * How the evaluator measures a regression model ("loss":"mse") on the requester's validation set:
 * MSE and R² (protocol/regression.ts), R² as the round's accuracy and, in basis points, the
 * attestation's.
 *
 * The loss that rounds are scored on is SSE/SST (= 1 − R², the MSE in units of the targets'
 * variance), not the raw MSE: on one validation set the two differ by a constant factor, so
 * every comparison and every split comes out the same, but the contribution floor
 * (MIN_CONTRIBUTION) and the learned-nothing margin then mean the same share of the task
 * whatever the targets' units (prices in dollars or in millions).
 */
import { regressionFit, totalSquares } from "../../protocol/regression.js";
import type { RoundEval } from "../strategy/index.js";

/** A central evaluation of a regression model: loss SSE/SST, accuracy R², no classes. */
export function regressionEval(outputs: Float32Array, targets: Float32Array, width: number, sst = totalSquares(targets, width)): RoundEval {
  const fit = regressionFit(outputs, targets, width, sst);
  // A non-finite output (weights that overflow) is the worst model there is, never a NaN that compares false.
  const r2 = Number.isFinite(fit.r2) ? fit.r2 : -Number.MAX_VALUE;
  return { loss: 1 - r2, accuracy: r2, samples: targets.length / width, classAccuracy: [], regression: { mse: Number.isFinite(fit.mse) ? fit.mse : Number.MAX_VALUE, r2 } };
}
