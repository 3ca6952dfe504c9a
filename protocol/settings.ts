/**
 * A job's settings: the schema the API validates and the type derived from it, with defaults.
 * The chain's `rounds` and `accuracyThresholdBps` replace the draft's when the job activates,
 * because those are what the contract enforces and pays for.
 */
import { schema, type FromSchema } from "./schema.js";
import { OPTIMIZERS, TRAIN_LIMITS } from "./train.js";

export const STRATEGY_NAMES = ["fedavg", "median", "trimmed-mean", "krum"] as const;
export type StrategyName = (typeof STRATEGY_NAMES)[number];

export const strategySchema = schema({
  type: "object",
  required: ["name"],
  additionalProperties: false,
  properties: {
    name: { type: "string", enum: STRATEGY_NAMES, description: "aggregation rule" },
    beta: { type: "number", minimum: 0, exclusiveMaximum: 0.5, description: "trimmed-mean: fraction cut at each end" },
    f: { type: "integer", minimum: 0, maximum: 1000, description: "krum: number of byzantine updates tolerated" },
    m: { type: "integer", minimum: 1, maximum: 1000, description: "krum: updates averaged (multi-Krum); 1 = Krum" },
  },
});

/**
 * How the job asks its contributors and cluster workers to train locally: the optimizer and
 * FedProx's μ. Each field absent: the trainer's own choice. A contributor's own flag for a field
 * wins (the orchestrator cannot see how an update was trained; it measures what it adds).
 */
export const jobTrainSchema = schema({
  type: "object",
  additionalProperties: false,
  properties: {
    optimizer: { type: "string", enum: OPTIMIZERS, description: "local optimizer, as torch.optim: sgd, adam or adamw" },
    nesterov: { type: "boolean", description: "sgd: Nesterov momentum" },
    weightDecay: { type: "number", minimum: TRAIN_LIMITS.weightDecay.min, maximum: TRAIN_LIMITS.weightDecay.max, description: "sgd, adam: L2 on the gradient; adamw: decoupled (its default 0.01)" },
    proximalMu: { type: "number", minimum: TRAIN_LIMITS.proximalMu.min, maximum: TRAIN_LIMITS.proximalMu.max, description: "FedProx: μ of the proximal term μ/2‖w − w_global‖² (0: plain FedAvg)" },
  },
});
export type JobTrainSettings = FromSchema<typeof jobTrainSchema>;

const settingsProperties = {
  rounds: { type: "integer", minimum: 1, maximum: 100000, description: "number of rounds (the chain's value wins)" },
  minUpdates: { type: "integer", minimum: 1, maximum: 100000, description: "a round closes as soon as this many useful updates (contribution above zero) were accepted" },
  minUpdatesAtDeadline: { type: "integer", minimum: 1, maximum: 100000, description: "at its deadline a round closes if it has this many accepted updates; else the deadline is extended" },
  roundDeadlineSeconds: { type: "integer", minimum: 1, maximum: 31536000 },
  strategy: strategySchema,
  thresholdBps: { type: "integer", minimum: 0, maximum: 10000, description: "least accuracy, basis points (the chain's value wins)" },
  normBound: { type: "number", exclusiveMinimum: 0, description: "refuse updates whose L2 distance to the global model exceeds this" },
  normMultiple: {
    type: "number",
    minimum: 1,
    maximum: 1000,
    description: "without normBound: leave out of the model, unpaid, an update farther from the global model than this multiple of the round's (lower) median distance",
  },
  trustNumSamples: { type: "boolean", description: "weigh updates by their claimed sample counts as given; by default no claim counts above the round's (lower) median claim" },
  maxUpdateNorm: { type: "number", exclusiveMinimum: 0, description: "clip each update's distance to the global model to this norm before aggregating" },
  train: jobTrainSchema,
} as const;

/** Settings as a requester sends them: every field optional. */
export const settingsSchema = schema({ type: "object", additionalProperties: false, properties: settingsProperties });

