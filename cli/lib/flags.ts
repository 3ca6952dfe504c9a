/** Parsing of command-line values, one home for every command: whole numbers, fractions, devices, training flags. */
import { deviceInfo } from "../../native/device.js";
import { QuackError } from "../../protocol/errors.js";
import { parseAmount } from "../../protocol/chain/units.js";
import { DEVICES, OPTIMIZERS, TRAIN_DEFAULTS, TRAIN_LIMITS, type OptimizerName, type OptimizerSettings, type TrainDevice, type TrainHyperparams } from "../../protocol/train.js";

/** A whole number flag within [min, max]. */
export function parseWhole(text: string | number, flag: string, min: number, max: number): number {
  const s = String(text).trim();
  const n = /^\d+$/.test(s) ? Number(s) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new QuackError("BAD_ARGUMENT", `${flag} '${text}' is not a whole number from ${min} to ${max}.`, { fix: `Pass e.g. ${flag} ${Math.max(min, Math.min(max, 10))}.` });
  }
  return n;
}

/** A decimal number flag for which `ok` holds; `range` says in words what is accepted. */
export function parseNumber(text: string | number, flag: string, ok: (v: number) => boolean, range: string): number {
  const s = String(text).trim();
  const v = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(s) ? Number(s) : NaN;
  if (!Number.isFinite(v) || !ok(v)) throw new QuackError("BAD_ARGUMENT", `${flag} '${text}' is not ${range}.`, { fix: `Pass ${flag} with ${range}.` });
  return v;
}

/**
 * A trainer's device on this machine: `cuda` where no GPU (or no CUDA build of the addon) is
 * present is refused at once, before anything is fetched or trained.
 */
export function localDevice(device: TrainDevice, flag = "--device"): TrainDevice {
  if (device !== "cuda" || deviceInfo().cuda) return device;
  throw new QuackError("CUDA_UNAVAILABLE", `${flag} cuda, but this machine has no usable CUDA GPU (or this build of the addon has no CUDA kernels).`, {
    fix: `Pass ${flag} cpu, or ${flag} auto (CUDA when a GPU is there, else the CPU).`,
  });
}

/** `--device`: auto, cpu or cuda. */
export function parseDevice(text: string, flag = "--device"): TrainDevice {
  if (!(DEVICES as readonly string[]).includes(text)) {
    throw new QuackError("BAD_ARGUMENT", `${flag} '${text}' is not auto, cpu or cuda.`, { fix: `Pass ${flag} auto (CUDA when a GPU is there, else CPU).` });
  }
  return text as TrainDevice;
}

export interface TrainFlags {
  epochs?: string;
  batch?: string;
  lr?: string;
  momentum?: string;
  optimizer?: string;
  weightDecay?: string;
  nesterov?: boolean;
  proxMu?: string;
}

/** The training flags every trainer takes (`--epochs --batch --lr --momentum`), defaults from protocol/train.ts. */
export function parseTrainFlags(flags: TrainFlags): TrainHyperparams {
  const L = TRAIN_LIMITS;
  return {
    epochs: parseWhole(flags.epochs ?? TRAIN_DEFAULTS.epochs, "--epochs", L.epochs.min, L.epochs.max),
    batchSize: parseWhole(flags.batch ?? TRAIN_DEFAULTS.batchSize, "--batch", L.batchSize.min, L.batchSize.max),
    lr: parseNumber(flags.lr ?? TRAIN_DEFAULTS.lr, "--lr", (v) => v > L.lr.exclusiveMin && v <= L.lr.max, `a learning rate above 0 and at most ${L.lr.max}`),
    momentum: parseNumber(flags.momentum ?? TRAIN_DEFAULTS.momentum, "--momentum", (v) => v >= L.momentum.min && v < L.momentum.exclusiveMax, "a momentum in [0, 1)"),
  };
}

