/** The flags of a trainer (`contribute`, `worker`): the shared training flags plus device and hold-out. */
import { parseDevice, parseNumber, parseTrainFlags, type TrainFlags } from "../flags.js";
import type { TrainSettings } from "./runner.js";

export interface TrainerFlags extends TrainFlags {
  device: string;
  holdout: string;
}

export function trainSettingsFrom(flags: TrainerFlags): TrainSettings {
  return {
    ...parseTrainFlags(flags),
    device: parseDevice(flags.device),
    holdout: parseNumber(flags.holdout, "--holdout", (v) => v >= 0 && v < 1, "a fraction in [0, 1)"),
  };
}