/** Settings as a job holds them: defaults filled in, optional bounds null. */
export const jobSettingsSchema = schema({
  type: "object",
  additionalProperties: false,
  required: ["rounds", "minUpdates", "minUpdatesAtDeadline", "roundDeadlineSeconds", "strategy", "thresholdBps", "normBound", "normMultiple", "trustNumSamples", "maxUpdateNorm", "train"],
  properties: {
    ...settingsProperties,
    normBound: { ...settingsProperties.normBound, type: ["number", "null"] },
    maxUpdateNorm: { ...settingsProperties.maxUpdateNorm, type: ["number", "null"] },
  },
});

export type JobSettingsInput = FromSchema<typeof settingsSchema>;
export type JobSettings = FromSchema<typeof jobSettingsSchema>;

export const DEFAULT_SETTINGS: JobSettings = {
  rounds: 3,
  minUpdates: 2,
  minUpdatesAtDeadline: 1,
  roundDeadlineSeconds: 600,
  strategy: { name: "fedavg" },
  thresholdBps: 0,
  normBound: null,
  normMultiple: 3,
  trustNumSamples: false,
  maxUpdateNorm: null,
  train: {},
};

/** Fill defaults and check what a schema cannot (relations between fields). Returns an error text or the settings. */
export function resolveSettings(input: JobSettingsInput = {}): { settings: JobSettings } | { error: string } {
  const minUpdates = input.minUpdates ?? DEFAULT_SETTINGS.minUpdates;
  const strategy = input.strategy ?? DEFAULT_SETTINGS.strategy;
  // Krum needs n > 2f + 2 updates even when a deadline closes the round.
  const krumFloor = strategy.name === "krum" ? Math.min(minUpdates, 2 * (strategy.f ?? 0) + 3) : 1;
  const s: JobSettings = {
    rounds: input.rounds ?? DEFAULT_SETTINGS.rounds,
    minUpdates,
    minUpdatesAtDeadline: input.minUpdatesAtDeadline ?? Math.max(DEFAULT_SETTINGS.minUpdatesAtDeadline, krumFloor),
    roundDeadlineSeconds: input.roundDeadlineSeconds ?? DEFAULT_SETTINGS.roundDeadlineSeconds,
    strategy,
    thresholdBps: input.thresholdBps ?? DEFAULT_SETTINGS.thresholdBps,
    normBound: input.normBound ?? null,
    normMultiple: input.normMultiple ?? DEFAULT_SETTINGS.normMultiple,
    trustNumSamples: input.trustNumSamples ?? DEFAULT_SETTINGS.trustNumSamples,
    maxUpdateNorm: input.maxUpdateNorm ?? null,
    train: input.train ?? {},
  };
  if (s.minUpdatesAtDeadline > s.minUpdates) {
    return { error: `minUpdatesAtDeadline (${s.minUpdatesAtDeadline}) cannot exceed minUpdates (${s.minUpdates}).` };
  }
  if (s.train.nesterov && (s.train.optimizer ?? "sgd") !== "sgd") return { error: `train.nesterov is a form of SGD momentum; train.optimizer is ${s.train.optimizer}.` };
  const st = s.strategy;
  if (st.name === "krum") {
    const f = st.f ?? 0;
    // Krum scores each update by its n - f - 2 nearest neighbours: it needs n > 2f + 2.
    if (s.minUpdatesAtDeadline < 2 * f + 3) {
      return { error: `krum with f=${f} needs at least ${2 * f + 3} updates per round (n > 2f + 2); minUpdates=${s.minUpdates}, minUpdatesAtDeadline=${s.minUpdatesAtDeadline}.` };
    }
    if (st.m !== undefined && st.m > s.minUpdates - f) {
      return { error: `krum m=${st.m} must be at most minUpdates - f = ${s.minUpdates - f}.` };
    }
  }
  if (st.name !== "trimmed-mean" && st.beta !== undefined) return { error: `beta applies only to the trimmed-mean strategy.` };
  if (st.name !== "krum" && (st.f !== undefined || st.m !== undefined)) return { error: `f and m apply only to the krum strategy.` };
  return { settings: s };
}
