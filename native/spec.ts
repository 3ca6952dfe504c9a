/** Model specs: validation with errors naming the field and the fix, and PyTorch-compatible tensor names. */
import { describe, NativeError } from "./errors.js";
import { SPEC_LIMITS, SpecChainError, activationBytes, hw, outputCount, parameterCount, planLayers, type SpecBudget } from "../protocol/spec.js";
import type { LayerSpec, ModelSpec } from "./types.js";

/** The usual standardization of MNIST pixels in [0, 1] (their mean and standard deviation). */
export const MNIST_NORMALIZE = { mean: 0.1307, std: 0.3081 } as const;

/** The most classes a network may have: labels travel as bytes (Uint8Array). */
export const MAX_CLASSES = SPEC_LIMITS.classes;

const LAYER_TYPES = ["dense", "conv2d", "maxpool2d", "avgpool2d", "flatten", "dropout", "relu", "gelu", "tanh", "sigmoid"] as const;

function badSpec(field: string, message: string, fix?: string): never {
  throw new NativeError("BAD_SPEC", `${field} ${message}`, field, undefined, fix);
}

function checkKeys(o: Record<string, unknown>, allowed: string[], where: string): void {
  for (const key of Object.keys(o)) if (!allowed.includes(key)) badSpec(`${where}.${key}`, `is not a known field (expected one of ${allowed.join(", ")})`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function integer(v: unknown, field: string, min: number): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > SPEC_LIMITS.width) badSpec(field, `must be an integer between ${min} and ${SPEC_LIMITS.width}, got ${describe(v)}`);
  return v;
}

/** A kernel, stride or padding: an integer or [height, width]; kept as given. */
function pairField(v: unknown, field: string, min: number): number | number[] {
  if (Array.isArray(v)) {
    if (v.length !== 2) badSpec(field, `must be an integer or [height, width], got an array of ${v.length}`);
    return [integer(v[0], `${field}[0]`, min), integer(v[1], `${field}[1]`, min)];
  }
  return integer(v, field, min);
}

/** One layer's own fields, checked and copied (optional fields only where given). */
function validateLayer(layer: unknown, where: string): LayerSpec {
  if (!isObject(layer)) badSpec(where, `must be an object, got ${describe(layer)}`);
  const type = layer.type;
  if (typeof type !== "string" || !(LAYER_TYPES as readonly string[]).includes(type)) badSpec(`${where}.type`, `must be one of ${LAYER_TYPES.join(", ")}, got ${describe(type)}`);
  switch (type) {
    case "dense": {
      checkKeys(layer, ["type", "units", "activation"], where);
      const units = integer(layer.units, `${where}.units`, 1);
      const activation = layer.activation ?? "none";
      if (activation !== "relu" && activation !== "none") badSpec(`${where}.activation`, `must be "relu" or "none", got ${describe(activation)}`, `use {"type":"${typeof activation === "string" ? activation : "gelu"}"} as a layer of its own after the dense layer`);
      return { type, units, activation };
    }
    case "conv2d": {
      checkKeys(layer, ["type", "inChannels", "outChannels", "kernel", "stride", "padding"], where);
      const clean: LayerSpec = { type, outChannels: integer(layer.outChannels, `${where}.outChannels`, 1), kernel: pairField(layer.kernel, `${where}.kernel`, 1) };
      if (layer.inChannels !== undefined) clean.inChannels = integer(layer.inChannels, `${where}.inChannels`, 1);
      if (layer.stride !== undefined) clean.stride = pairField(layer.stride, `${where}.stride`, 1);
      if (layer.padding !== undefined) clean.padding = pairField(layer.padding, `${where}.padding`, 0);
      return clean;
    }
    case "maxpool2d":
    case "avgpool2d": {
      checkKeys(layer, ["type", "kernel", "stride"], where);
      const clean: LayerSpec = { type, kernel: pairField(layer.kernel, `${where}.kernel`, 1) };
      if (layer.stride !== undefined) clean.stride = pairField(layer.stride, `${where}.stride`, 1);
      return clean;
    }
    case "dropout": {
      checkKeys(layer, ["type", "p"], where);
      if (layer.p === undefined) return { type };
      if (typeof layer.p !== "number" || !Number.isFinite(layer.p) || layer.p < 0 || layer.p >= 1) badSpec(`${where}.p`, `must be a probability in [0, 1), got ${describe(layer.p)}`);
      return { type, p: layer.p };
    }
    default:
      checkKeys(layer, ["type"], where);
      return { type: type as "flatten" | "relu" | "gelu" | "tanh" | "sigmoid" };
  }
}

/**
 * Checks a model spec (e.g. parsed JSON) and returns a clean copy; throws BAD_SPEC naming the
 * field, with a fix where one is clear. The layers must chain (protocol/spec.ts planLayers), and
 * sizes are checked against SPEC_LIMITS and the caller's `budget` before any memory is taken,
 * so no spec can make the engine allocate more than its limits.
 */