/** --optimizer, --weight-decay, --nesterov and --prox-mu; only the flags given (the engine's defaults otherwise). */
export function parseOptimizerFlags(flags: TrainFlags): OptimizerSettings {
  const out: OptimizerSettings = {};
  if (flags.optimizer !== undefined) {
    const name = String(flags.optimizer).trim().toLowerCase();
    if (!(OPTIMIZERS as readonly string[]).includes(name)) {
      throw new QuackError("BAD_ARGUMENT", `--optimizer '${flags.optimizer}' is not known.`, { fix: `Use one of: ${OPTIMIZERS.join(", ")}.` });
    }
    out.optimizer = name as OptimizerName;
  }
  if (flags.weightDecay !== undefined) {
    const L = TRAIN_LIMITS.weightDecay;
    out.weightDecay = parseNumber(flags.weightDecay, "--weight-decay", (v) => v >= L.min && v <= L.max, `a weight decay in [${L.min}, ${L.max}]`);
  }
  if (flags.nesterov) {
    if ((out.optimizer ?? "sgd") !== "sgd") throw new QuackError("BAD_ARGUMENT", "--nesterov is a form of SGD momentum.", { fix: "Leave out --nesterov, or use --optimizer sgd with a --momentum above 0." });
    if (!(Number(flags.momentum ?? TRAIN_DEFAULTS.momentum) > 0)) throw new QuackError("BAD_ARGUMENT", "--nesterov needs a --momentum above 0.", { fix: "Pass e.g. --momentum 0.9 with --nesterov." });
    out.nesterov = true;
  }
  if (flags.proxMu !== undefined) {
    const L = TRAIN_LIMITS.proximalMu;
    out.proximalMu = parseNumber(flags.proxMu, "--prox-mu", (v) => v >= L.min && v <= L.max, `a FedProx μ in [${L.min}, ${L.max}] (0: off)`);
  }
  return out;
}

/** The training options as commander `.option(flags, description, default)` arguments, defaults from protocol/train.ts. */
export const TRAIN_OPTIONS = {
  epochs: (prefix = "") => ["--epochs <n>", `${prefix}local epochs per round`, String(TRAIN_DEFAULTS.epochs)] as const,
  batch: (prefix = "") => ["--batch <n>", `${prefix}mini-batch size`, String(TRAIN_DEFAULTS.batchSize)] as const,
  lr: (prefix = "") => ["--lr <rate>", `${prefix}learning rate`, String(TRAIN_DEFAULTS.lr)] as const,
  momentum: (prefix = "") => ["--momentum <m>", `${prefix}SGD momentum (0 = plain SGD)`, String(TRAIN_DEFAULTS.momentum)] as const,
  optimizer: (prefix = "") => ["--optimizer <name>", `${prefix}${OPTIMIZERS.join(" | ")} (as torch.optim; default sgd)`] as const,
  weightDecay: (prefix = "") => ["--weight-decay <w>", `${prefix}weight decay (sgd, adam: L2 on the gradient; adamw: decoupled, default 0.01)`] as const,
  nesterov: (prefix = "") => ["--nesterov", `${prefix}Nesterov momentum (sgd)`] as const,
  proxMu: (prefix = "") => ["--prox-mu <mu>", `${prefix}FedProx: add μ/2‖w − w_global‖² to the local loss (0 = off)`] as const,
};

/** A positive DUCK price per hour, in wei. */
export function parsePrice(text: string, what = "--price"): bigint {
  const wei = parseAmount(text, what);
  if (wei === 0n) throw new QuackError("BAD_AMOUNT", `${what} must be above 0 DUCK per hour.`, { fix: `Pass e.g. ${what} 5.` });
  return wei;
}

/** A rental or machine id argument. */
export function parseId(text: string, what: string): bigint {
  if (!/^\d+$/.test(String(text).trim()) || BigInt(text) === 0n) {
    throw new QuackError("BAD_ID", `${what} '${text}' is not an id (a whole number from 1).`, { fix: "Ids are shown by `quackmesh rent list` and `quackmesh market list`." });
  }
  return BigInt(text);
}
