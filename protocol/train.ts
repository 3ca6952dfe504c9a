/**
 * Local training settings: one schema, one set of defaults, used by `contribute`, `worker`,
 * `rent --train`, `job create --cluster`, the demo and the orchestrator's cluster settings.
 */
import { schema, type FromSchema } from "./schema.js";

export const DEVICES = ["auto", "cpu", "cuda"] as const;
export type TrainDevice = (typeof DEVICES)[number];

/** Limits of each setting; the flags and the API schema both read them. */
export const TRAIN_LIMITS = {
  epochs: { min: 1, max: 1000 },
  batchSize: { min: 1, max: 65536 },
  lr: { exclusiveMin: 0, max: 10 },
  momentum: { min: 0, exclusiveMax: 1 },
  weightDecay: { min: 0, max: 1 },
  proximalMu: { min: 0, max: 100 },
} as const;

/** The optimizers of local training, as torch.optim defines them (SGD, Adam, AdamW). */
export const OPTIMIZERS = ["sgd", "adam", "adamw"] as const;
export type OptimizerName = (typeof OPTIMIZERS)[number];

/**
 * A trainer's own optimizer choice beyond lr and momentum; absent fields take the engine's
 * defaults (SGD; no weight decay, AdamW's 0.01). Its state lives for one local run only.
 */
export interface OptimizerSettings {
  optimizer?: OptimizerName;
  /** SGD with momentum: Nesterov's form */
  nesterov?: boolean;
  weightDecay?: number;
  /** FedProx: μ/2‖w − w_global‖² added to the local loss (0 or absent: off) */
  proximalMu?: number;
}

export const trainSettingsSchema = schema({
  type: "object",
  required: ["epochs", "batchSize", "lr", "momentum"],
  additionalProperties: false,
  properties: {
    epochs: { type: "integer", minimum: TRAIN_LIMITS.epochs.min, maximum: TRAIN_LIMITS.epochs.max, description: "local epochs per round" },
    batchSize: { type: "integer", minimum: TRAIN_LIMITS.batchSize.min, maximum: TRAIN_LIMITS.batchSize.max, description: "mini-batch size" },
    lr: { type: "number", exclusiveMinimum: TRAIN_LIMITS.lr.exclusiveMin, maximum: TRAIN_LIMITS.lr.max, description: "learning rate" },
    momentum: { type: "number", minimum: TRAIN_LIMITS.momentum.min, exclusiveMaximum: TRAIN_LIMITS.momentum.exclusiveMax, description: "SGD momentum (0 = plain SGD)" },
  },
});

/** The same settings, each optional (a requester's change to a cluster's settings). */
export const trainSettingsPatchSchema = schema({ ...trainSettingsSchema, required: [] as const });

/** What every trainer of a round uses: epochs, batch, learning rate, momentum. */
export type TrainHyperparams = FromSchema<typeof trainSettingsSchema>;

/** The defaults everywhere (a contributor, a cluster worker, the demo). */
export const TRAIN_DEFAULTS: TrainHyperparams = { epochs: 1, batchSize: 64, lr: 0.1, momentum: 0.9 };
