/**
 * The Hugging Face safetensors format: an 8-byte little-endian header length N, N bytes of JSON
 * header, then one byte buffer that the tensors cover exactly, with no holes and no overlaps.
 * Weights and updates travel in this format and their sha256 goes on chain, so the encoder is
 * deterministic and the decoder refuses anything the reference implementation would refuse.
 */
import { createHash } from "node:crypto";
import { QuackError, type ErrorCode } from "../protocol/errors.js";
import type { Tensor } from "./types.js";

export class SafetensorsError extends QuackError {
  constructor(code: ErrorCode, message: string, fix: string, details?: Record<string, unknown>) {
    super(code, message, { fix, details });
    this.name = "SafetensorsError";
  }
}

/** The reference implementation refuses headers above 100 MB; so do we by default. */
export const DEFAULT_MAX_HEADER_BYTES = 100_000_000;

/** Bytes per element of every dtype the format defines; only the float ones decode here. */
const DTYPE_BYTES: Record<string, number> = {
  F64: 8, F32: 4, F16: 2, BF16: 2,
  I64: 8, U64: 8, I32: 4, U32: 4, I16: 2, U16: 2, I8: 1, U8: 1, BOOL: 1,
  F8_E4M3: 1, F8_E5M2: 1,
};
const FLOAT_DTYPES = new Set(["F64", "F32", "F16", "BF16"]);

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
const REEXPORT = "Re-export the weights as float32 safetensors (PyTorch: safetensors.torch.save_file(model.state_dict(), path)).";

interface Entry { name: string; dtype: string; shape: number[]; begin: number; end: number; order: number }

export function decodeSafetensors(
  buf: Uint8Array,
  opts: { maxHeaderBytes?: number } = {},
): { tensors: Tensor[]; metadata: Record<string, string> } {
  const maxHeader = opts.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES;
  if (buf.length < 8) {
    throw new SafetensorsError("TRUNCATED", `safetensors data is ${buf.length} bytes; the 8-byte header length alone needs 8.`,
      "Send the complete file; it was cut short or is not safetensors.");
  }
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const n = view.getBigUint64(0, true);
  if (n > BigInt(maxHeader)) {
    throw new SafetensorsError("TOO_LARGE", `safetensors header claims ${n} bytes, above the limit of ${maxHeader}.`,
      "This is not a valid safetensors file, or its header is absurdly large; re-export it.");
  }
  const headerLen = Number(n);
  if (8 + headerLen > buf.length) {
    throw new SafetensorsError("BAD_HEADER_LENGTH", `safetensors header claims ${headerLen} bytes but only ${buf.length - 8} follow the length field.`,
      "The file is truncated or not safetensors; send the complete file.");
  }
  const header = parseHeader(buf.subarray(8, 8 + headerLen));
  const dataStart = 8 + headerLen;
  const dataLen = buf.length - dataStart;

  const metadata = readMetadata(header.__metadata__);
  const entries: Entry[] = [];
  let order = 0;
  for (const [name, raw] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    entries.push(readEntry(name, raw, dataLen, order++));
  }
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end || a.order - b.order);
  checkCoverage(entries, dataLen);

  const tensors = entries.map((e) => ({
    name: e.name,
    shape: e.shape,
    data: toFloat32(e.dtype, buf.subarray(dataStart + e.begin, dataStart + e.end)),
  }));
  return { tensors, metadata };
}

function parseHeader(bytes: Uint8Array): Record<string, unknown> {
  const fix = "The header must be a UTF-8 JSON object; re-export the file with a safetensors library.";
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (e) {
    throw new SafetensorsError("BAD_HEADER_JSON", `safetensors header is not valid UTF-8 JSON: ${(e as Error).message}`, fix);
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new SafetensorsError("BAD_HEADER_JSON", "safetensors header is JSON but not an object of tensors.", fix);
  }
  return parsed as Record<string, unknown>;
}

function readMetadata(raw: unknown): Record<string, string> {
  const metadata: Record<string, string> = {};
  if (raw === undefined) return metadata;
  const fix = "__metadata__ must map strings to strings; stringify other values before saving.";
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    throw new SafetensorsError("BAD_METADATA", "safetensors __metadata__ is not an object.", fix);
  }
  for (const [k, v] of Object.entries(raw)) {
    if (typeof v !== "string") {
      throw new SafetensorsError("BAD_METADATA", `safetensors __metadata__ key '${k}' holds a ${typeof v}, not a string.`, fix);
    }
    metadata[k] = v;
  }
  return metadata;
}

