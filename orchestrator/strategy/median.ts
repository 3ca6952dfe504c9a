import { median } from "../../native/index.js";
import { BaseStrategy } from "./base.js";
import type { FitResult } from "./types.js";

/** Coordinate-wise median: robust to a minority of arbitrary updates. */
export class Median extends BaseStrategy {
  readonly name = "median";

  aggregate(_round: number, results: FitResult[]): Promise<Float32Array> {
    return median(results.map((r) => r.weights));
  }
}
