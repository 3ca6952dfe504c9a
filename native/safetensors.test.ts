import t from "tap";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decodeSafetensors, encodeSafetensors, sha256Hex, SafetensorsError } from "./safetensors.js";
import type { Tensor } from "./types.js";

/** Safetensors bytes built by hand from a header object and a raw data buffer. */
function rawFile(header: unknown, data: Uint8Array, headerText?: string): Buffer {
  const json = Buffer.from(headerText ?? JSON.stringify(header), "utf8");
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([len, json, data]);
}

function u16le(values: number[]): Buffer {
  const b = Buffer.alloc(values.length * 2);
  values.forEach((v, i) => b.writeUInt16LE(v, i * 2));
  return b;
}

const model: Tensor[] = [
  { name: "0.weight", shape: [3, 2], data: new Float32Array([1, -2, 3.5, 1e-7, -0, 65504]) },
  { name: "0.bias", shape: [3], data: new Float32Array([0.1, 0.2, 0.3]) },
  { name: "2.weight", shape: [1, 3], data: new Float32Array([Math.PI, -Math.E, 1e30]) },
];

t.test("encode then decode gives back the same tensors and metadata", async (t) => {
  const bytes = encodeSafetensors(model, { format: "pt", round: "3" });
  t.equal((bytes.readUInt32LE(0) + 8) % 8, 0, "header padded to 8 bytes");
  const { tensors, metadata } = decodeSafetensors(bytes);
  t.same(metadata, { format: "pt", round: "3" });
  t.same(tensors.map((x) => x.name), ["0.weight", "0.bias", "2.weight"]);
  for (let i = 0; i < model.length; i++) {
    t.same(tensors[i].shape, model[i].shape);
    t.same(Array.from(tensors[i].data), Array.from(model[i].data));
  }
});

t.test("encoding is deterministic and follows the given order", async (t) => {
  const a = encodeSafetensors(model, { b: "2", a: "1" });
  const b = encodeSafetensors(model.map((x) => ({ ...x, data: x.data.slice() })), { a: "1", b: "2" });
  t.ok(a.equals(b), "same tensors, same metadata in any key order → same bytes");
  t.equal(sha256Hex(a), sha256Hex(b));
  t.match(sha256Hex(a), /^0x[0-9a-f]{64}$/);
  const reversed = encodeSafetensors([...model].reverse());
  t.not(sha256Hex(reversed), sha256Hex(encodeSafetensors(model)), "order is part of the bytes");
  const header = reversed.subarray(8, 8 + Number(reversed.readBigUInt64LE(0))).toString();
  t.ok(header.indexOf('"2.weight"') < header.indexOf('"0.weight"'), "header keeps the caller's order");
  // integer-like names would be reordered by a plain JS object
  const numeric = encodeSafetensors([
    { name: "b", shape: [1], data: new Float32Array([1]) },
    { name: "0", shape: [1], data: new Float32Array([2]) },
  ]);
  t.same(decodeSafetensors(numeric).tensors.map((x) => x.name), ["b", "0"]);
});

