/** The predictions file `quackmesh infer` writes, the same for the orchestrator and a cluster. */
import { mkdir, rename, writeFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { regressionFit } from "../../../protocol/regression.js";
import { QuackError } from "../../../protocol/errors.js";

/** A classifier's answer for one sample, or a regression's ("loss":"mse"): its outputs, not a class. */
export type Prediction = { class: number; probabilities: number[] } | { outputs: number[] };

/**
 * One prediction per row of `probabilities` (rows × classes): the first most likely class, as the
 * orchestrator picks it; for a regression model the row is its outputs.
 */
export function predictionsOf(probabilities: Float32Array, classes: number, regression = false): Prediction[] {
  const rows = probabilities.length / classes;
  const out = new Array<Prediction>(rows);
  for (let r = 0; r < rows; r++) {
    const row = probabilities.subarray(r * classes, (r + 1) * classes);
    if (regression) {
      out[r] = { outputs: Array.from(row) };
      continue;
    }
    let best = 0;
    for (let c = 1; c < classes; c++) if (row[c] > row[best]) best = c;
    out[r] = { class: best, probabilities: Array.from(row) };
  }
  return out;
}

/** The first predictions at a glance: classes, or a regression's first output (rounded for reading). */
export function previewOf(predictions: Prediction[], n = 10): number[] {
  return predictions.slice(0, n).map((p) => ("class" in p ? p.class : Number(p.outputs[0].toPrecision(4))));
}

/** How a regression's outputs compare with the input's targets (count × outputs). */
function regressionScore(predictions: Prediction[], targets: Float32Array): { mse: number; r2: number } {
  const outputs = Float32Array.from(predictions.flatMap((p) => ("outputs" in p ? p.outputs : [])));
  return regressionFit(outputs, targets, targets.length / predictions.length);
}

/**
 * Write `head` and the predictions (with each row's label or a regression's targets, when the
 * input had them) as one JSON document, atomically; returns the file and the share of
 * predictions equal to the labels, or a regression's MSE and R² against the targets.
 */
export async function writePredictions(
  out: string,
  head: Record<string, unknown>,
  predictions: Prediction[],
  labels: Uint8Array | undefined,
  targets?: Float32Array,
): Promise<{ file: string; accuracy?: number; regression?: { mse: number; r2: number } }> {
  const accuracy = labels ? predictions.filter((p, i) => "class" in p && p.class === labels[i]).length / predictions.length : undefined;
  const regression = targets ? regressionScore(predictions, targets) : undefined;
  const width = targets ? targets.length / predictions.length : 0;
  const known = (p: Prediction, i: number) =>
    labels ? { ...p, label: labels[i] } : targets ? { ...p, targets: Array.from(targets.subarray(i * width, (i + 1) * width)) } : p;
  const doc = {
    ...head,
    count: predictions.length,
    ...(accuracy === undefined ? {} : { accuracy }),
    ...(regression ?? {}),
    predictions: predictions.map(known),
  };
  const file = resolve(out);
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    await mkdir(dirname(file), { recursive: true });
    await writeFile(tmp, JSON.stringify(doc) + "\n");
    await rename(tmp, file);
  } catch (cause) {
    throw new QuackError("WRITE_FAILED", `Cannot write ${file}: ${(cause as Error).message}.`, { fix: "Pass --out with a writable path.", cause });
  }
  return { file, accuracy, regression };
}