function readEntry(name: string, raw: unknown, dataLen: number, order: number): Entry {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    throw new SafetensorsError("BAD_HEADER_JSON", `tensor '${name}': header entry is not an object with dtype, shape and data_offsets.`, REEXPORT, { tensor: name });
  }
  const { dtype, shape, data_offsets: offsets } = raw as Record<string, unknown>;
  if (typeof dtype !== "string" || !(dtype in DTYPE_BYTES)) {
    throw new SafetensorsError("UNKNOWN_DTYPE", `tensor '${name}': unknown dtype ${JSON.stringify(dtype)}.`,
      `Use one of ${[...FLOAT_DTYPES].join(", ")}. ${REEXPORT}`, { tensor: name });
  }
  if (!FLOAT_DTYPES.has(dtype)) {
    throw new SafetensorsError("UNSUPPORTED_DTYPE", `tensor '${name}': dtype ${dtype} is not a float type; weights must be F32, F16, BF16 or F64.`,
      REEXPORT, { tensor: name });
  }
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new SafetensorsError("BAD_SHAPE", `tensor '${name}': shape ${JSON.stringify(shape)} is not a list of non-negative integers.`,
      REEXPORT, { tensor: name });
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
    throw new SafetensorsError("BAD_OFFSETS", `tensor '${name}': data_offsets ${JSON.stringify(offsets)} is not a pair of non-negative integers.`,
      REEXPORT, { tensor: name });
  }
  const [begin, end] = offsets as number[];
  if (begin > end || end > dataLen) {
    throw new SafetensorsError("BAD_OFFSETS", `tensor '${name}': data_offsets [${begin}, ${end}] fall outside the ${dataLen}-byte data buffer or are reversed.`,
      "The file is truncated or its header is wrong; re-export it.", { tensor: name, begin, end, dataLen });
  }
  let bytes = DTYPE_BYTES[dtype];
  for (const d of shape as number[]) bytes *= d;
  if (bytes !== end - begin) {
    throw new SafetensorsError("SIZE_MISMATCH", `tensor '${name}': ${dtype} × shape [${shape.join(", ")}] needs ${bytes} bytes but data_offsets span ${end - begin}.`,
      REEXPORT, { tensor: name });
  }
  return { name, dtype, shape: [...(shape as number[])], begin, end, order };
}

/** The spec wants the data buffer covered exactly: no overlap, no hole, nothing trailing. */
function checkCoverage(sorted: Entry[], dataLen: number): void {
  let pos = 0;
  let prev = "(start of data)";
  for (const e of sorted) {
    if (e.begin < pos) {
      throw new SafetensorsError("OVERLAP", `tensor '${e.name}' overlaps tensor '${prev}' (starts at byte ${e.begin}, before ${pos}).`,
        "Each tensor needs its own bytes; re-export the file.", { tensor: e.name, other: prev });
    }
    if (e.begin > pos) {
      throw new SafetensorsError("GAP", `tensor '${e.name}' starts at byte ${e.begin}, leaving a hole after '${prev}' (which ends at ${pos}).`,
        "The data buffer must be fully covered; re-export the file.", { tensor: e.name });
    }
    if (e.end > e.begin) { pos = e.end; prev = e.name; }
  }
  if (pos !== dataLen) {
    throw new SafetensorsError("GAP", `${dataLen - pos} bytes after tensor '${prev}' belong to no tensor.`,
      "The data buffer must end with the last tensor; re-export the file.", { trailing: dataLen - pos });
  }
}

let f16Table: Uint32Array | undefined;
/**
 * Float32 bit patterns of all 65,536 half-precision values, built once: a lookup beats
 * bit-twiddling per element, and working on bits keeps the sign and payload of NaNs.
 */
function halfTable(): Uint32Array {
  if (f16Table) return f16Table;
  const t = new Uint32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = (h & 0x8000) << 16;
    const exp = (h >> 10) & 0x1f;
    let mant = h & 0x3ff;
    if (exp === 31) t[h] = sign | 0x7f800000 | (mant << 13);
    else if (exp !== 0) t[h] = sign | ((exp + 112) << 23) | (mant << 13);
    else if (mant === 0) t[h] = sign;
    else {
      // subnormal half: shift the mantissa up until it is normal, lowering the exponent
      let e = 113;
      while (!(mant & 0x400)) { mant <<= 1; e--; }
      t[h] = sign | (e << 23) | ((mant & 0x3ff) << 13);
    }
  }
  return (f16Table = t);
}

