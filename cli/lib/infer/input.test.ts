import t from "tap";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { writeIdx } from "../../../native/data.js";
import { loadInferenceInput } from "./input.js";

const dir = await mkdtemp(join(tmpdir(), "qm-infer-input-"));
t.teardown(() => rm(dir, { recursive: true, force: true }));
const file = async (name: string, text: string | Buffer) => {
  const p = join(dir, name);
  await writeFile(p, text);
  return p;
};

t.test("a CSV of features only: the column count equals the model's inputs; values as written unless scaled", async (t) => {
  const warnings: string[] = [];
  const warn = (w: string) => warnings.push(w);
  const f = await file("f.csv", "a,b,c\n0,127.5,255\n255,0,51\n");
  const got = await loadInferenceInput(f, 3, { scale: 255, warn });
  t.equal(got.count, 2);
  t.equal(got.labels, undefined);
  t.same(Array.from(got.x), [0, 0.5, 1, 1, 0, 0.2].map(Math.fround), "scale 255: 0-255 values divided");
  t.same(Array.from((await loadInferenceInput(f, 3, { warn })).x), [0, 127.5, 255, 255, 0, 51], "no scale: as written");
  t.same(warnings, [], "127.5 is no pixel: no warning");
  const pixels = await file("p.csv", "0,128,255\n");
  t.same(Array.from((await loadInferenceInput(pixels, 3, { warn })).x), [0, 128, 255], "whole numbers in 0-255, as written");
  t.match(warnings, [/p\.csv: features are whole numbers up to 255, like raw 0–255 pixels.*--scale 255/], "and a warning naming --scale");
  t.same(Array.from((await loadInferenceInput(await file("pl.csv", "3,0,128,255\n"), 3, { warn })).x), [0, 128, 255], "a labelled CSV: as written");
  t.equal(warnings.length, 2, "warned about too");
  const unscaled = await loadInferenceInput(await file("u.csv", "0.25,0.5\r\n1,0\r\n"), 2, { warn });
  t.same(Array.from(unscaled.x), [0.25, 0.5, 1, 0], "values already in [0, 1] kept");
  t.equal(warnings.length, 2, "no warning for values in [0, 1]");
  const gz = await loadInferenceInput(await file("g.csv.gz", gzipSync("1,0\n0,1\n")), 2);
  t.equal(gz.count, 2);
});

t.test("a CSV with a label first: one more column than the inputs; labels kept", async (t) => {
  const got = await loadInferenceInput(await file("l.csv", "7,0,255\n2,255,0\n"), 2);
  t.same(Array.from(got.labels!), [7, 2]);
  t.same(Array.from(got.x), [0, 255, 255, 0]);
  const inFolder = join(dir, "folder");
  await mkdir(inFolder);
  await writeFile(join(inFolder, "data.csv"), "1,0.5,0.5\n");
  t.same(Array.from((await loadInferenceInput(inFolder, 2)).labels!), [1], "a folder holding data.csv");
});

t.test("CSV: quoted fields, CRLF line ends and a UTF-8 BOM", async (t) => {
  const quoted = await loadInferenceInput(await file("q.csv", '"x, first","x ""second"""\n"0",255\n"51","102"\n'), 2);
  t.same([quoted.count, quoted.labels], [2, undefined], "a quoted header with a comma and quotes inside has 2 columns");
  t.same(Array.from(quoted.x), [0, 255, 51, 102], "quoted numbers are numbers");
  const crlf = await loadInferenceInput(await file("c.csv", "0.25,0.5\r\n\r\n1,0\r\n"), 2);
  t.same(Array.from(crlf.x), [0.25, 0.5, 1, 0], "CRLF rows, a blank CRLF line skipped");
  const labelled = await loadInferenceInput(await file("lc.csv", "7,0,1\r\n2,1,0\r\n"), 2);
  t.same(Array.from(labelled.labels!), [7, 2], "a labelled CSV with CRLF");
  const bom = await loadInferenceInput(await file("b.csv", "\uFEFF0.5,1\n1,0\n"), 2);
  t.same(Array.from(bom.x), [0.5, 1, 1, 0], "the BOM is not part of the first value");
  const bomLabelled = await loadInferenceInput(await file("bl.csv", "\uFEFF3,0,1\n"), 2);
  t.same(Array.from(bomLabelled.labels!), [3], "a BOM before a labelled row");
  await t.rejects(loadInferenceInput(await file("o.csv", '1,2\n"3,4\n'), 2), { code: "BAD_DATA", message: /o\.csv: is not valid CSV/ }, "an unclosed quote is refused");
});

t.test("an IDX folder; sizes that do not fit the model are refused with the file named", async (t) => {
  const idx = join(dir, "idx");
  await writeIdx(idx, { count: 2, features: 4, x: Float32Array.from([0, 1, 0, 1, 1, 0, 1, 0]), y: Uint8Array.from([3, 4]) }, "test");
  const got = await loadInferenceInput(idx, 4);
  t.same([got.count, Array.from(got.labels!)], [2, [3, 4]]);
  await t.rejects(loadInferenceInput(idx, 4, { scale: 255 }), { code: "BAD_ARGUMENT", message: /CSV only/ }, "no scale for IDX");
  await t.rejects(loadInferenceInput(idx, 784), { code: "BAD_DATA", message: /4 features, but the model takes 784/ });
  await t.rejects(loadInferenceInput(await file("w.csv", "1,2,3,4\n"), 2), { code: "BAD_DATA", message: /w\.csv: has 4 columns, but the model takes 2/ });
  await t.rejects(loadInferenceInput(await file("r.csv", "1,2\n3\n"), 2), { code: "BAD_DATA", message: /line 2 has 1 columns/ });
  await t.rejects(loadInferenceInput(await file("n.csv", "1,2\n1,x\n"), 2), { code: "BAD_DATA", message: /line 2, column 2/ });
  await t.rejects(loadInferenceInput(await file("h.csv", "a,b\n"), 2), { code: "BAD_DATA", message: /no data rows/ });
  await t.rejects(loadInferenceInput(join(dir, "none"), 2), { code: "DATA_NOT_FOUND" });
  await t.rejects(loadInferenceInput(await file("x.txt", "1,2\n"), 2), { code: "BAD_DATA", message: /not a \.csv/ });
});
