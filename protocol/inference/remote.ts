/**
 * What the renter's `infer --cluster` and a rented machine's `quackmesh worker --infer DIR` agree
 * on. DIR (inside the rental's folder) holds the model and its spec, uploaded once; each part of
 * the input goes up as DIR/part-K.f32 (float32 little-endian rows). The renter names a part on the
 * worker's stdin, one JSON line {"part":K,"count":N}; the worker writes the class probabilities
 * to DIR/out-K.f32 and answers one JSON line on stdout: {"event":"part","part":K,"count":N,
 * "classes":C,"computeMs":…,"sha256":…}. Closing stdin ends the worker ({"event":"done"}).
 */
export const INFER_DIR = "infer";
export const MODEL_FILE = "model.safetensors";
export const SPEC_FILE = "spec.json";

/** Highest part number and row count a request may name (bounds what a worker allocates). */
export const MAX_PART = 1_000_000;
export const MAX_PART_ROWS = 10_000_000;

export const partFile = (part: number) => `part-${part}.f32`;
export const outFile = (part: number) => `out-${part}.f32`;

/** One part request as the worker reads it from stdin. */
export interface PartRequest {
  part: number;
  count: number;
}

/** The worker's answer for one part. */
export interface PartAnswer {
  event: "part";
  part: number;
  count: number;
  classes: number;
  /** Milliseconds the model ran on the part, as the worker measured them (rounded up). */
  computeMs: number;
  /** sha256 (hex) of the out file's bytes. */
  sha256: string;
}

/** A request line, or why it is refused. */
export function parsePartRequest(line: string): PartRequest | string {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return "is not JSON";
  }
  const r = v as Record<string, unknown> | null;
  if (!r || typeof r !== "object" || Array.isArray(r)) return "is not a JSON object";
  const { part, count } = r;
  if (!Number.isSafeInteger(part) || (part as number) < 0 || (part as number) > MAX_PART) return `names part ${String(part)}, not a whole number from 0 to ${MAX_PART}`;
  if (!Number.isSafeInteger(count) || (count as number) < 1 || (count as number) > MAX_PART_ROWS) return `names ${String(count)} rows, not a whole number from 1 to ${MAX_PART_ROWS}`;
  return { part: part as number, count: count as number };
}
