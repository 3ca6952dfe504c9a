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
      items: {
        type: "object",
        required: ["type", "units"],
        additionalProperties: false,
        properties: {
          type: { type: "string", enum: ["dense"] },
          units: { type: "integer", minimum: 1, maximum: SPEC_LIMITS.width },
          activation: { type: "string", enum: ["relu", "none"] },
        },
      },
    },
    loss: { type: "string", enum: ["cross-entropy"] },
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
 * A dense layer maps to `nn.Linear` (weight shape [out, in]); an activation is its own
 * `nn.Sequential` entry, so 784-relu128-10 has tensors 0.weight, 0.bias, 2.weight, 2.bias.
 * `normalize` is the optional input standardization x' = (x − mean) / std applied before the first layer.
 */
export type ModelSpec = FromSchema<typeof modelSpecSchema>;
export type LayerSpec = ModelSpec["layers"][number];
export type DenseLayerSpec = LayerSpec;
export type Activation = NonNullable<LayerSpec["activation"]>;

/** Limits a caller (an orchestrator) puts on specs on top of SPEC_LIMITS. */
export interface SpecBudget {
  /** most trainable parameters (weights and biases) */
  maxParameters?: number;
  /** most bytes of float32 activations for one batch of `batch` samples (input, every layer's output and its gradient) */
  maxActivationBytes?: number;
  batch?: number;
}

/** Weights and biases of a dense stack, as a float (exact below 2^53; larger sizes are refused anyway). */
export function parameterCount(spec: Pick<ModelSpec, "input" | "layers">): number {
  let inDim = spec.input.reduce((a, b) => a * b, 1);
  let total = 0;
  for (const layer of spec.layers) {
    total += inDim * layer.units + layer.units;
    inDim = layer.units;
  }
  return total;
}

/** Bytes of float32 activations a batch holds: the input plus, per layer, its output and gradient. */
export function activationBytes(spec: Pick<ModelSpec, "input" | "layers">, batch: number): number {
  const features = spec.input.reduce((a, b) => a * b, 1);
  const perSample = features + spec.layers.reduce((sum, l) => sum + 2 * l.units, 0);
  return perSample * batch * 4;
}
