/**
 * `job create` input, checked on this machine before anything touches the network: the model
 * spec, optional initial weights, the validation set and the numbers. Every refusal names the
 * flag and how to fix it.
 */
import { readFile, readdir, stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import { gunzipSync } from "node:zlib";
import { inputFeatures, parameterShapes, validateSpec } from "../../../native/index.js";
import { loadDataset } from "../../../native/data.js";
import { decodeSafetensors } from "../../../native/safetensors.js";
import type { ModelSpec } from "../../../native/types.js";
import type { ValidationUpload } from "../../../orchestrator/client.js";
import { STRATEGY_NAMES, type StrategyName } from "../../../protocol/settings.js";
import { QuackError, isQuackError } from "../../../protocol/errors.js";
import { parseAmount } from "../../../protocol/chain/units.js";
import { parseWhole } from "../flags.js";

export interface JobCreateInput {
  model: string;
  weights?: string;
  validation: string;
  reward: string;
  rewardPerUpdate: string;
  rounds: string;
  minUpdates: string;
  threshold: string;
  strategy?: string;
  deadlineHours?: string;
  /** Seed of the random initial weights the orchestrator draws when no --weights is given. */
  seed?: string;
  roundDeadline?: string;
}

export interface JobPlan {
  spec: ModelSpec;
  specFile: string;
  /** Initial weights as safetensors bytes; absent → the orchestrator draws them from `seed`. */
  weights?: Buffer;
  seed: number;
  validation: { upload: ValidationUpload; samples: number; source: string };
  reward: bigint;
  rewardPerUpdate: bigint;
  rounds: number;
  minUpdates: number;
  thresholdBps: number;
  strategy: StrategyName;
  deadlineSeconds: number;
  roundDeadlineSeconds?: number;
}

function bad(code: string, message: string, fix: string, cause?: unknown): QuackError {
  return new QuackError(code, message, { fix, cause });
}

/** Accuracy threshold as a fraction (0.7) → basis points (7000). */
export function parseThreshold(text: string): number {
  const s = String(text).trim();
  const v = /^\d*\.?\d+$/.test(s) ? Number(s) : NaN;
  if (!(v >= 0 && v <= 1)) {
    throw bad("BAD_ARGUMENT", `--threshold '${text}' is not an accuracy between 0 and 1.`, "Pass the least accuracy as a fraction, e.g. --threshold 0.7 for 70 %.");
  }
  return Math.round(v * 10000);
}

export async function readSpec(file: string): Promise<ModelSpec> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (cause) {
    throw bad("BAD_SPEC", `Cannot read the model spec ${file}.`, "Pass --model with the path of a JSON model spec.", cause);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw bad("BAD_SPEC", `${file} is not valid JSON: ${(cause as Error).message}.`, 'Write the spec as JSON, e.g. {"input":[784],"layers":[{"type":"dense","units":128,"activation":"relu"},{"type":"dense","units":10}],"loss":"cross-entropy"}.', cause);
  }
  try {
    return validateSpec(json);
  } catch (cause) {
    throw bad("BAD_SPEC", `${file} is not a valid model spec: ${(cause as Error).message}`, "Fix the spec: dense layers with positive units, an input shape, loss cross-entropy.", cause);
  }
}

/** Initial weights: safetensors whose tensors are exactly the spec's, by name and shape, all finite. */
export async function readWeights(file: string, spec: ModelSpec): Promise<Buffer> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (cause) {
    throw bad("BAD_WEIGHTS", `Cannot read the weights file ${file}.`, "Pass --weights with a safetensors file, or leave it out for random initial weights.", cause);
  }
  let tensors;
  try {
    tensors = decodeSafetensors(bytes).tensors;
  } catch (cause) {
    throw bad("BAD_WEIGHTS", `${file} is not safetensors: ${(cause as Error).message}`, "Export the weights with safetensors (PyTorch: save_file(model.state_dict(), path)).", cause);
  }
  const expected = parameterShapes(spec);
  const byName = new Map(tensors.map((t) => [t.name, t]));
  for (const e of expected) {
    const t = byName.get(e.name);
    if (!t || t.shape.join(",") !== e.shape.join(",")) {
      throw bad("BAD_WEIGHTS", `${file} does not fit the spec: tensor ${e.name} should have shape [${e.shape.join(", ")}] but ${t ? `has [${t.shape.join(", ")}]` : "is missing"}.`,
        `Export weights of the model the spec describes (tensors ${expected.map((x) => x.name).join(", ")}).`);
    }
    if (!t.data.every(Number.isFinite)) throw bad("BAD_WEIGHTS", `${file}: tensor ${e.name} holds NaN or infinite values.`, "Export finite weights.");
  }
  if (byName.size !== expected.length) {
    const extra = [...byName.keys()].filter((n) => !expected.some((e) => e.name === n));
    throw bad("BAD_WEIGHTS", `${file} holds tensors the spec does not have: ${extra.join(", ")}.`, "Export only the model's own parameters.");
  }
  return bytes;
}

