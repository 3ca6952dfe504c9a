/**
 * The model spec: one JSON schema with one set of limits, and the types derived from it. The
 * engine's validator (native/spec.ts) applies the same limits and the rules a schema cannot say
 * (the last layer gives logits, the parameter count); the API validates bodies with the schema.
 */
import { schema, type FromSchema } from "./schema.js";

export const SPEC_LIMITS = {
  /** dimensions of the input shape, e.g. [784] or [1, 28, 28] */
  inputDims: 4,
  /** the largest size of one input dimension and the most units of a layer */
  width: 1 << 20,
  layers: 64,
  /** labels travel as bytes (Uint8Array) */
  classes: 256,
  /** what the engine itself accepts: 2^28 float32 parameters (1 GiB); servers set lower limits */
  parameters: 1 << 28,
} as const;

const size = (minimum: number) => ({ type: "integer", minimum, maximum: SPEC_LIMITS.width }) as const;
/** A kernel, stride or padding: one integer for both sides, or [height, width] as in PyTorch. */
const pair = (minimum: number) => ({ anyOf: [size(minimum), { type: "array", minItems: 2, maxItems: 2, items: size(minimum) }] }) as const;

const denseLayerSchema = schema({
  type: "object",
  required: ["type", "units"],
  additionalProperties: false,
  properties: {
    type: { const: "dense" },
    units: size(1),
    activation: { type: "string", enum: ["relu", "none"] },
  },
});

const conv2dLayerSchema = schema({
  type: "object",
  required: ["type", "outChannels", "kernel"],
  additionalProperties: false,
  properties: {
    type: { const: "conv2d" },
    /** optional: the channels coming in, checked against the shape before the layer */
    inChannels: size(1),
    outChannels: size(1),
    kernel: pair(1),
    stride: pair(1),
    padding: pair(0),
  },
});

const pool2dLayerSchema = schema({
  type: "object",
  required: ["type", "kernel"],
  additionalProperties: false,
  properties: {
    type: { type: "string", enum: ["maxpool2d", "avgpool2d"] },
    kernel: pair(1),
    /** default: the kernel, as in PyTorch */
    stride: pair(1),
  },
});

const dropoutLayerSchema = schema({
  type: "object",
  required: ["type"],
  additionalProperties: false,
  properties: { type: { const: "dropout" }, p: { type: "number", minimum: 0, exclusiveMaximum: 1 } },
});

const plainLayerSchema = schema({
  type: "object",
  required: ["type"],
  additionalProperties: false,
  properties: { type: { type: "string", enum: ["flatten", "relu", "gelu", "tanh", "sigmoid"] } },
});

export const modelSpecSchema = schema({
  type: "object",
  required: ["input", "layers", "loss"],
  additionalProperties: false,
  properties: {
    input: { type: "array", minItems: 1, maxItems: SPEC_LIMITS.inputDims, items: { type: "integer", minimum: 1, maximum: SPEC_LIMITS.width } },
    layers: {
      type: "array",
      minItems: 1,
      maxItems: SPEC_LIMITS.layers,
      items: { oneOf: [denseLayerSchema, conv2dLayerSchema, pool2dLayerSchema, dropoutLayerSchema, plainLayerSchema] },
    },
    /** cross-entropy: classification (labels); mse: regression (float targets, one per output) */
    loss: { type: "string", enum: ["cross-entropy", "mse"] },
    normalize: {
      type: "object",
      required: ["mean", "std"],
      additionalProperties: false,
      properties: { mean: { type: "number" }, std: { type: "number", exclusiveMinimum: 0 } },
    },
  },
});

/**
 * Model spec as JSON, e.g.
 * {"input":[784],"layers":[{"type":"dense","units":128,"activation":"relu"},{"type":"dense","units":10}],"loss":"cross-entropy"}
 * or, for images, {"input":[1,28,28],"layers":[{"type":"conv2d","outChannels":8,"kernel":3,"padding":1},{"type":"relu"},
 * {"type":"maxpool2d","kernel":2},{"type":"flatten"},{"type":"dense","units":10}],"loss":"cross-entropy"}.
 * Every layer is one `nn.Sequential` entry (a dense layer with `"activation":"relu"` is two:
 * nn.Linear then nn.ReLU), so the state-dict names follow: nn.Linear weight [out, in],
 * nn.Conv2d weight [out, in, kh, kw], each with its bias [out].
 * `normalize` is the optional input standardization x' = (x − mean) / std applied before the first layer.
 */
export type ModelSpec = FromSchema<typeof modelSpecSchema>;
export type LayerSpec = ModelSpec["layers"][number];
export type DenseLayerSpec = FromSchema<typeof denseLayerSchema>;
export type Conv2dLayerSpec = FromSchema<typeof conv2dLayerSchema>;
export type Pool2dLayerSpec = FromSchema<typeof pool2dLayerSchema>;
export type DropoutLayerSpec = FromSchema<typeof dropoutLayerSchema>;
export type PlainLayerSpec = FromSchema<typeof plainLayerSchema>;
export type LayerType = LayerSpec["type"];
export type Activation = NonNullable<DenseLayerSpec["activation"]>;

/** Limits a caller (an orchestrator) puts on specs on top of SPEC_LIMITS. */
export interface SpecBudget {
  /** most trainable parameters (weights and biases) */
  maxParameters?: number;
  /** most bytes of float32 activations for one batch of `batch` samples (input, every layer's output and its gradient) */
  maxActivationBytes?: number;
  batch?: number;
  /** @deprecated Every spec may say "loss":"mse" now (job data loads float targets); no effect. */
  regression?: boolean;
}

