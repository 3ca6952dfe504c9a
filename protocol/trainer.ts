/**
 * The folder protocol of an external trainer (`contribute --trainer`, `worker --trainer`): each
 * round QuackMesh fills a fresh folder with the files below, runs the trainer's command in it,
 * and reads back UPDATE. One home for the names, so the CLI, the shipped PyTorch trainer and the
 * README say the same thing.
 */
import type { OptimizerSettings, TrainDevice, TrainHyperparams } from "./train.js";

export const TRAINER_FILES = {
  /** The global model: float32 safetensors with PyTorch nn.Sequential names (0.weight, 0.bias, …). */
  model: "model.safetensors",
  /** The model spec as JSON (protocol/spec.ts). */
  spec: "spec.json",
  /** What to train on and how: TrainerRound below. */
  round: "round.json",
  /** What the trainer writes: the trained weights, same names, shapes and dtype (F32) as model. */
  update: "update.safetensors",
  /** Optional, written by the trainer: {"loss": number, "accuracy": number} of its local training. */
  metrics: "metrics.json",
} as const;

/** Version of round.json; a trainer refuses a version it does not know. */
export const TRAINER_PROTOCOL = 1;

/** Limits of a trainer run; the flags use the defaults. */
export const TRAINER_LIMITS = {
  /** Default time a round's trainer may run before it is killed. */
  defaultTimeoutS: 3600,
  maxTimeoutS: 7 * 24 * 3600,
  /** The last bytes of the trainer's stdout and stderr kept for the error message. */
  outputTailBytes: 8192,
  /** Room for the safetensors header beyond the tensors' own bytes. */
  headerSlackBytes: 1 << 20,
} as const;

/** round.json. */
export interface TrainerRound {
  protocol: typeof TRAINER_PROTOCOL;
  jobId: number;
  round: number;
  /** File names in the folder (TRAINER_FILES). */
  files: typeof TRAINER_FILES;
  /**
   * The local training data, without the contributor's held-out part: an IDX pair folder (pixels
   * 0–255, divide by 255) or a CSV file (label first; features already scaled, use them as they are).
   */
  data: { path: string; format: "idx" | "csv"; count: number; features: number };
  /** Absent optimizer fields: torch.optim's defaults (SGD; weight decay 0, AdamW's 0.01); proximalMu absent or 0: no FedProx term. */
  train: TrainHyperparams & OptimizerSettings & { seed: number; device: TrainDevice };
}
