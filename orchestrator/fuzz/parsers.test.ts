/**
 * Generated inputs against the parsers every upload goes through: safetensors, the IDX and CSV
 * loaders (and the orchestrator's IDX-pair splitter), and the model-spec validator. Each either
 * answers something consistent or refuses with the product's typed error; nothing else escapes.
 */
import t from "tap";
import fc from "fast-check";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { QuackError } from "../../protocol/errors.js";
import { parameterCount } from "../../protocol/spec.js";
import { loadCsv, loadIdx } from "../../native/data.js";
import { validateSpec } from "../../native/index.js";
import { decodeSafetensors, encodeSafetensors } from "../../native/safetensors.js";
import type { Dataset, Tensor } from "../../native/types.js";
import { splitIdxPair } from "../data/validation.js";
import { check, mutated } from "./testkit.js";

const FILE = "orchestrator/fuzz/parsers.test.ts";

/** Fails the property unless `e` is one of the product's typed errors. */
function typed(e: unknown): true {
  if (e instanceof QuackError) return true;
  throw new Error(`not a typed error: ${(e as Error)?.stack ?? String(e)}`);
}

const tensorArb: fc.Arbitrary<Tensor> = fc
  .tuple(fc.string({ minLength: 1, maxLength: 12 }), fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 3 }))
  .chain(([name, shape]) => {
    const n = shape.reduce((a, d) => a * d, 1);
    return fc.float32Array({ minLength: n, maxLength: n }).map((data) => ({ name, shape, data }));
  });
const tensorsArb = fc.uniqueArray(tensorArb, { selector: (t) => t.name, maxLength: 4 });
const encodedArb = tensorsArb.map((ts) => new Uint8Array(encodeSafetensors(ts)));

/** A header as JSON text with arbitrary entries: wrong dtypes, shapes, offsets, types. */
const headerArb = fc
  .dictionary(
    fc.oneof(fc.string({ maxLength: 8 }), fc.constant("__metadata__")),
    fc.oneof(
      fc.record({
        dtype: fc.oneof(fc.constantFrom("F32", "F16", "BF16", "F64", "I32", "U8", "BOOL", "F8_E4M3"), fc.string({ maxLength: 5 })),
        shape: fc.array(fc.oneof(fc.nat(8), fc.integer(), fc.double(), fc.constant(2 ** 53)), { maxLength: 4 }),
        data_offsets: fc.array(fc.oneof(fc.nat(64), fc.integer(), fc.double(), fc.constant(2 ** 60)), { maxLength: 3 }),
      }),
      fc.anything({ maxDepth: 2 }),
    ),
    { maxKeys: 4 },
  )
  .chain((h) =>
    fc.uint8Array({ maxLength: 64 }).map((data) => {
      const json = Buffer.from(JSON.stringify(h));
      const len = Buffer.alloc(8);
      len.writeBigUInt64LE(BigInt(json.length));
      return new Uint8Array(Buffer.concat([len, json, data]));
    }),
  );

function checkDecoded(bytes: Uint8Array): boolean {
  let out;
  try {
    out = decodeSafetensors(bytes);
  } catch (e) {
    return typed(e);
  }
  for (const tensor of out.tensors) {
    const n = tensor.shape.reduce((a, d) => a * d, 1);
    if (tensor.data.length !== n) throw new Error(`tensor ${tensor.name}: ${tensor.data.length} values for shape [${tensor.shape}]`);
  }
  return true;
}

t.test("safetensors: arbitrary, mutated and header-level inputs decode consistently or refuse with a typed error", async (t) => {
  let n = 0;
  n += await check(FILE, 1500, fc.property(mutated(encodedArb), checkDecoded));
  n += await check(FILE, 1000, fc.property(headerArb, checkDecoded));
  n += await check(
    FILE,
    500,
    fc.property(tensorsArb, (ts) => {
      const back = decodeSafetensors(encodeSafetensors(ts)).tensors;
      const byName = new Map(back.map((b) => [b.name, b]));
      return ts.every((x) => {
        const y = byName.get(x.name);
        return !!y && JSON.stringify(y.shape) === JSON.stringify(x.shape) && Buffer.from(y.data.buffer, y.data.byteOffset, y.data.byteLength).equals(Buffer.from(x.data.buffer, x.data.byteOffset, x.data.byteLength));
      });
    }),
  );
  t.pass(`${n} safetensors cases`);
});

const idxArb = fc.record({
  count: fc.integer({ min: 0, max: 6 }),
  rows: fc.integer({ min: 0, max: 4 }),
  cols: fc.integer({ min: 0, max: 4 }),
  labelCount: fc.integer({ min: 0, max: 6 }),
  gz: fc.boolean(),
});

function idxPair(p: { count: number; rows: number; cols: number; labelCount: number }, fill: number): { images: Buffer; labels: Buffer } {
  const images = Buffer.alloc(16 + p.count * p.rows * p.cols, fill);
  images.writeUInt32BE(0x803, 0);
  images.writeUInt32BE(p.count, 4);
  images.writeUInt32BE(p.rows, 8);
  images.writeUInt32BE(p.cols, 12);
  const labels = Buffer.alloc(8 + p.labelCount, fill % 10);
  labels.writeUInt32BE(0x801, 0);
  labels.writeUInt32BE(p.labelCount, 4);
  return { images, labels };
}

function consistent(ds: Dataset): true {
  if (ds.count < 1 || ds.features < 1 || ds.x.length !== ds.count * ds.features || ds.y.length !== ds.count) {
    throw new Error(`inconsistent data set: count ${ds.count}, features ${ds.features}, x ${ds.x.length}, y ${ds.y.length}`);
  }
  for (const v of ds.x) if (!Number.isFinite(v)) throw new Error(`non-finite feature ${v}`);
  return true;
}

