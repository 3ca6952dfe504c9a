/**
 * `job create` input, checked on this machine before anything touches the network: the model
 * spec, optional initial weights, the validation set and the numbers. Every refusal names the
 * flag and how to fix it.
 */
import { readFile, readdir, stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import { gunzipSync } from "node:zlib";
import { Network, outputCount, parameterShapes, validateSpec } from "../../../native/index.js";
import { checkFitsModel, csvForModel, loadDataset, type CsvOptions } from "../../../native/data.js";
import { checkTargetsVary, r2Bps, regressionFit } from "../../../protocol/regression.js";
import { csvOptions } from "../data/scale.js";
import type { Dataset } from "../../../native/types.js";
import { decodeSafetensors } from "../../../native/safetensors.js";
import type { ModelSpec } from "../../../native/types.js";
import type { ValidationUpload } from "../../../orchestrator/client.js";
import { DEFAULT_SETTINGS, STRATEGY_NAMES, type JobTrainSettings, type StrategyName } from "../../../protocol/settings.js";
import { QuackError, isQuackError, type ErrorCode } from "../../../protocol/errors.js";
import { formatAmount, parseAmount } from "../../../protocol/chain/units.js";
import { parseOptimizerFlags, parseWhole } from "../flags.js";

export interface JobCreateInput {
  model: string;
  weights?: string;
  validation: string;
  reward: string;
  /** DUCK a round may commit (default: the pool over the rounds). */
  roundBudget?: string;
  /** DUCK one contributor may claim per round (default: the round budget). */
  maxPerContributor?: string;
  /** DUCK paid at once per accepted update (default 0). */
  flatPerUpdate?: string;
  /** Seconds after the last round's commitment before anyone may finish the job. */
  claimWindow?: string;
  /** L2 distance to the global model above which an update is refused. */
  normBound?: string;
  /** Without --norm-bound: leave out updates farther than this multiple of the round's median distance. */
  normMultiple?: string;
  trustNumSamples?: boolean;
  rounds: string;
  minUpdates: string;
  threshold: string;
  strategy?: string;
  deadlineHours?: string;
  /** Seed of the random initial weights the orchestrator draws when no --weights is given. */
  seed?: string;
  roundDeadline?: string;
  /** Create the job even when the settings cannot complete (each problem becomes a warning). */
  force?: boolean;
  /** Divide the validation CSV's features by this (--scale); absent: as written. */
  scale?: string;
  /** The local training the job asks for (--optimizer, --weight-decay, --nesterov, --prox-mu). */
  optimizer?: string;
  weightDecay?: string;
  nesterov?: boolean;
  proxMu?: string;
  /** Cluster: the workers' momentum (--nesterov needs one above 0). */
  momentum?: string;
}

export interface JobPlan {
  spec: ModelSpec;
  specFile: string;
  /** Initial weights as safetensors bytes; absent → the orchestrator draws them from `seed`. */
  weights?: Buffer;
  seed: number;
  validation: { upload: ValidationUpload; samples: number; source: string };
  reward: bigint;
  roundBudget: bigint;
  maxPerContributor: bigint;
  flatPerUpdate: bigint;
  /** Seconds; undefined: the network's default (DEFAULT_CLAIM_WINDOW). */
  claimWindow?: number;
  normBound?: number;
  normMultiple?: number;
  trustNumSamples: boolean;
  rounds: number;
  minUpdates: number;
  thresholdBps: number;
  strategy: StrategyName;
  deadlineSeconds: number;
  roundDeadlineSeconds?: number;
  /** The local training asked of contributors and workers; empty: each trainer's own. */
  train: JobTrainSettings;
  /** Accuracy of the initial model on the validation set (what round 0 starts from). */
  initialAccuracy: number;
  /** Settings that cannot complete, accepted with --force (empty otherwise). */
  warnings: string[];
  /** What the data looks like that the job may not expect (raw-looking pixels read without --scale). */
  dataWarnings: string[];
}

function bad(code: ErrorCode, message: string, fix: string, cause?: unknown): QuackError {
  return new QuackError(code, message, { fix, cause });
}

/** A job's training settings in one line, e.g. "adam, weight decay 0.001, FedProx μ 0.01". */
export function describeTraining(t: JobTrainSettings): string {
  const parts = [t.optimizer ?? "optimizer: each trainer's own"];
  if (t.nesterov) parts.push("Nesterov");
  if (t.weightDecay !== undefined) parts.push(`weight decay ${t.weightDecay}`);
  if (t.proximalMu !== undefined) parts.push(`FedProx μ ${t.proximalMu}`);
  return parts.join(", ");
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
    throw bad("BAD_SPEC", `${file} is not a valid model spec: ${(cause as Error).message}`, "Fix the spec: dense layers with positive units, an input shape, loss cross-entropy (classification) or mse (regression).", cause);
  }
}

