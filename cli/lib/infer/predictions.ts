/** The predictions file `quackmesh infer` writes, the same for the orchestrator and a cluster. */
import { mkdir, rename, writeFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { QuackError } from "../../../protocol/errors.js";

export interface Prediction {
  class: number;
  probabilities: number[];
}

/** One prediction per row of `probabilities` (rows × classes): the first most likely class, as the orchestrator picks it. */
export function predictionsOf(probabilities: Float32Array, classes: number): Prediction[] {
  const rows = probabilities.length / classes;
  const out = new Array<Prediction>(rows);
  for (let r = 0; r < rows; r++) {
    const row = probabilities.subarray(r * classes, (r + 1) * classes);
    let best = 0;
    for (let c = 1; c < classes; c++) if (row[c] > row[best]) best = c;
    out[r] = { class: best, probabilities: Array.from(row) };
  }
  return out;
}

/**
 * Write `head` and the predictions (with each row's label, when the input had labels) as one
 * JSON document, atomically; returns the file and the share of predictions equal to the labels.
 */
export async function writePredictions(out: string, head: Record<string, unknown>, predictions: Prediction[], labels: Uint8Array | undefined): Promise<{ file: string; accuracy?: number }> {
  const accuracy = labels ? predictions.filter((p, i) => p.class === labels[i]).length / predictions.length : undefined;
  const doc = {
    ...head,
    count: predictions.length,
    ...(accuracy === undefined ? {} : { accuracy }),
    predictions: predictions.map((p, i) => (labels ? { ...p, label: labels[i] } : p)),
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
  return { file, accuracy };
}
