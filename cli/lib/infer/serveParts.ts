/**
 * `quackmesh worker --infer DIR`: a rented machine's side of cluster inference (remote.ts has the
 * exchange). The model and spec in DIR are loaded once; each part named on stdin is run and its
 * probabilities written next to it. Parts run one at a time, in the order named. Anything wrong
 * with a request (a bad line, a missing or mis-sized part, NaN) is an error line and exit 1:
 * the renter gave it, and the renter redoes the part elsewhere.
 */
import { createHash } from "node:crypto";
import { readFile, rm, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { createInterface } from "node:readline";
import { Network, inputFeatures } from "../../../native/index.js";
import { decodeSafetensors } from "../../../native/safetensors.js";
import { QuackError } from "../../../protocol/errors.js";
import { MODEL_FILE, SPEC_FILE, outFile, parsePartRequest, partFile, type PartAnswer, type PartRequest } from "../../../protocol/inference/remote.js";

export type ServeLine = (message: { event: string } & Record<string, unknown>) => void;

function bad(message: string): QuackError {
  return new QuackError("BAD_DATA", message, { fix: "The renter's infer --cluster sends the parts; run it again (the part is redone elsewhere)." });
}

/** The model of DIR, ready to predict. */
export async function loadServedModel(dir: string): Promise<{ net: Network; features: number; modelSha256: string }> {
  const folder = resolve(dir);
  const [specText, weights] = await Promise.all([readFile(join(folder, SPEC_FILE), "utf8"), readFile(join(folder, MODEL_FILE))]).catch((cause: unknown) => {
    throw new QuackError("DATA_NOT_FOUND", `${folder} lacks ${SPEC_FILE} or ${MODEL_FILE}: ${(cause as Error).message}.`, {
      fix: "Upload the model and its spec into the folder before starting the worker.",
      cause,
    });
  });
  let spec: unknown;
  try {
    spec = JSON.parse(specText);
  } catch (cause) {
    throw new QuackError("BAD_SPEC", `${SPEC_FILE} is not JSON.`, { fix: "Upload the job's model spec as JSON.", cause });
  }
  const net = Network.fromWeights(spec as never, decodeSafetensors(weights).tensors);
  return { net, features: inputFeatures(net.spec), modelSha256: createHash("sha256").update(weights).digest("hex") };
}

/** Run one part: read DIR/part-K.f32, predict, write DIR/out-K.f32 (the part file is removed). */
export async function servePart(dir: string, model: { net: Network; features: number }, req: PartRequest): Promise<PartAnswer> {
  const file = join(resolve(dir), partFile(req.part));
  const raw = await readFile(file).catch((cause: unknown) => {
    throw bad(`Part ${req.part}: ${partFile(req.part)} cannot be read (${(cause as Error).message}).`);
  });
  const expected = req.count * model.features * 4;
  if (raw.length !== expected) throw bad(`Part ${req.part}: ${partFile(req.part)} holds ${raw.length} bytes; ${req.count} rows of ${model.features} float32 are ${expected}.`);
  // A copy: the engine needs aligned float32 memory, and the file buffer may not be.
  const x = new Float32Array(req.count * model.features);
  Buffer.from(x.buffer).set(raw);
  for (let i = 0; i < x.length; i++) {
    if (!Number.isFinite(x[i])) throw bad(`Part ${req.part}: row ${Math.floor(i / model.features)}, feature ${i % model.features} is not a finite number.`);
  }
  const started = performance.now();
  const probabilities = await model.net.predict(x, req.count);
  const computeMs = Math.ceil(performance.now() - started);
  const bytes = Buffer.from(probabilities.buffer, probabilities.byteOffset, probabilities.byteLength);
  await writeFile(join(resolve(dir), outFile(req.part)), bytes);
  await rm(file, { force: true });
  return { event: "part", part: req.part, count: req.count, classes: model.net.classes, computeMs, sha256: createHash("sha256").update(bytes).digest("hex") };
}

/** Serve parts named on `input` until it ends; resolves when done, rejects on the first bad request. */
export async function serveParts(dir: string, input: NodeJS.ReadableStream, line: ServeLine): Promise<{ parts: number; rows: number }> {
  const model = await loadServedModel(dir);
  line({ event: "ready", features: model.features, classes: model.net.classes, modelSha256: model.modelSha256 });
  let parts = 0;
  let rows = 0;
  for await (const text of createInterface({ input, crlfDelay: Infinity })) {
    if (text.trim() === "") continue;
    const req = parsePartRequest(text);
    if (typeof req === "string") throw bad(`The request line ${JSON.stringify(text.slice(0, 80))} ${req}.`);
    line({ ...(await servePart(dir, model, req)) });
    parts++;
    rows += req.count;
  }
  return { parts, rows };
}
