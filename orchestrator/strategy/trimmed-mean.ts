import { trimmedMean } from "../../native/index.js";
import type { Evaluate } from "./types.js";
import type { JobSettings } from "../../protocol/settings.js";
import { BaseStrategy } from "./base.js";
import type { FitResult } from "./types.js";

/** Coordinate-wise trimmed mean: drops the `beta` fraction of highest and lowest values. */
export class TrimmedMean extends BaseStrategy {
  readonly name = "trimmed-mean";
  readonly beta: number;

  constructor(settings: JobSettings, evaluate: Evaluate) {
    super(settings, evaluate);
    this.beta = settings.strategy.beta ?? 0.1;
  }

  aggregate(_round: number, results: FitResult[]): Promise<Float32Array> {
    return trimmedMean(
      results.map((r) => r.weights),
      this.beta,
    );
  }
}