/** Copies into a fresh aligned Float32Array: the source may sit at any byte offset. */
function toFloat32(dtype: string, bytes: Uint8Array): Float32Array {
  const size = DTYPE_BYTES[dtype];
  const count = bytes.length / size;
  const out = new Float32Array(count);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dtype === "F32") {
    if (LITTLE_ENDIAN) new Uint8Array(out.buffer).set(bytes);
    else for (let i = 0; i < count; i++) out[i] = dv.getFloat32(i * 4, true);
  } else if (dtype === "F64") {
    for (let i = 0; i < count; i++) out[i] = dv.getFloat64(i * 8, true);
  } else if (dtype === "F16") {
    const table = halfTable();
    const bits = new Uint32Array(out.buffer);
    for (let i = 0; i < count; i++) bits[i] = table[dv.getUint16(i * 2, true)];
  } else {
    // bfloat16 is the upper half of a float32, so the widening is exact.
    const bits = new Uint32Array(out.buffer);
    for (let i = 0; i < count; i++) bits[i] = dv.getUint16(i * 2, true) << 16;
  }
  return out;
}

function checkTensorForEncode(t: Tensor, seen: Set<string>): void {
  const name = t.name;
  if (typeof name !== "string" || name === "" || name === "__metadata__") {
    throw new SafetensorsError("BAD_NAME", `tensor name ${JSON.stringify(name)} cannot be saved.`,
      "Give every tensor a non-empty name other than __metadata__, e.g. '0.weight'.");
  }
  if (seen.has(name)) {
    throw new SafetensorsError("DUPLICATE_NAME", `tensor '${name}' appears twice.`, "Give every tensor a unique name.", { tensor: name });
  }
  seen.add(name);
  if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new SafetensorsError("BAD_SHAPE", `tensor '${name}': shape ${JSON.stringify(t.shape)} is not a list of non-negative integers.`,
      "Pass the shape as integers, e.g. [128, 784].", { tensor: name });
  }
  if (!(t.data instanceof Float32Array)) {
    throw new SafetensorsError("UNSUPPORTED_DTYPE", `tensor '${name}': data is not a Float32Array.`, "Convert the data with Float32Array.from(...).", { tensor: name });
  }
  const elements = t.shape.reduce((a, d) => a * d, 1);
  if (elements !== t.data.length) {
    throw new SafetensorsError("SIZE_MISMATCH", `tensor '${name}': shape [${t.shape.join(", ")}] holds ${elements} values but data has ${t.data.length}.`,
      "Make the shape match the data length.", { tensor: name });
  }
}

/**
 * F32 safetensors bytes. The header lists __metadata__ (keys sorted) then the tensors in the
 * given order, laid out in that order, padded with spaces to a multiple of 8 bytes as the
 * reference implementation does. Built by hand, not JSON.stringify of an object, because JS
 * objects move integer-like keys first and the bytes must follow the caller's order.
 */
export function encodeSafetensors(tensors: Tensor[], metadata?: Record<string, string>): Buffer {
  const seen = new Set<string>();
  for (const t of tensors) checkTensorForEncode(t, seen);
  const parts: string[] = [];
  if (metadata && Object.keys(metadata).length > 0) {
    const keys = Object.keys(metadata).sort();
    for (const k of keys) {
      if (typeof metadata[k] !== "string") {
        throw new SafetensorsError("BAD_METADATA", `metadata key '${k}' holds a ${typeof metadata[k]}, not a string.`, "Stringify metadata values before saving.");
      }
    }
    parts.push(`"__metadata__":{${keys.map((k) => `${JSON.stringify(k)}:${JSON.stringify(metadata[k])}`).join(",")}}`);
  }
  let offset = 0;
  for (const t of tensors) {
    const end = offset + t.data.length * 4;
    parts.push(`${JSON.stringify(t.name)}:{"dtype":"F32","shape":[${t.shape.join(",")}],"data_offsets":[${offset},${end}]}`);
    offset = end;
  }
  const json = Buffer.from(`{${parts.join(",")}}`, "utf8");
  const headerLen = Math.ceil(json.length / 8) * 8;
  const out = Buffer.alloc(8 + headerLen + offset);
  out.writeBigUInt64LE(BigInt(headerLen), 0);
  json.copy(out, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLen);
  let pos = 8 + headerLen;
  for (const t of tensors) {
    if (LITTLE_ENDIAN) out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), pos);
    else for (let i = 0; i < t.data.length; i++) out.writeFloatLE(t.data[i], pos + i * 4);
    pos += t.data.byteLength;
  }
  return out;
}

/** Content address of safetensors bytes: "0x" + 64 hex digits, ready to be a bytes32 on chain. */
export function sha256Hex(buf: Uint8Array): string {
  return "0x" + createHash("sha256").update(buf).digest("hex");
}
