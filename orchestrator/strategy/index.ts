import type { JobSettings } from "../../protocol/settings.js";
import { ClippedStrategy } from "./clipping.js";
import { FedAvg } from "./fedavg.js";
import { Krum } from "./krum.js";
import { Median } from "./median.js";
import { TrimmedMean } from "./trimmed-mean.js";
import type { Evaluate, Strategy } from "./types.js";

export type { Strategy, FitResult, FitFailure, RoundConfig, Evaluate, RoundEval, SampleFigures } from "./types.js";

/** The strategy a job's settings name, wrapped with clipping when maxUpdateNorm is set. */
export function makeStrategy(settings: JobSettings, evaluate: Evaluate): Strategy {
  let s: Strategy;
  switch (settings.strategy.name) {
    case "median":
      s = new Median(settings, evaluate);
      break;
    case "trimmed-mean":
      s = new TrimmedMean(settings, evaluate);
      break;
    case "krum":
      s = new Krum(settings, evaluate);
      break;
    default:
      s = new FedAvg(settings, evaluate);
  }
  return settings.maxUpdateNorm !== null ? new ClippedStrategy(s, settings.maxUpdateNorm) : s;
}
