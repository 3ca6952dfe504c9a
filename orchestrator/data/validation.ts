/**
 * The requester's validation set. Uploaded as CSV (label first, `text/csv`) or as an MNIST IDX
 * pair sent as one body: the images IDX file followed by the labels IDX file (each may be
 * gzipped). Stored as one content-addressed blob; unpacked once into <dataDir>/datasets/<hash>/
 * where native/data.ts loads it.
 */
import { gunzipSync } from "node:zlib";
import { link, mkdir, readFile, rename, rm, stat, writeFile, copyFile } from "node:fs/promises";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { checkFitsModel, csvForModel, loadDataset } from "../../native/data.js";
import type { Dataset, ModelSpec } from "../../native/types.js";
import { isQuackError } from "../../protocol/errors.js";
import { checkTargetsVary } from "../../protocol/regression.js";
import { ApiError } from "../errors.js";
import type { BlobStore } from "../store/blobs.js";

export type ValidationFormat = "csv" | "idx";

const IDX_IMAGES = 0x803;
const IDX_LABELS = 0x801;

export function formatFromContentType(contentType: string | undefined): ValidationFormat | null {
  const type = (contentType ?? "").split(";")[0].trim().toLowerCase();
  if (type === "text/csv") return "csv";
  if (type === "application/octet-stream") return "idx";
  return null;
}

function invalid(message: string): ApiError {
  return new ApiError("INVALID_DATASET", message);
}

/** The bytes, gunzipped (to at most `maxBytes`) when they start with the gzip magic. */
function gunzipBounded(raw: Buffer, maxBytes: number): Buffer {
  if (raw.length < 2 || raw[0] !== 0x1f || raw[1] !== 0x8b) return raw;
  try {
    return gunzipSync(raw, { maxOutputLength: Math.min(maxBytes, 2 ** 31 - 1) });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE") {
      throw invalid(`The validation body decompresses to more than ${maxBytes} bytes, the most this orchestrator unpacks (GET /api/info limits.datasetBytes).`);
    }
    throw invalid(`The validation body looks gzipped but does not decompress: ${(e as Error).message}.`);
  }
}

/** Split "images IDX ++ labels IDX" (after gunzip, to at most `maxBytes`) into its two files. */
export function splitIdxPair(raw: Buffer, maxBytes: number = Infinity): { images: Buffer; labels: Buffer } {
  const buf = gunzipBounded(raw, maxBytes);
  const fix = "Send the images IDX file (magic 0x00000803) immediately followed by the labels IDX file (0x00000801).";
  if (buf.length < 16 || buf.readUInt32BE(0) !== IDX_IMAGES) throw invalid(`The validation body does not start with an IDX images header. ${fix}`);
  const [n, rows, cols] = [buf.readUInt32BE(4), buf.readUInt32BE(8), buf.readUInt32BE(12)];
  const end = 16 + n * rows * cols;
  if (end + 8 > buf.length) throw invalid(`The IDX images header promises ${n}×${rows}×${cols} bytes; the body ends before the labels file. ${fix}`);
  if (buf.readUInt32BE(end) !== IDX_LABELS) throw invalid(`No IDX labels header right after the ${n} images. ${fix}`);
  return { images: buf.subarray(0, end), labels: buf.subarray(end) };
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

const datasetDir = (dataDir: string, hash: string) => join(dataDir, "datasets", hash.slice(2));

/** Unpack the file (a blob, or a staged upload named by its hash) into datasets/<hash>/ (once; atomically) and return that folder. */
async function materialize(dataDir: string, source: string, hash: string, format: ValidationFormat, maxBytes: number): Promise<string> {
  const dir = datasetDir(dataDir, hash);
  if (await exists(dir)) return dir;
  const tmp = join(dataDir, "tmp", `dataset-${randomBytes(6).toString("hex")}`);
  await mkdir(tmp, { recursive: true });
  try {
    if (format === "csv") {
      const raw = await readFile(source);
      // A gzipped CSV is unpacked here, within the bound, so the loader never inflates a bomb.
      if (raw.length >= 2 && raw[0] === 0x1f && raw[1] === 0x8b) await writeFile(join(tmp, "data.csv"), gunzipBounded(raw, maxBytes));
      else await link(source, join(tmp, "data.csv")).catch(() => copyFile(source, join(tmp, "data.csv")));
    } else {
      const { images, labels } = splitIdxPair(await readFile(source), maxBytes);
      await writeFile(join(tmp, "validation-images-idx3-ubyte"), images);
      await writeFile(join(tmp, "validation-labels-idx1-ubyte"), labels);
    }
    await mkdir(join(dataDir, "datasets"), { recursive: true });
    await rename(tmp, dir).catch(async (err: NodeJS.ErrnoException) => {
      // Someone unpacked the same blob meanwhile: theirs is identical.
      if (err.code !== "ENOTEMPTY" && err.code !== "EEXIST") throw err;
    });
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return dir;
}

/** Load a stored validation set as `spec` reads it (regression targets or labels); bad content becomes INVALID_DATASET without server paths. */
export async function loadValidation(dataDir: string, blobs: BlobStore, hash: string, format: ValidationFormat, spec: ModelSpec): Promise<Dataset> {
  return loadFrom(dataDir, blobs.path(hash), hash, format, Infinity, spec);
}

/**
 * Load an upload before it is committed to the blob store (a refused one leaves no blob), unpacked
 * to at most `maxBytes`. `check` runs on the loaded set; when it or the loading fails, the
 * unpacked folder is removed again unless the same data was stored before.
 */
export async function loadUpload(
  dataDir: string,
  blobs: BlobStore,
  upload: { file: string; hash: string },
  format: ValidationFormat,
  maxBytes: number,
  spec: ModelSpec,
  check: (ds: Dataset) => void,
): Promise<Dataset> {
  const known = await blobs.has(upload.hash);
  try {
    const ds = await loadFrom(dataDir, upload.file, upload.hash, format, maxBytes, spec);
    check(ds);
    return ds;
  } catch (e) {
    if (!known) await rm(datasetDir(dataDir, upload.hash), { recursive: true, force: true });
    throw e;
  }
}

async function loadFrom(dataDir: string, source: string, hash: string, format: ValidationFormat, maxBytes: number, spec: ModelSpec): Promise<Dataset> {
  const dir = await materialize(dataDir, source, hash, format, maxBytes);
  try {
    return await loadDataset(dir, csvForModel(spec));
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    const msg = e instanceof Error ? e.message.split(dir).join("validation set") : String(e);
    throw invalid(msg);
  }
}

/**
 * Check uploaded data against the model (native/data.ts checkFitsModel: input size, labels or
 * regression targets); a validation set for a regression also needs targets that vary (R²).
 */
export function checkFits(ds: Dataset, spec: ModelSpec, what: "The validation set" | "The training data"): void {
  try {
    checkFitsModel(ds, spec, what);
    if (what === "The validation set" && spec.loss === "mse") checkTargetsVary(ds.targets!, ds.targets!.length / ds.count, what);
  } catch (e) {
    if (isQuackError(e)) throw new ApiError("INVALID_DATASET", e.fix ? `${e.message} ${e.fix}` : e.message);
    throw e;
  }
}
