/** The flags of a trainer (`contribute`, `worker`): the shared training flags plus device, hold-out and an external trainer. */
import { localDevice, parseDevice, parseNumber, parseOptimizerFlags, parseTrainFlags, parseWhole, type TrainFlags } from "../flags.js";
import { TRAINER_LIMITS } from "../../../protocol/trainer.js";
import type { TrainSettings } from "./runner.js";
import { parseTrainerCommand, resolveTrainerArgv, type ExternalTrainer } from "./trainer.js";

export interface TrainerFlags extends TrainFlags {
  device: string;
  holdout: string;
  trainer?: string;
  trainerTimeout?: string;
}

export function trainSettingsFrom(flags: TrainerFlags): TrainSettings {
  return {
    ...parseTrainFlags(flags),
    ...parseOptimizerFlags(flags),
    device: localDevice(parseDevice(flags.device)),
    holdout: parseNumber(flags.holdout, "--holdout", (v) => v >= 0 && v < 1, "a fraction in [0, 1)"),
  };
}

/** --trainer and --trainer-timeout; undefined when the engine trains. */
export function externalTrainerFrom(flags: TrainerFlags): ExternalTrainer | undefined {
  if (flags.trainer === undefined) return undefined;
  const seconds = parseWhole(flags.trainerTimeout ?? TRAINER_LIMITS.defaultTimeoutS, "--trainer-timeout", 1, TRAINER_LIMITS.maxTimeoutS);
  return { argv: resolveTrainerArgv(parseTrainerCommand(flags.trainer)), timeoutMs: seconds * 1000 };
}

/** The two flags, shared by `contribute` and `worker`. */
export const TRAINER_OPTIONS = {
  trainer: () => ["--trainer <command>", "train each round with this program instead of the engine (see README: External trainers)"] as const,
  timeout: () => ["--trainer-timeout <seconds>", "kill the trainer after this long in a round", String(TRAINER_LIMITS.defaultTimeoutS)] as const,
};
