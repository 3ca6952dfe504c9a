/** Model specs: validation with errors naming the field, and PyTorch-compatible tensor names. */
import { describe, fail } from "./errors.js";
import { SPEC_LIMITS, activationBytes, parameterCount, type SpecBudget } from "../protocol/spec.js";
import type { DenseLayerSpec, ModelSpec } from "./types.js";

/** The usual standardization of MNIST pixels in [0, 1] (their mean and standard deviation). */
export const MNIST_NORMALIZE = { mean: 0.1307, std: 0.3081 } as const;

/** The most classes a network may have: labels travel as bytes (Uint8Array). */
export const MAX_CLASSES = SPEC_LIMITS.classes;

function badSpec(field: string, message: string): never {
  fail("BAD_SPEC", field, `${field} ${message}`);
}

function checkKeys(o: Record<string, unknown>, allowed: string[], where: string): void {
  for (const key of Object.keys(o)) if (!allowed.includes(key)) badSpec(`${where}.${key}`, `is not a known field (expected one of ${allowed.join(", ")})`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * Checks a model spec (e.g. parsed JSON) and returns a clean copy; throws BAD_SPEC naming the
 * field. Sizes are checked against SPEC_LIMITS and the caller's `budget` before any memory is
 * taken, so no spec can make the engine allocate more than its limits.
 */
export function validateSpec(spec: unknown, budget: SpecBudget = {}): ModelSpec {
  if (!isObject(spec)) badSpec("spec", `must be an object, got ${describe(spec)}`);
  checkKeys(spec, ["input", "layers", "loss", "normalize"], "spec");
  const input = spec.input;
  if (!Array.isArray(input) || input.length === 0 || input.length > SPEC_LIMITS.inputDims) badSpec("spec.input", `must be an array of 1 to ${SPEC_LIMITS.inputDims} positive integers, e.g. [784]`);
  input.forEach((d, i) => {
    if (typeof d !== "number" || !Number.isInteger(d) || d < 1 || d > SPEC_LIMITS.width) badSpec(`spec.input[${i}]`, `must be an integer between 1 and ${SPEC_LIMITS.width}, got ${describe(d)}`);
  });
  if (spec.loss !== "cross-entropy") badSpec("spec.loss", `must be "cross-entropy", got ${describe(spec.loss)}`);
  if (!Array.isArray(spec.layers) || spec.layers.length === 0 || spec.layers.length > SPEC_LIMITS.layers) badSpec("spec.layers", `must be an array of 1 to ${SPEC_LIMITS.layers} layers`);
  const layers: DenseLayerSpec[] = spec.layers.map((layer: unknown, i: number) => {
    const where = `spec.layers[${i}]`;
    if (!isObject(layer)) badSpec(where, `must be an object, got ${describe(layer)}`);
    checkKeys(layer, ["type", "units", "activation"], where);
    if (layer.type !== "dense") badSpec(`${where}.type`, `must be "dense", got ${describe(layer.type)}`);
    const units = layer.units;
    if (typeof units !== "number" || !Number.isInteger(units) || units < 1 || units > SPEC_LIMITS.width) badSpec(`${where}.units`, `must be an integer between 1 and ${SPEC_LIMITS.width}, got ${describe(units)}`);
    const activation = layer.activation ?? "none";
    if (activation !== "relu" && activation !== "none") badSpec(`${where}.activation`, `must be "relu" or "none", got ${describe(activation)}`);
    return { type: "dense", units, activation };
  });
  const last = layers.length - 1;
  if (layers[last].activation !== "none") badSpec(`spec.layers[${last}].activation`, "must be \"none\": the last layer gives the logits of the cross-entropy loss");
  if (layers[last].units < 2 || layers[last].units > MAX_CLASSES) badSpec(`spec.layers[${last}].units`, `must be between 2 and ${MAX_CLASSES} classes`);
  const clean: ModelSpec = { input: [...(input as number[])], layers, loss: "cross-entropy" };
  checkSize(clean, budget);
  if (spec.normalize !== undefined) clean.normalize = validateNormalize(spec.normalize);
  return clean;
}

function checkSize(spec: ModelSpec, budget: SpecBudget): void {
  const maxParameters = Math.min(budget.maxParameters ?? SPEC_LIMITS.parameters, SPEC_LIMITS.parameters);
  const parameters = parameterCount(spec);
  if (parameters > maxParameters) {
    badSpec("spec.layers", `hold ${parameters.toExponential(3)} parameters, above the limit of ${maxParameters.toLocaleString("en-US")}: use fewer or smaller layers, or a smaller input`);
  }
  if (budget.maxActivationBytes !== undefined) {
    const batch = budget.batch ?? 1;
    const bytes = activationBytes(spec, batch);
    if (bytes > budget.maxActivationBytes) {
      badSpec("spec.layers", `need ${(bytes / 2 ** 20).toFixed(1)} MiB of activations for a batch of ${batch}, above the limit of ${(budget.maxActivationBytes / 2 ** 20).toFixed(1)} MiB: use narrower layers or a smaller input`);
    }
  }
}

function validateNormalize(n: unknown): { mean: number; std: number } {
  if (!isObject(n)) badSpec("spec.normalize", `must be an object {"mean": number, "std": number}, got ${describe(n)}`);
  checkKeys(n, ["mean", "std"], "spec.normalize");
  const { mean, std } = n;
  if (typeof mean !== "number" || !Number.isFinite(mean)) badSpec("spec.normalize.mean", `must be a finite number, got ${describe(mean)}`);
  if (typeof std !== "number" || !Number.isFinite(std) || std <= 0) badSpec("spec.normalize.std", `must be a finite number > 0, got ${describe(std)}`);
  return { mean, std };
}

export function inputFeatures(spec: ModelSpec): number {
  return spec.input.reduce((a, b) => a * b, 1);
}

/** One dense layer as the engine sees it, with its PyTorch nn.Sequential index. */
export interface DenseLayout {
  index: number;
  in: number;
  out: number;
  relu: boolean;
}

export function denseLayout(spec: ModelSpec): DenseLayout[] {
  let index = 0;
  let inDim = inputFeatures(spec);
  return spec.layers.map((layer) => {
    const entry = { index, in: inDim, out: layer.units, relu: layer.activation === "relu" };
    index += layer.activation === "relu" ? 2 : 1; // nn.ReLU is its own Sequential entry
    inDim = layer.units;
    return entry;
  });
}

/** Tensor names and shapes as PyTorch's nn.Sequential state dict: Linear weight [out, in], bias [out]. */
export function parameterShapes(spec: ModelSpec): { name: string; shape: number[] }[] {
  return denseLayout(validateSpec(spec)).flatMap((l) => [
    { name: `${l.index}.weight`, shape: [l.out, l.in] },
    { name: `${l.index}.bias`, shape: [l.out] },
  ]);
}