const gunzipMaybe = (b: Buffer) => (b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b ? gunzipSync(b) : b);

/**
 * The validation set: read and checked with the same loader contributors use, then the bytes to
 * upload (the CSV, or the IDX pair, unzipped) so the orchestrator sees exactly these samples.
 */
export async function readValidation(path: string, spec: ModelSpec): Promise<JobPlan["validation"]> {
  let ds;
  try {
    ds = await loadDataset(path);
  } catch (cause) {
    if (isQuackError(cause)) throw new QuackError(cause.code, `Validation set: ${cause.message}`, { fix: cause.fix, cause });
    throw cause;
  }
  const features = inputFeatures(spec);
  if (ds.features !== features) {
    throw bad("BAD_DATA", `The validation set ${path} has ${ds.features} features per sample but the model takes ${features}.`, "Use validation data of the model's input size, or fix the spec's input.");
  }
  const classes = spec.layers[spec.layers.length - 1].units;
  const maxLabel = ds.y.reduce((m, v) => Math.max(m, v), 0);
  if (maxLabel >= classes) {
    throw bad("BAD_DATA", `The validation set ${path} has label ${maxLabel} but the model has ${classes} outputs (labels 0–${classes - 1}).`, "Fix the labels or the last layer's units.");
  }
  const full = resolve(path);
  if ((await stat(full)).isFile()) return { upload: { csv: gunzipMaybe(await readFile(full)) }, samples: ds.count, source: full };
  const names = (await readdir(full)).sort();
  const images = names.find((n) => /images.*idx3/i.test(n));
  const labels = names.find((n) => /labels.*idx1/i.test(n));
  if (images && labels) {
    const [img, lbl] = await Promise.all([readFile(join(full, images)), readFile(join(full, labels))]);
    return { upload: { images: gunzipMaybe(img), labels: gunzipMaybe(lbl) }, samples: ds.count, source: full };
  }
  return { upload: { csv: gunzipMaybe(await readFile(join(full, "data.csv"))) }, samples: ds.count, source: full };
}

/** Check every flag and read every file of `job create`; nothing leaves this machine. */
export async function planJob(input: JobCreateInput): Promise<JobPlan> {
  const reward = parseAmount(input.reward, "--reward");
  const rewardPerUpdate = parseAmount(input.rewardPerUpdate, "--reward-per-update");
  if (reward === 0n) throw bad("BAD_AMOUNT", "--reward must be more than 0 DUCK.", "Pass the pool to escrow, e.g. --reward 1000.");
  if (rewardPerUpdate === 0n || rewardPerUpdate > reward) {
    throw bad("BAD_AMOUNT", `--reward-per-update ${input.rewardPerUpdate} must be more than 0 and at most --reward ${input.reward}.`, "Pass e.g. --reward 1000 --reward-per-update 10.");
  }
  const rounds = parseWhole(input.rounds, "--rounds", 1, 100000);
  const minUpdates = parseWhole(input.minUpdates, "--min-updates", 1, 100000);
  const thresholdBps = parseThreshold(input.threshold);
  const strategy = (input.strategy ?? "fedavg").trim() as StrategyName;
  if (!STRATEGY_NAMES.includes(strategy)) {
    throw bad("BAD_ARGUMENT", `--strategy '${input.strategy}' is not known.`, `Use one of: ${STRATEGY_NAMES.join(", ")}.`);
  }
  const hours = Number(String(input.deadlineHours ?? "24").trim());
  if (!(hours > 0 && hours <= 24 * 3650)) {
    throw bad("BAD_ARGUMENT", `--deadline-hours '${input.deadlineHours}' is not a positive number of hours.`, "Pass e.g. --deadline-hours 24.");
  }
  const seed = input.seed === undefined ? Math.floor(Math.random() * 2 ** 32) : parseWhole(input.seed, "--seed", 0, 4294967295);
  const roundDeadlineSeconds = input.roundDeadline === undefined ? undefined : parseWhole(input.roundDeadline, "--round-deadline", 1, 31536000);
  const spec = await readSpec(input.model);
  const weights = input.weights === undefined ? undefined : await readWeights(input.weights, spec);
  const validation = await readValidation(input.validation, spec);
  return {
    spec,
    specFile: resolve(input.model),
    weights,
    seed,
    validation,
    reward,
    rewardPerUpdate,
    rounds,
    minUpdates,
    thresholdBps,
    strategy,
    deadlineSeconds: Math.round(hours * 3600),
    roundDeadlineSeconds,
  };
}