t.test("IDX and CSV loaders: generated files load consistently or refuse with BAD_DATA", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "quackmesh-fuzz-data-"));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const img = join(dir, "images-idx3-ubyte");
  const lbl = join(dir, "labels-idx1-ubyte");
  const csv = join(dir, "data.csv");
  let n = 0;

  const idxFiles = fc.oneof(
    fc.tuple(idxArb, fc.nat(255)).map(([p, fill]) => {
      const { images, labels } = idxPair(p, fill);
      return { images: p.gz ? gzipSync(images) : images, labels: p.gz ? gzipSync(labels) : labels };
    }),
    fc.record({ images: mutated(fc.tuple(idxArb, fc.nat(255)).map(([p, f]) => new Uint8Array(idxPair(p, f).images))), labels: mutated(fc.tuple(idxArb, fc.nat(9)).map(([p, f]) => new Uint8Array(idxPair(p, f).labels))) }),
  );
  n += await check(
    FILE,
    800,
    fc.asyncProperty(idxFiles, async ({ images, labels }) => {
      await writeFile(img, images);
      await writeFile(lbl, labels);
      try {
        return consistent(await loadIdx(img, lbl));
      } catch (e) {
        return typed(e);
      }
    }),
  );

  const cell = fc.oneof(
    fc.integer({ min: -300, max: 300 }).map(String),
    fc.double({ noNaN: false }).map(String),
    fc.constantFrom("", " ", "nan", "1e999", "-0", "0x10", '"1"', '"a,b"', '"unterminated', "label"),
    fc.string({ maxLength: 6 }),
  );
  const csvText = fc.oneof(
    fc.tuple(fc.array(fc.array(cell, { minLength: 0, maxLength: 5 }), { maxLength: 6 }), fc.constantFrom("\n", "\r\n", "\r")).map(([rows, eol]) => rows.map((r) => r.join(",")).join(eol)),
    fc.string({ maxLength: 120 }),
  );
  n += await check(
    FILE,
    800,
    fc.asyncProperty(csvText, fc.boolean(), async (text, gz) => {
      await writeFile(csv, gz ? gzipSync(text) : text);
      try {
        return consistent(await loadCsv(csv));
      } catch (e) {
        return typed(e);
      }
    }),
  );

  const pairBody = mutated(fc.tuple(idxArb, fc.nat(255)).map(([p, f]) => {
    const { images, labels } = idxPair(p, f);
    const body = Buffer.concat([images, labels]);
    return new Uint8Array(p.gz ? gzipSync(body) : body);
  }));
  n += await check(
    FILE,
    400,
    fc.property(pairBody, (body) => {
      try {
        const { images, labels } = splitIdxPair(Buffer.from(body), 10_000);
        return images.readUInt32BE(0) === 0x803 && labels.readUInt32BE(0) === 0x801;
      } catch (e) {
        return typed(e);
      }
    }),
  );
  t.pass(`${n} data-loader cases`);
});

t.test("model-spec validator: anything is refused with BAD_SPEC or accepted within the budget", async (t) => {
  const budget = { maxParameters: 50_000, maxActivationBytes: 4 * 1024 * 1024, batch: 256 };
  const layer = fc.oneof(
    fc.record({ type: fc.constant("dense"), units: fc.oneof(fc.integer({ min: 1, max: 300 }), fc.integer(), fc.double(), fc.constant(2 ** 31)), activation: fc.constantFrom("relu", "none", undefined, "gelu") }, { requiredKeys: ["type", "units"] }),
    fc.anything({ maxDepth: 1 }),
  );
  const spec = fc.oneof(
    fc.record(
      {
        input: fc.oneof(fc.array(fc.oneof(fc.integer({ min: 1, max: 800 }), fc.integer(), fc.constant(1e6)), { maxLength: 5 }), fc.anything({ maxDepth: 1 })),
        layers: fc.oneof(fc.array(layer, { maxLength: 5 }), fc.anything({ maxDepth: 1 })),
        loss: fc.oneof(fc.constant("cross-entropy"), fc.string({ maxLength: 4 })),
        normalize: fc.oneof(fc.record({ mean: fc.double(), std: fc.double() }), fc.anything({ maxDepth: 1 })),
        extra: fc.anything({ maxDepth: 1 }),
      },
      { requiredKeys: ["input", "layers", "loss"] },
    ),
    fc.anything({ maxDepth: 3 }),
  );
  const n = await check(
    FILE,
    2000,
    fc.property(spec, (s) => {
      let clean;
      try {
        clean = validateSpec(s, budget);
      } catch (e) {
        typed(e);
        if ((e as QuackError).code !== "BAD_SPEC") throw new Error(`refused with ${(e as QuackError).code}, not BAD_SPEC`);
        return true;
      }
      return parameterCount(clean) <= budget.maxParameters && clean.layers[clean.layers.length - 1].activation === "none" && clean.loss === "cross-entropy";
    }),
  );
  t.pass(`${n} spec cases`);
});

t.test("regression (found here): a CSV feature beyond float32's range is refused, not loaded as ±Infinity", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "quackmesh-fuzz-csv-"));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, "data.csv");
  await writeFile(file, "-0,-2.18777839548548e+89,1.0346501099238155e+83,1.4211293954057211e+304,-1.6008116289635989e-248");
  await t.rejects(loadCsv(file), { code: "BAD_DATA", message: /beyond the float32 range/ });
  await writeFile(file, "1,3.4e38,0.5");
  t.equal((await loadCsv(file, { scale: 1 })).x[0], Math.fround(3.4e38), "the largest float32 values still load");
});
