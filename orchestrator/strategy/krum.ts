import { krum } from "../../native/index.js";
import type { JobSettings } from "../../protocol/settings.js";
import { BaseStrategy } from "./base.js";
import type { Evaluate, FitResult } from "./types.js";

/** (Multi-)Krum: averages the `m` updates closest to their neighbours, tolerating `f` byzantine ones. */
export class Krum extends BaseStrategy {
  readonly name = "krum";
  readonly f: number;
  readonly m: number;

  constructor(settings: JobSettings, evaluate: Evaluate) {
    super(settings, evaluate);
    this.f = settings.strategy.f ?? 0;
    this.m = settings.strategy.m ?? 1;
  }

  async aggregate(_round: number, results: FitResult[]): Promise<Float32Array> {
    const m = Math.min(this.m, Math.max(1, results.length - this.f));
    const { result } = await krum(
      results.map((r) => r.weights),
      this.f,
      { m },
    );
    return result;
  }
}