export function validateSpec(spec: unknown, budget: SpecBudget = {}): ModelSpec {
  if (!isObject(spec)) badSpec("spec", `must be an object, got ${describe(spec)}`);
  checkKeys(spec, ["input", "layers", "loss", "normalize"], "spec");
  const input = spec.input;
  if (!Array.isArray(input) || input.length === 0 || input.length > SPEC_LIMITS.inputDims) badSpec("spec.input", `must be an array of 1 to ${SPEC_LIMITS.inputDims} positive integers, e.g. [784] or [1, 28, 28]`);
  input.forEach((d, i) => integer(d, `spec.input[${i}]`, 1));
  if (spec.loss !== "cross-entropy" && spec.loss !== "mse") badSpec("spec.loss", `must be "cross-entropy" (classification) or "mse" (regression), got ${describe(spec.loss)}`);
  const loss = spec.loss;
  if (!Array.isArray(spec.layers) || spec.layers.length === 0 || spec.layers.length > SPEC_LIMITS.layers) badSpec("spec.layers", `must be an array of 1 to ${SPEC_LIMITS.layers} layers`);
  const layers = spec.layers.map((layer: unknown, i: number) => validateLayer(layer, `spec.layers[${i}]`));
  const last = layers.length - 1;
  const lastLayer = layers[last];
  const gives = loss === "mse" ? "the outputs of the mean squared error" : "the logits of the cross-entropy loss";
  if (lastLayer.type !== "dense") badSpec(`spec.layers[${last}].type`, `must be "dense": the last layer gives ${gives}, got ${describe(lastLayer.type)}`, `end the model with {"type":"dense","units":<${loss === "mse" ? "outputs" : "classes"}>}`);
  if (lastLayer.activation !== "none") badSpec(`spec.layers[${last}].activation`, `must be "none": the last layer gives ${gives}`);
  if (loss === "cross-entropy" && (lastLayer.units < 2 || lastLayer.units > MAX_CLASSES)) badSpec(`spec.layers[${last}].units`, `must be between 2 and ${MAX_CLASSES} classes`);
  const clean: ModelSpec = { input: [...(input as number[])], layers, loss };
  try {
    planLayers(clean);
  } catch (e) {
    if (e instanceof SpecChainError) badSpec(e.field, e.message.slice(e.field.length + 1), e.fix);
    throw e;
  }
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

/** True for the specs the dense engine (and its CUDA twin) runs: only dense layers, cross-entropy. */
export function isDenseOnly(spec: ModelSpec): boolean {
  return spec.loss === "cross-entropy" && spec.layers.every((l) => l.type === "dense");
}

/** One dense layer as the dense engine sees it, with its PyTorch nn.Sequential index. */
export interface DenseLayout {
  index: number;
  in: number;
  out: number;
  relu: boolean;
}

export function denseLayout(spec: ModelSpec): DenseLayout[] {
  const plan = planLayers(spec);
  return spec.layers.map((layer, i) => {
    const [out, inputs] = plan[i].params[0].shape;
    return { index: plan[i].module, in: inputs, out, relu: layer.type === "dense" && layer.activation === "relu" };
  });
}

/** The layers as the general engine takes them: one entry per nn.Sequential module. */
export interface EngineLayer {
  kind: "dense" | "conv2d" | "maxpool2d" | "avgpool2d" | "flatten" | "dropout" | "relu" | "gelu" | "tanh" | "sigmoid";
  units?: number;
  kernel?: [number, number];
  stride?: [number, number];
  padding?: [number, number];
  p?: number;
}

/** Input as [C, H, W] (a flat input is [features, 1, 1]) and the modules in order. */
export function engineLayout(spec: ModelSpec): { input: [number, number, number]; layers: EngineLayer[]; loss: ModelSpec["loss"] } {
  const input: [number, number, number] = spec.input.length === 3 ? [spec.input[0], spec.input[1], spec.input[2]] : [inputFeatures(spec), 1, 1];
  const layers: EngineLayer[] = [];
  for (const l of spec.layers) {
    switch (l.type) {
      case "dense":
        layers.push({ kind: "dense", units: l.units });
        if (l.activation === "relu") layers.push({ kind: "relu" });
        break;
      case "conv2d":
        layers.push({ kind: "conv2d", units: l.outChannels, kernel: hw(l.kernel), stride: hw(l.stride ?? 1), padding: hw(l.padding ?? 0) });
        break;
      case "maxpool2d":
      case "avgpool2d":
        layers.push({ kind: l.type, kernel: hw(l.kernel), stride: hw(l.stride ?? l.kernel), padding: [0, 0] });
        break;
      case "dropout":
        layers.push({ kind: "dropout", p: l.p ?? 0.5 });
        break;
      default:
        layers.push({ kind: l.type });
    }
  }
  return { input, layers, loss: spec.loss };
}

/** The layers with parameters, in order: their state-dict names and shapes. */
export function parameterLayout(spec: ModelSpec): { weight: { name: string; shape: number[] }; bias: { name: string; shape: number[] } }[] {
  return planLayers(spec)
    .filter((p) => p.params.length === 2)
    .map((p) => ({ weight: p.params[0], bias: p.params[1] }));
}

/** Tensor names and shapes as PyTorch's nn.Sequential state dict: Linear weight [out, in], Conv2d weight [out, in, kh, kw], each with bias [out]. */
export function parameterShapes(spec: ModelSpec): { name: string; shape: number[] }[] {
  return planLayers(validateSpec(spec)).flatMap((p) => p.params);
}

export { outputCount };