/** Initial weights: safetensors whose tensors are exactly the spec's, by name and shape, all finite. */
export async function readWeights(file: string, spec: ModelSpec): Promise<Buffer> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (cause) {
    throw bad("INVALID_WEIGHTS", `Cannot read the weights file ${file}.`, "Pass --weights with a safetensors file, or leave it out for random initial weights.", cause);
  }
  let tensors;
  try {
    tensors = decodeSafetensors(bytes).tensors;
  } catch (cause) {
    throw bad("INVALID_WEIGHTS", `${file} is not safetensors: ${(cause as Error).message}`, "Export the weights with safetensors (PyTorch: save_file(model.state_dict(), path)).", cause);
  }
  const expected = parameterShapes(spec);
  const byName = new Map(tensors.map((t) => [t.name, t]));
  for (const e of expected) {
    const t = byName.get(e.name);
    if (!t || t.shape.join(",") !== e.shape.join(",")) {
      throw bad("INVALID_WEIGHTS", `${file} does not fit the spec: tensor ${e.name} should have shape [${e.shape.join(", ")}] but ${t ? `has [${t.shape.join(", ")}]` : "is missing"}.`,
        `Export weights of the model the spec describes (tensors ${expected.map((x) => x.name).join(", ")}).`);
    }
    if (!t.data.every(Number.isFinite)) throw bad("INVALID_WEIGHTS", `${file}: tensor ${e.name} holds NaN or infinite values.`, "Export finite weights.");
  }
  if (byName.size !== expected.length) {
    const extra = [...byName.keys()].filter((n) => !expected.some((e) => e.name === n));
    throw bad("INVALID_WEIGHTS", `${file} holds tensors the spec does not have: ${extra.join(", ")}.`, "Export only the model's own parameters.");
  }
  return bytes;
}

const gunzipMaybe = (b: Buffer) => (b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b ? gunzipSync(b) : b);

/** A data set as CSV text (label, or a regression's targets, first), each value written so that it reads back as the same float32. */
export function datasetCsv(ds: Dataset): Buffer {
  const lines: string[] = [];
  const exact = (v: number) => String(Number(v.toPrecision(9)));
  const width = ds.targets ? ds.targets.length / ds.count : 0;
  for (let i = 0; i < ds.count; i++) {
    const row = ds.targets ? Array.from(ds.targets.subarray(i * width, (i + 1) * width), exact) : [String(ds.y[i])];
    for (let j = 0; j < ds.features; j++) row.push(exact(ds.x[i * ds.features + j]));
    lines.push(row.join(","));
  }
  return Buffer.from(lines.join("\n") + "\n");
}

/**
 * The validation set: read and checked with the same loader contributors use, then the bytes to
 * upload (the CSV, or the IDX pair, unzipped) so the orchestrator sees exactly these samples. A
 * CSV read with a scale is uploaded as the scaled values, since the orchestrator reads CSV as written.
 */
export async function readValidation(path: string, spec: ModelSpec, csv: CsvOptions = {}): Promise<JobPlan["validation"] & { data: Dataset }> {
  let ds;
  try {
    // The spec says how the CSV reads: a regression's target columns first, or a label (csvForModel).
    ds = await loadDataset(path, csvForModel(spec, csv));
  } catch (cause) {
    if (isQuackError(cause)) throw new QuackError(cause.code, `Validation set: ${cause.message}`, { fix: cause.fix, cause });
    throw cause;
  }
  checkFitsModel(ds, spec, `The validation set ${path}`);
  if (ds.targets) checkTargetsVary(ds.targets, outputCount(spec), `The validation set ${path}`);
  const full = resolve(path);
  if (csv.scale !== undefined) return { upload: { csv: datasetCsv(ds) }, samples: ds.count, source: full, data: ds };
  if ((await stat(full)).isFile()) return { upload: { csv: gunzipMaybe(await readFile(full)) }, samples: ds.count, source: full, data: ds };
  const names = (await readdir(full)).sort();
  const images = names.find((n) => /images.*idx3/i.test(n));
  const labels = names.find((n) => /labels.*idx1/i.test(n));
  if (images && labels) {
    const [img, lbl] = await Promise.all([readFile(join(full, images)), readFile(join(full, labels))]);
    return { upload: { images: gunzipMaybe(img), labels: gunzipMaybe(lbl) }, samples: ds.count, source: full, data: ds };
  }
  return { upload: { csv: gunzipMaybe(await readFile(join(full, "data.csv"))) }, samples: ds.count, source: full, data: ds };
}

