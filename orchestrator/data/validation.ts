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
import { loadDataset } from "../../native/data.js";
import type { Dataset } from "../../native/types.js";
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

/** Split "images IDX ++ labels IDX" (after gunzip) into its two files. */
export function splitIdxPair(raw: Buffer): { images: Buffer; labels: Buffer } {
  let buf = raw;
  if (buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b) {
    try {
      buf = gunzipSync(buf);
    } catch (e) {
      throw invalid(`The validation body looks gzipped but does not decompress: ${(e as Error).message}.`);
    }
  }
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

/** Unpack the blob into datasets/<hash>/ (once; atomically) and return that folder. */
async function materialize(dataDir: string, blobs: BlobStore, hash: string, format: ValidationFormat): Promise<string> {
  const dir = join(dataDir, "datasets", hash.slice(2));
  if (await exists(dir)) return dir;
  const tmp = join(dataDir, "tmp", `dataset-${randomBytes(6).toString("hex")}`);
  await mkdir(tmp, { recursive: true });
  try {
    if (format === "csv") {
      await link(blobs.path(hash), join(tmp, "data.csv")).catch(() => copyFile(blobs.path(hash), join(tmp, "data.csv")));
    } else {
      const { images, labels } = splitIdxPair(await readFile(blobs.path(hash)));
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

/** Load a stored validation set; bad content becomes INVALID_DATASET without server paths. */
export async function loadValidation(dataDir: string, blobs: BlobStore, hash: string, format: ValidationFormat): Promise<Dataset> {
  const dir = await materialize(dataDir, blobs, hash, format);
  try {
    return await loadDataset(dir);
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    const msg = e instanceof Error ? e.message.split(dir).join("validation set") : String(e);
    throw invalid(msg);
  }
}

/** Check a validation set against the model's input size. */
export function checkFeatures(ds: Dataset, inputShape: number[]): void {
  const want = inputShape.reduce((a, d) => a * d, 1);
  if (ds.features !== want) {
    throw invalid(`The validation set has ${ds.features} features per sample but the model's input is [${inputShape.join(", ")}] (${want} values).`);
  }
}
