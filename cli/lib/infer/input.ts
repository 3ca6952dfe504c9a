/**
 * The samples to run a model on, read on this machine: an MNIST IDX folder, a CSV with the label
 * first (labels are kept to report accuracy), or a CSV of features only. Which CSV it is follows
 * from the model's input size: F columns are features, F + 1 a label and features. IDX pixels are
 * read as 0–1 and CSV values as written, divided by `scale` when given, as training data is; the
 * model applies its own standardization.
 */
import { readdir, readFile, stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import { gunzipSync } from "node:zlib";
import { eachCsvRow, loadCsv, loadDataset, rawPixelWarning, type CsvOptions } from "../../../native/data.js";
import { QuackError } from "../../../protocol/errors.js";

export interface InferenceInput {
  source: string;
  count: number;
  features: number;
  /** count × features, row-major. */
  x: Float32Array;
  /** Known labels (IDX, or a labelled CSV), for accuracy; absent for features only. */
  labels?: Uint8Array;
  /** A regression's known targets (count × outputs, a CSV with them first), for MSE and R². */
  targets?: Float32Array;
}

const isNumber = (s: string) => s.trim() !== "" && Number.isFinite(Number(s));

function badData(file: string, message: string, fix: string): QuackError {
  return new QuackError("BAD_DATA", `${file}: ${message}`, { fix, details: { file } });
}

/** The CSV file to read, or null when `path` is a folder without data.csv (an IDX folder, which loadDataset reads). */
async function csvFile(path: string): Promise<string | null> {
  const st = await stat(path).catch((cause: unknown) => {
    throw new QuackError("DATA_NOT_FOUND", `${path}: no such file or folder.`, {
      fix: "Pass --input with an MNIST IDX folder, a .csv file (features, or a label then features), or a folder holding data.csv.",
      cause,
    });
  });
  if (st.isFile()) {
    if (/\.csv(\.gz)?$/i.test(path)) return path;
    throw badData(path, "is a file but not a .csv file.", "Pass --input with an MNIST IDX folder, a .csv file (features, or a label then features), or a folder holding data.csv.");
  }
  const names = await readdir(path);
  const idx = names.some((n) => /(images.*idx3|labels.*idx1)/i.test(n));
  return !idx && names.includes("data.csv") ? join(path, "data.csv") : null;
}

/** Columns of the first row of a CSV file. */
async function firstRowColumns(file: string): Promise<{ columns: number; text: string }> {
  let raw = await readFile(file);
  if (raw.length >= 2 && raw[0] === 0x1f && raw[1] === 0x8b) raw = gunzipSync(raw);
  const text = raw.toString("utf8");
  let columns = 1;
  eachCsvRow(file, text, (fields) => (columns = fields.length), { limit: 1 });
  return { columns, text };
}

/** A CSV of `features` numbers per row (an optional header row first). */
function parseFeatureCsv(file: string, text: string, features: number, opts: CsvOptions): Float32Array {
  const rows: number[][] = [];
  let max = -Infinity;
  let pixelLike = true;
  eachCsvRow(file, text, (fields, line) => {
    if (rows.length === 0 && !fields.every(isNumber)) return; // a header row
    if (fields.length !== features) {
      throw badData(file, `line ${line} has ${fields.length} columns, expected ${features} features.`, "Give every row the same number of columns.");
    }
    const row = fields.map((f, j) => {
      if (!isNumber(f)) throw badData(file, `line ${line}, column ${j + 1}: ${JSON.stringify(f)} is not a number.`, "Features must be plain numbers; only the first row may be a header.");
      const v = Number(f);
      if (v > max) max = v;
      if (pixelLike && !(Number.isInteger(v) && v >= 0 && v <= 255)) pixelLike = false;
      return v;
    });
    rows.push(row);
  });
  if (rows.length === 0) throw badData(file, "holds no data rows.", `Add rows of ${features} comma-separated features.`);
  const divisor = opts.scale ?? 1;
  if (opts.scale === undefined && pixelLike && max > 1) opts.warn?.(rawPixelWarning(file, max));
  const x = new Float32Array(rows.length * features);
  rows.forEach((r, i) => r.forEach((v, j) => (x[i * features + j] = v / divisor)));
  return x;
}

/**
 * Load `--input` for a model taking `features` inputs; a refusal names the file and the fix. A
 * regression model of `regressionOutputs` outputs takes a CSV of features, or of its targets then
 * the features (csvForModel's layout), never IDX labels.
 */
export async function loadInferenceInput(input: string, features: number, opts: CsvOptions = {}, regressionOutputs = 0): Promise<InferenceInput> {
  const path = resolve(input);
  const csv = await csvFile(path);
  const known = regressionOutputs > 0 ? `${regressionOutputs} target${regressionOutputs === 1 ? "" : "s"}` : "a label";
  const read: CsvOptions = regressionOutputs > 0 ? { ...opts, targetColumns: regressionOutputs } : opts;
  if (csv) {
    const { columns, text } = await firstRowColumns(csv);
    if (columns === features) {
      const x = parseFeatureCsv(csv, text, features, opts);
      return { source: csv, count: x.length / features, features, x };
    }
    if (columns !== features + Math.max(1, regressionOutputs)) {
      throw badData(csv, `has ${columns} columns, but the model takes ${features} features.`, `Write ${features} features per row, or ${known} then ${features} features.`);
    }
    const ds = await loadCsv(csv, read);
    return ds.targets ? { source: csv, count: ds.count, features, x: ds.x, targets: ds.targets } : { source: csv, count: ds.count, features, x: ds.x, labels: ds.y };
  }
  const ds = await loadDataset(path, read);
  if (ds.features !== features) {
    throw badData(path, `holds samples of ${ds.features} features, but the model takes ${features}.`, "Pass data of the model's input size (e.g. 28 × 28 MNIST images for a 784-input model).");
  }
  return ds.targets ? { source: path, count: ds.count, features, x: ds.x, targets: ds.targets } : { source: path, count: ds.count, features, x: ds.x, labels: ds.y };
}