/** Check every flag and read every file of `job create`; nothing leaves this machine. */
export async function planJob(input: JobCreateInput): Promise<JobPlan> {
  const reward = parseAmount(input.reward, "--reward");
  if (reward === 0n) throw bad("BAD_AMOUNT", "--reward must be more than 0 DUCK.", "Pass the pool to escrow, e.g. --reward 1000.");
  const rounds = parseWhole(input.rounds, "--rounds", 1, 100000);
  const roundBudget = input.roundBudget === undefined ? reward / BigInt(rounds) : parseAmount(input.roundBudget, "--round-budget");
  if (roundBudget === 0n || roundBudget > reward) {
    throw bad("BAD_AMOUNT", `The round budget ${formatAmount(roundBudget)} DUCK must be more than 0 and at most --reward ${input.reward}.`, "Pass e.g. --reward 1000 --rounds 10 (100 DUCK a round), or --round-budget 100.");
  }
  const maxPerContributor = input.maxPerContributor === undefined ? roundBudget : parseAmount(input.maxPerContributor, "--max-per-contributor");
  if (maxPerContributor === 0n || maxPerContributor > roundBudget) {
    throw bad("BAD_AMOUNT", `--max-per-contributor ${input.maxPerContributor} must be more than 0 and at most the round budget (${formatAmount(roundBudget)} DUCK).`, "Leave it out (the round budget) or pass a smaller cap, e.g. --max-per-contributor 20.");
  }
  const flatPerUpdate = input.flatPerUpdate === undefined ? 0n : parseAmount(input.flatPerUpdate, "--flat-per-update");
  if (flatPerUpdate > roundBudget) {
    throw bad("BAD_AMOUNT", `--flat-per-update ${input.flatPerUpdate} must be at most the round budget (${formatAmount(roundBudget)} DUCK).`, "Leave it out (no flat part: only contribution is paid) or pass e.g. --flat-per-update 0.1.");
  }
  const claimWindow = input.claimWindow === undefined ? undefined : parseWhole(input.claimWindow, "--claim-window", 0, 30 * 86400);
  const positive = (text: string | undefined, flag: string, min: number): number | undefined => {
    if (text === undefined) return undefined;
    const v = Number(String(text).trim());
    if (!(Number.isFinite(v) && v >= min)) throw bad("BAD_ARGUMENT", `${flag} '${text}' is not a number of at least ${min}.`, `Pass e.g. ${flag} ${Math.max(min, 3)}.`);
    return v;
  };
  const normBound = positive(input.normBound, "--norm-bound", Number.MIN_VALUE);
  const normMultiple = positive(input.normMultiple, "--norm-multiple", 1);
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
  const train: JobTrainSettings = parseOptimizerFlags({ optimizer: input.optimizer, weightDecay: input.weightDecay, nesterov: input.nesterov, proxMu: input.proxMu, momentum: input.momentum });
  const spec = await readSpec(input.model);
  const weights = input.weights === undefined ? undefined : await readWeights(input.weights, spec);
  const dataWarnings: string[] = [];
  const { data: validationData, ...validation } = await readValidation(input.validation, spec, csvOptions(input.scale, (w) => dataWarnings.push(`Validation set: ${w}`)));
  const initialAccuracy = await initialModelAccuracy(spec, weights, seed, validationData);
  const problems = feasibilityProblems({ reward, roundBudget, flatPerUpdate, rounds, minUpdates, thresholdBps, initialAccuracy, deadlineSeconds: Math.round(hours * 3600), roundDeadlineSeconds: roundDeadlineSeconds ?? DEFAULT_SETTINGS.roundDeadlineSeconds });
  if (problems.length > 0 && !input.force) {
    throw bad("BAD_ARGUMENT", `These settings cannot complete: ${problems.map((p) => p.problem).join(" ")}`, `${problems.map((p) => p.fix).join(" ")} (Or pass --force to create the job anyway.)`);
  }
  return {
    spec,
    specFile: resolve(input.model),
    weights,
    seed,
    validation,
    reward,
    roundBudget,
    maxPerContributor,
    flatPerUpdate,
    claimWindow,
    normBound,
    normMultiple,
    trustNumSamples: Boolean(input.trustNumSamples),
    rounds,
    minUpdates,
    thresholdBps,
    strategy,
    deadlineSeconds: Math.round(hours * 3600),
    roundDeadlineSeconds,
    train,
    initialAccuracy,
    warnings: problems.map((p) => p.problem),
    dataWarnings,
  };
}