t.test("sha256Hex matches a known vector", async (t) => {
  t.equal(sha256Hex(new TextEncoder().encode("abc")), "0xba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
});

t.test("a hand-written file with F16, BF16, F64 and F32 decodes to the right values", async (t) => {
  // F16: 1, -2, 0.5, 65504, smallest subnormal, +Inf, -0, NaN
  const f16 = u16le([0x3c00, 0xc000, 0x3800, 0x7bff, 0x0001, 0x7c00, 0x8000, 0x7e00]);
  // BF16: 1, -2.5, 3.140625
  const bf16 = u16le([0x3f80, 0xc020, 0x4049]);
  const f64 = Buffer.alloc(16);
  f64.writeDoubleLE(0.1, 0);
  f64.writeDoubleLE(-1234.5, 8);
  const f32 = Buffer.alloc(8);
  f32.writeFloatLE(2.5, 0);
  f32.writeFloatLE(-0.125, 4);
  const data = Buffer.concat([f16, bf16, f32, f64]); // 16 + 6 + 8 + 16: F32 and F64 sit unaligned
  const header = {
    // header order differs from offset order on purpose
    "x.f64": { dtype: "F64", shape: [2], data_offsets: [30, 46] },
    "x.f16": { dtype: "F16", shape: [2, 4], data_offsets: [0, 16] },
    __metadata__: { format: "pt" },
    "x.f32": { dtype: "F32", shape: [2], data_offsets: [22, 30] },
    "x.bf16": { dtype: "BF16", shape: [3], data_offsets: [16, 22] },
  };
  const file = rawFile(header, data, JSON.stringify(header) + "  ");
  const { tensors, metadata } = decodeSafetensors(new Uint8Array(file.buffer, file.byteOffset + 0, file.length));
  t.same(metadata, { format: "pt" });
  t.same(tensors.map((x) => x.name), ["x.f16", "x.bf16", "x.f32", "x.f64"], "sorted by offset");
  const h = Array.from(tensors[0].data);
  t.same(h.slice(0, 6), [1, -2, 0.5, 65504, 2 ** -24, Infinity]);
  t.ok(Object.is(h[6], -0), "negative zero kept");
  t.ok(Number.isNaN(h[7]), "NaN kept");
  t.same(tensors[0].shape, [2, 4]);
  t.same(Array.from(tensors[1].data), [1, -2.5, 3.140625]);
  t.same(Array.from(tensors[2].data), [2.5, -0.125]);
  t.same(Array.from(tensors[3].data), [Math.fround(0.1), -1234.5]);
  for (const x of tensors) t.equal(x.data.byteOffset % 4, 0, `${x.name} aligned`);
});

t.test("decode works from an unaligned view into a larger buffer", async (t) => {
  const bytes = encodeSafetensors(model);
  const big = new Uint8Array(bytes.length + 3);
  big.set(bytes, 3);
  const { tensors } = decodeSafetensors(big.subarray(3));
  t.same(Array.from(tensors[2].data), Array.from(model[2].data));
});

t.test("zero-sized tensors are accepted", async (t) => {
  const bytes = encodeSafetensors([
    { name: "empty", shape: [0, 5], data: new Float32Array(0) },
    { name: "w", shape: [2], data: new Float32Array([1, 2]) },
  ]);
  const { tensors } = decodeSafetensors(bytes);
  t.same(tensors.map((x) => [x.name, x.shape, x.data.length]), [["empty", [0, 5], 0], ["w", [2], 2]]);
});

const f32x2 = Buffer.alloc(8);
const entry = (o: Record<string, unknown> = {}) => ({ dtype: "F32", shape: [2], data_offsets: [0, 8], ...o });

const refusals: [string, string, () => Uint8Array][] = [
  ["TRUNCATED", "shorter than 8 bytes", () => new Uint8Array(5)],
  ["BAD_HEADER_LENGTH", "header length beyond the buffer", () => {
    const b = rawFile({ w: entry() }, f32x2);
    b.writeBigUInt64LE(BigInt(b.length), 0);
    return b;
  }],
  ["TOO_LARGE", "absurd header length", () => {
    const b = Buffer.alloc(16);
    b.writeBigUInt64LE(2n ** 63n, 0);
    return b;
  }],
  ["BAD_HEADER_JSON", "header not JSON", () => rawFile(null, f32x2, "{not json")],
  ["BAD_HEADER_JSON", "header JSON but an array", () => rawFile([1, 2], Buffer.alloc(0))],
  ["BAD_HEADER_JSON", "header not UTF-8", () => rawFile(null, Buffer.alloc(0), "\uFFFD").fill(0xff, 8)],
  ["BAD_HEADER_JSON", "entry not an object", () => rawFile({ w: 3 }, Buffer.alloc(0))],
  ["BAD_METADATA", "metadata value not a string", () => rawFile({ __metadata__: { a: 1 }, w: entry() }, f32x2)],
  ["UNKNOWN_DTYPE", "unknown dtype", () => rawFile({ w: entry({ dtype: "F17" }) }, f32x2)],
  ["UNSUPPORTED_DTYPE", "integer dtype", () => rawFile({ w: entry({ dtype: "I32" }) }, f32x2)],
  ["BAD_OFFSETS", "end beyond data", () => rawFile({ w: entry({ data_offsets: [0, 16] }) }, f32x2)],
  ["BAD_OFFSETS", "begin > end", () => rawFile({ w: entry({ shape: [0], data_offsets: [8, 4] }) }, f32x2)],
  ["BAD_OFFSETS", "offsets not integers", () => rawFile({ w: entry({ data_offsets: [0, "8"] }) }, f32x2)],
  ["OVERLAP", "two tensors on the same bytes", () => rawFile({ a: entry(), b: entry() }, f32x2)],
  ["GAP", "a hole between tensors", () => rawFile({ a: entry({ shape: [1], data_offsets: [0, 4] }), b: entry({ shape: [1], data_offsets: [8, 12] }) }, Buffer.alloc(12))],
  ["GAP", "trailing bytes", () => rawFile({ w: entry() }, Buffer.alloc(12))],
  ["SIZE_MISMATCH", "dtype × shape ≠ span", () => rawFile({ w: entry({ shape: [3] }) }, f32x2)],
  ["BAD_SHAPE", "negative dim", () => rawFile({ w: entry({ shape: [-2] }) }, f32x2)],
  ["BAD_SHAPE", "fractional dim", () => rawFile({ w: entry({ shape: [1.5] }) }, f32x2)],
];

t.test("malformed files are refused with a code that says why", async (t) => {
  for (const [code, what, make] of refusals) {
    t.throws(() => decodeSafetensors(make()), { code, name: "SafetensorsError" }, what);
  }
  const e = (() => { try { decodeSafetensors(rawFile({ "3.bias": entry({ shape: [3] }) }, f32x2)); } catch (err) { return err; } })();
  t.ok(e instanceof SafetensorsError);
  t.match((e as SafetensorsError).message, /3\.bias/, "message names the tensor");
  t.match((e as SafetensorsError).fix, /\S/, "a fix is offered");
  t.throws(() => decodeSafetensors(rawFile({ w: entry() }, f32x2), { maxHeaderBytes: 10 }), { code: "TOO_LARGE" });
});

t.test("encode refuses tensors it cannot write faithfully", async (t) => {
  const d = new Float32Array(2);
  t.throws(() => encodeSafetensors([{ name: "w", shape: [3], data: d }]), { code: "SIZE_MISMATCH", message: /'w'/ });
  t.throws(() => encodeSafetensors([{ name: "w", shape: [2], data: d }, { name: "w", shape: [2], data: d }]), { code: "DUPLICATE_NAME" });
  t.throws(() => encodeSafetensors([{ name: "", shape: [2], data: d }]), { code: "BAD_NAME" });
  t.throws(() => encodeSafetensors([{ name: "__metadata__", shape: [2], data: d }]), { code: "BAD_NAME" });
  t.throws(() => encodeSafetensors([{ name: "w", shape: [-1, -2], data: d }]), { code: "BAD_SHAPE" });
  t.throws(() => encodeSafetensors([{ name: "w", shape: [2], data: [1, 2] as unknown as Float32Array }]), { code: "UNSUPPORTED_DTYPE" });
  t.throws(() => encodeSafetensors([{ name: "w", shape: [2], data: d }], { a: 1 as unknown as string }), { code: "BAD_METADATA" });
});

const numpy = spawnSync("python3", ["-c", "import numpy"]).status === 0;

t.test("numpy reads our files and agrees on every half-precision value", { skip: numpy ? false : "python3 with numpy not installed" }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "qm-st-"));
  const ours = join(dir, "model.safetensors");
  writeFileSync(ours, encodeSafetensors(model, { format: "pt" }));
  const all = join(dir, "f16.safetensors");
  writeFileSync(all, rawFile({ h: { dtype: "F16", shape: [65536], data_offsets: [0, 131072] } },
    u16le(Array.from({ length: 65536 }, (_, i) => i))));
  const decoded = decodeSafetensors(readFileSync(all)).tensors[0].data;
  writeFileSync(join(dir, "ours-f16.bin"), Buffer.from(decoded.buffer));
  // A spec-only reader: length, JSON, then numpy views of each byte range.
  const py = `
import json, struct, sys, numpy as np
def load(p):
    b = open(p, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n])
    meta = h.pop("__metadata__", {})
    dt = {"F32": "<f4", "F16": "<f2"}
    return meta, {k: np.frombuffer(b[8 + n + v["data_offsets"][0]: 8 + n + v["data_offsets"][1]], dtype=dt[v["dtype"]]).reshape(v["shape"]) for k, v in h.items()}
meta, t = load(sys.argv[1])
out = {"meta": meta, "tensors": {k: {"shape": list(v.shape), "data": v.astype(float).ravel().tolist()} for k, v in t.items()}}
_, h = load(sys.argv[2])
ref = h["h"].astype(np.float32)
mine = np.fromfile(sys.argv[3], dtype="<f4")
same = (ref == mine) | (np.isnan(ref) & np.isnan(mine))
out["f16_mismatches"] = int((~same).sum()) + int((np.signbit(ref) != np.signbit(mine)).sum())
print(json.dumps(out))
`;
  const r = spawnSync("python3", ["-c", py, ours, all, join(dir, "ours-f16.bin")], { encoding: "utf8" });
  t.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  t.same(out.meta, { format: "pt" });
  t.equal(out.f16_mismatches, 0, "all 65,536 F16 bit patterns convert as numpy converts them");
  for (const m of model) {
    t.same(out.tensors[m.name].shape, m.shape);
    t.same(out.tensors[m.name].data, Array.from(m.data));
  }
});
