import type { EvalResult, Tensor } from "../../native/types.js";
import type { JobSettings } from "../../protocol/settings.js";
import type { Evaluate, FitFailure, FitResult, RoundConfig, Strategy, RoundEval } from "./types.js";

/** Round configuration and central evaluation shared by every aggregation rule. */
export abstract class BaseStrategy implements Strategy {
  abstract readonly name: string;

  constructor(
    protected readonly settings: JobSettings,
    private readonly evaluator: Evaluate,
  ) {}

  configureRound(round: number): RoundConfig {
    return {
      round,
      minUpdates: this.settings.minUpdates,
      minUpdatesAtDeadline: this.settings.minUpdatesAtDeadline,
      deadlineSeconds: this.settings.roundDeadlineSeconds,
    };
  }

  abstract aggregate(round: number, results: FitResult[], failures: FitFailure[], global: Float32Array): Promise<Float32Array>;

  evaluate(_round: number, model: Tensor[]): Promise<RoundEval> {
    return this.evaluator(model);
  }
}
