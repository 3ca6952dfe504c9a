// The worker's inference mode, in-process, against the same model run on all rows at once
// (cli/e2e/cluster.test.ts runs it as `quackmesh worker --infer` through providers' gateways).
import t from "tap";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { Network } from "../../../native/index.js";
import { loadMnist } from "../../../native/data.js";
import { encodeSafetensors } from "../../../native/safetensors.js";
import type { ModelSpec } from "../../../native/types.js";
import { MODEL_FILE, SPEC_FILE, outFile, partFile } from "../../../protocol/inference/remote.js";
import { serveParts } from "./serveParts.js";

const spec: ModelSpec = { input: [784], layers: [{ type: "dense", units: 16, activation: "relu" }, { type: "dense", units: 10 }], loss: "cross-entropy", normalize: { mean: 0.1307, std: 0.3081 } };
const net = Network.create(spec, { seed: 7 });
const model = encodeSafetensors(net.weights());
const test = await loadMnist("test");
const ROWS = 300;
const x = test.x.subarray(0, ROWS * 784);
const whole = await net.predict(x, ROWS);
const dir = await mkdtemp(join(tmpdir(), "qm-serve-parts-"));
t.teardown(() => rm(dir, { recursive: true, force: true }));
await writeFile(join(dir, MODEL_FILE), model);
await writeFile(join(dir, SPEC_FILE), JSON.stringify(spec));
const rows = (from: number, count: number) => Buffer.from(x.buffer, x.byteOffset + from * 784 * 4, count * 784 * 4);

/** Feed `lines` to serveParts; its JSON lines and its end (or error). */
async function serve(lines: string[]) {
  const input = new PassThrough();
  const out: Array<Record<string, unknown>> = [];
  const run = serveParts(dir, input, (m) => out.push(m)).then((r) => ({ ok: r }), (err: Error & { code?: string }) => ({ err }));
  for (const l of lines) input.write(l + "\n");
  input.end();
  return { out, end: await run };
}

t.test("parts in any order come back identical to the model run on all rows at once", async (t) => {
  await writeFile(join(dir, partFile(4)), rows(100, 200));
  await writeFile(join(dir, partFile(2)), rows(0, 100));
  const { out, end } = await serve(['{"part":4,"count":200}', "", '{"part":2,"count":100}']);
  t.same(end, { ok: { parts: 2, rows: 300 } });
  t.match(out[0], { event: "ready", features: 784, classes: 10, modelSha256: createHash("sha256").update(model).digest("hex") });
  t.match(out.slice(1), [{ event: "part", part: 4, count: 200, classes: 10 }, { event: "part", part: 2, count: 100, classes: 10 }]);
  const got = Buffer.concat([await readFile(join(dir, outFile(2))), await readFile(join(dir, outFile(4)))]);
  t.ok(got.equals(Buffer.from(whole.buffer, whole.byteOffset, whole.byteLength)), "bit for bit the probabilities of the whole input");
  t.equal(out[1].sha256, createHash("sha256").update(await readFile(join(dir, outFile(4)))).digest("hex"), "the sha256 names the out file");
  t.notOk(existsSync(join(dir, partFile(2))), "a served part's input is removed");
});

t.test("a bad request ends the worker with a clear error and writes nothing", async (t) => {
  const nan = Buffer.from(rows(0, 2));
  nan.writeFloatLE(Number.NaN, (784 + 5) * 4);
  await writeFile(join(dir, partFile(7)), nan);
  await writeFile(join(dir, partFile(8)), rows(0, 3));
  const cases: Array<[string, string, RegExp]> = [
    ["not JSON", "hello", /is not JSON/],
    ["a negative part", '{"part":-1,"count":2}', /names part -1/],
    ["a path for a part", '{"part":"../x","count":2}', /names part \.\.\/x/],
    ["zero rows", '{"part":7,"count":0}', /names 0 rows/],
    ["a missing part", '{"part":99,"count":2}', /part-99\.f32 cannot be read/],
    ["a part of another size", '{"part":8,"count":2}', /holds 9408 bytes; 2 rows of 784 float32 are 6272/],
    ["NaN", '{"part":7,"count":2}', /row 1, feature 5 is not a finite number/],
  ];
  for (const [what, line, message] of cases) {
    const { out, end } = await serve([line]);
    t.match(end, { err: { code: "BAD_DATA", message, fix: /\S/ } }, what);
    t.equal(out.length, 1, `${what}: only the ready line`);
  }
  t.notOk(existsSync(join(dir, outFile(7))), "no answer for a refused part");
});