/** A spec whose layers do not chain: the field at fault, what is wrong and what to change. */
export class SpecChainError extends Error {
  constructor(
    readonly field: string,
    message: string,
    readonly fix: string,
  ) {
    super(message);
    this.name = "SpecChainError";
  }
}

/** One spec layer with the shapes it takes and gives (per sample) and its tensors. */
export interface LayerPlan {
  type: LayerType;
  /** index in nn.Sequential (its state-dict prefix) */
  module: number;
  inShape: number[];
  outShape: number[];
  /** state-dict tensors in order: `${module}.weight`, `${module}.bias` (none for layers without parameters) */
  params: { name: string; shape: number[] }[];
}

const product = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);
/** [height, width] of a kernel, stride or padding field. */
export const hw = (v: number | number[]): [number, number] => (Array.isArray(v) ? [v[0], v[1]] : [v, v]);
const showShape = (s: readonly number[]) => `[${s.join(", ")}]`;

/**
 * Walks the layers from the input shape: what each layer takes and gives, and its parameter
 * tensors. Throws SpecChainError where a layer cannot take what the one before gives (the fields
 * themselves are assumed well-typed: the validator checks them first). A dense layer takes the
 * input flattened (any input shape, as PyTorch rows of features), but an image a conv2d or pool
 * produced only after a flatten, as nn.Linear would otherwise act on its last axis.
 */
export function planLayers(spec: Pick<ModelSpec, "input" | "layers">): LayerPlan[] {
  let shape = [...spec.input];
  let image = false; // the shape is a [C, H, W] output of a conv2d or pool
  let module = 0;
  return spec.layers.map((layer, i) => {
    const where = `spec.layers[${i}]`;
    const from = i === 0 ? "the input" : `spec.layers[${i - 1}]`;
    const inShape = shape;
    let params: LayerPlan["params"] = [];
    const needImage = () => {
      if (shape.length !== 3) {
        throw new SpecChainError(
          where,
          `${where} ${layer.type} needs a [C, H, W] image but gets ${showShape(shape)} from ${from}`,
          i === 0 ? `give the input as [channels, height, width], e.g. [1, 28, 28] for MNIST` : `move the ${layer.type} before the flatten or dense layer`,
        );
      }
      return shape as [number, number, number];
    };
    const window = (kernel: [number, number], stride: [number, number], padding: [number, number], field: string): [number, number] => {
      const [, h, w] = shape;
      const ph = h + 2 * padding[0], pw = w + 2 * padding[1];
      if (kernel[0] > ph || kernel[1] > pw) {
        throw new SpecChainError(`${where}.kernel`, `${where}.kernel ${kernel[0]}×${kernel[1]} is larger than the ${padding[0] || padding[1] ? "padded " : ""}input ${ph}×${pw} from ${from}`, `use a kernel of at most ${ph}×${pw}${field === "conv2d" ? ", or more padding" : ""}`);
      }
      return [Math.floor((ph - kernel[0]) / stride[0]) + 1, Math.floor((pw - kernel[1]) / stride[1]) + 1];
    };
    switch (layer.type) {
      case "dense": {
        if (image) {
          throw new SpecChainError(where, `${where} dense expects ${product(shape)} inputs but gets the ${showShape(shape)} image of ${from}`, `add {"type":"flatten"} before it`);
        }
        params = [{ name: `${module}.weight`, shape: [layer.units, product(shape)] }, { name: `${module}.bias`, shape: [layer.units] }];
        shape = [layer.units];
        break;
      }
      case "conv2d": {
        const [c] = needImage();
        if (layer.inChannels !== undefined && layer.inChannels !== c) {
          throw new SpecChainError(`${where}.inChannels`, `${where}.inChannels is ${layer.inChannels} but ${from} gives ${c} channels (${showShape(shape)})`, `set inChannels to ${c}, or leave it out`);
        }
        const kernel = hw(layer.kernel);
        const [oh, ow] = window(kernel, hw(layer.stride ?? 1), hw(layer.padding ?? 0), "conv2d");
        params = [{ name: `${module}.weight`, shape: [layer.outChannels, c, kernel[0], kernel[1]] }, { name: `${module}.bias`, shape: [layer.outChannels] }];
        shape = [layer.outChannels, oh, ow];
        image = true;
        break;
      }
      case "maxpool2d":
      case "avgpool2d": {
        const [c] = needImage();
        const kernel = hw(layer.kernel);
        const [oh, ow] = window(kernel, hw(layer.stride ?? layer.kernel), [0, 0], layer.type);
        shape = [c, oh, ow];
        image = true;
        break;
      }
      case "flatten":
        shape = [product(shape)];
        image = false;
        break;
      default:
        break; // dropout and activations keep the shape
    }
    const plan: LayerPlan = { type: layer.type, module, inShape, outShape: shape, params };
    module += layer.type === "dense" && layer.activation === "relu" ? 2 : 1; // nn.ReLU is its own entry
    return plan;
  });
}

/** Weights and biases of all layers, as a float (exact below 2^53; larger sizes are refused anyway). */
export function parameterCount(spec: Pick<ModelSpec, "input" | "layers">): number {
  let total = 0;
  for (const layer of planLayers(spec)) for (const p of layer.params) total += product(p.shape);
  return total;
}

/** Bytes of float32 activations a batch holds: the input plus, per layer, its output and gradient. */
export function activationBytes(spec: Pick<ModelSpec, "input" | "layers">, batch: number): number {
  const perSample = product(spec.input) + planLayers(spec).reduce((sum, l) => sum + 2 * product(l.outShape), 0);
  return perSample * batch * 4;
}

/** The number of outputs (classes) of a spec: the units of its last layer, which is always dense. */
export function outputCount(spec: Pick<ModelSpec, "layers">): number {
  const last = spec.layers[spec.layers.length - 1];
  return last.type === "dense" ? last.units : 0;
}
