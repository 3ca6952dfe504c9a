import { fedAvg } from "../../native/index.js";
import { BaseStrategy } from "./base.js";
import type { FitResult } from "./types.js";

/** FedAvg: the average of the updates weighted by their sample counts. */
export class FedAvg extends BaseStrategy {
  readonly name = "fedavg";

  aggregate(_round: number, results: FitResult[]): Promise<Float32Array> {
    return fedAvg(
      results.map((r) => r.weights),
      results.map((r) => r.numSamples),
    );
  }
}
