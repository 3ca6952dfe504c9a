/**
 * The model spec of a global model, read from its tensors. Weights travel with PyTorch
 * nn.Sequential names: Linear layers at indices 0, 2, … with an nn.ReLU entry (no tensors)
 * between two of them when the gap is 2, so the names and shapes say the whole dense model.
 */
import { validateSpec } from "../../../native/index.js";
import type { ModelSpec, Tensor } from "../../../native/types.js";
import { QuackError } from "../../../protocol/errors.js";

function unsupported(why: string): QuackError {
  return new QuackError("UNSUPPORTED_MODEL", `The job's model is not a dense network this client can train: ${why}.`, {
    fix: "Update quackmesh; this version trains dense (nn.Linear + nn.ReLU) models.",
  });
}

export function specFromTensors(tensors: readonly Tensor[]): ModelSpec {
  const layers = new Map<number, { weight?: Tensor; bias?: Tensor }>();
  for (const t of tensors) {
    const m = /^(\d+)\.(weight|bias)$/.exec(t.name);
    if (!m) throw unsupported(`tensor '${t.name}' is not an nn.Sequential Linear parameter`);
    const index = Number(m[1]);
    const entry = layers.get(index) ?? {};
    entry[m[2] as "weight" | "bias"] = t;
    layers.set(index, entry);
  }
  const indices = [...layers.keys()].sort((a, b) => a - b);
  if (indices.length === 0) throw unsupported("it has no tensors");
  if (indices[0] !== 0) throw unsupported(`its first layer is at index ${indices[0]}, not 0`);
  const spec: ModelSpec = { input: [], layers: [], loss: "cross-entropy" };
  let width = 0;
  indices.forEach((index, i) => {
    const { weight, bias } = layers.get(index)!;
    if (!weight || !bias) throw unsupported(`layer ${index} lacks its ${weight ? "bias" : "weight"}`);
    if (weight.shape.length !== 2 || bias.shape.length !== 1 || bias.shape[0] !== weight.shape[0]) {
      throw unsupported(`layer ${index} has weight [${weight.shape.join(", ")}] and bias [${bias.shape.join(", ")}]`);
    }
    const [out, inputs] = weight.shape;
    if (i === 0) spec.input = [inputs];
    else if (inputs !== width) throw unsupported(`layer ${index} takes ${inputs} inputs after a layer of ${width} units`);
    const next = indices[i + 1];
    const gap = next === undefined ? 1 : next - index;
    if (gap !== 1 && gap !== 2) throw unsupported(`layers ${index} and ${next} are ${gap} entries apart`);
    spec.layers.push({ type: "dense", units: out, activation: gap === 2 ? "relu" : "none" });
    width = out;
  });
  try {
    return validateSpec(spec);
  } catch (cause) {
    throw unsupported((cause as Error).message);
  }
}

/** The spec the orchestrator publishes with the job, checked; null from an orchestrator that publishes none. */
export function specOfJob(job: { spec?: unknown }): ModelSpec | null {
  if (job.spec === undefined) return null;
  try {
    return validateSpec(job.spec);
  } catch (cause) {
    throw new QuackError("UNSUPPORTED_MODEL", `The job's model spec is not one this client can train: ${(cause as Error).message}`, {
      fix: "Update quackmesh.",
      cause,
    });
  }
}