/**
 * The initial model's accuracy on the validation set: the given weights, or the seed's random ones
 * (the orchestrator draws the same). A regression's is its R², from 0 up as the threshold reads it.
 */
async function initialModelAccuracy(spec: ModelSpec, weights: Buffer | undefined, seed: number, data: Dataset): Promise<number> {
  const net = weights ? Network.fromWeights(spec, decodeSafetensors(weights).tensors, { device: "cpu" }) : Network.create(spec, { seed, device: "cpu" });
  if (data.targets) return r2Bps(regressionFit(await net.predict(data.x, data.count), data.targets, outputCount(spec)).r2) / 10000;
  return (await net.evaluate(data)).accuracy;
}

/**
 * The most a threshold may ask: every update, from round 0 on, must reach it, and a round can
 * plausibly close at most this share of the initial model's error on the validation set.
 */
export const PLAUSIBLE_GAIN = 0.9;

/** Highest accuracy threshold (basis points) a job starting at `initialAccuracy` can plausibly see reached. */
export function plausibleThresholdBps(initialAccuracy: number): number {
  return Math.floor((initialAccuracy + PLAUSIBLE_GAIN * (1 - initialAccuracy)) * 10000);
}

export interface Feasibility {
  reward: bigint;
  roundBudget: bigint;
  flatPerUpdate: bigint;
  rounds: number;
  minUpdates: number;
  thresholdBps: number;
  initialAccuracy: number;
  deadlineSeconds: number;
  roundDeadlineSeconds: number;
}

/**
 * Settings that cannot complete, each with its fix: a pool smaller than every round's budget
 * plus the flat parts of the updates that close them, a threshold above what round 0 can
 * plausibly reach (see PLAUSIBLE_GAIN), a deadline shorter than the rounds' own deadlines.
 */
export function feasibilityProblems(f: Feasibility): Array<{ problem: string; fix: string }> {
  const out: Array<{ problem: string; fix: string }> = [];
  const rounds = BigInt(f.rounds);
  const needed = rounds * f.roundBudget + rounds * BigInt(f.minUpdates) * f.flatPerUpdate;
  if (f.reward < needed) {
    const flat = f.flatPerUpdate > 0n ? ` + ${f.rounds} × ${f.minUpdates} updates × ${formatAmount(f.flatPerUpdate)} flat` : "";
    out.push({
      problem: `the pool of ${formatAmount(f.reward)} DUCK is less than ${f.rounds} rounds × ${formatAmount(f.roundBudget)} DUCK${flat} = ${formatAmount(needed)} DUCK, so the last rounds would find it exhausted.`,
      fix: `Raise --reward to ${formatAmount(needed)}, or lower --round-budget, --flat-per-update or --rounds.`,
    });
  }
  const limit = plausibleThresholdBps(f.initialAccuracy);
  if (f.thresholdBps > limit) {
    out.push({
      problem: `--threshold ${f.thresholdBps / 10000} is above what round 0 can plausibly reach: the initial model scores ${(f.initialAccuracy * 100).toFixed(1)} % on the validation set, and a round closing ${PLAUSIBLE_GAIN * 100} % of its error reaches ${(limit / 100).toFixed(1)} %; every update below the threshold is refused.`,
      fix: `Lower --threshold to at most ${(limit / 10000).toFixed(2)}, or start from better --weights.`,
    });
  }
  const roundsTime = f.rounds * f.roundDeadlineSeconds;
  if (f.deadlineSeconds < roundsTime) {
    out.push({
      problem: `the deadline (${f.deadlineSeconds} s) is shorter than ${f.rounds} rounds × the round deadline (${f.roundDeadlineSeconds} s) = ${roundsTime} s.`,
      fix: `Raise --deadline-hours to at least ${Math.ceil((roundsTime / 3600) * 100) / 100}, or lower --rounds or --round-deadline.`,
    });
  }
  return out;
}
