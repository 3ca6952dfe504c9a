/**
 * Splitting the requester's training data into one shard per machine, in the format it came in:
 * an MNIST IDX pair (images IDX followed by labels IDX, as uploaded) or a CSV with the label
 * first. The bytes of each sample are copied as they are, so a worker reads exactly what the
 * requester sent. Samples are dealt out in a seeded random order, so every shard is a fair
 * sample of the whole and the same job always gives the same shards.
 */
import { gunzipSync } from "node:zlib";
import { makeRng, permutation } from "../../native/data.js";
import { splitIdxPair } from "../data/validation.js";

export interface ShardFile {
  /** File name inside the shard's folder (loadDataset finds the pair or data.csv). */
  name: string;
  bytes: Buffer;
}

/** Sample indices of shard `index` of `count`: a contiguous run of a seeded permutation, sorted. */
export function shardIndices(samples: number, count: number, index: number, seed: number): Uint32Array {
  if (!Number.isInteger(count) || count < 1 || !Number.isInteger(index) || index < 0 || index >= count) {
    throw new RangeError(`shard ${index} of ${count} does not exist`);
  }
  const order = permutation(samples, makeRng(seed));
  const from = Math.floor((samples * index) / count);
  const to = Math.floor((samples * (index + 1)) / count);
  return order.slice(from, to).sort();
}

/** Shard `index` of `count` of an uploaded IDX pair: a train-images/train-labels pair. */
export function shardIdx(raw: Buffer, count: number, index: number, seed: number): ShardFile[] {
  const { images, labels } = splitIdxPair(raw);
  const n = images.readUInt32BE(4);
  const rows = images.readUInt32BE(8);
  const cols = images.readUInt32BE(12);
  const size = rows * cols;
  const picked = shardIndices(n, count, index, seed);
  const img = Buffer.alloc(16 + picked.length * size);
  images.copy(img, 0, 0, 16);
  img.writeUInt32BE(picked.length, 4);
  const lbl = Buffer.alloc(8 + picked.length);
  labels.copy(lbl, 0, 0, 8);
  lbl.writeUInt32BE(picked.length, 4);
  picked.forEach((s, k) => {
    images.copy(img, 16 + k * size, 16 + s * size, 16 + (s + 1) * size);
    lbl[8 + k] = labels[8 + s];
  });
  return [
    { name: "train-images-idx3-ubyte", bytes: img },
    { name: "train-labels-idx1-ubyte", bytes: lbl },
  ];
}

/** Shard `index` of `count` of an uploaded CSV: its header row (if any) and the picked rows, as data.csv. */
export function shardCsv(raw: Buffer, count: number, index: number, seed: number): ShardFile[] {
  const text = (raw.length >= 2 && raw[0] === 0x1f && raw[1] === 0x8b ? gunzipSync(raw) : raw).toString("utf8");
  const lines = text.split("\n").map((l) => (l.endsWith("\r") ? l.slice(0, -1) : l)).filter((l) => l.trim() !== "");
  const header = lines.length > 0 && !lines[0].split(",").every((f) => f.trim() !== "" && Number.isFinite(Number(f))) ? lines.shift()! : undefined;
  const picked = shardIndices(lines.length, count, index, seed);
  const out = [...(header === undefined ? [] : [header]), ...Array.from(picked, (i) => lines[i])];
  return [{ name: "data.csv", bytes: Buffer.from(out.join("\n") + "\n", "utf8") }];
}

export function shardTrainData(raw: Buffer, format: string, count: number, index: number, seed: number): ShardFile[] {
  return format === "csv" ? shardCsv(raw, count, index, seed) : shardIdx(raw, count, index, seed);
}
