import t from "tap";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { labelHistogram, loadDataset, loadMnist, makeRng, subset } from "../../../native/data.js";
import { planSplit, sampleDirichlet, sampleGamma, splitMnist } from "./splitMnist.js";

const tmp = () => mkdtempSync(join(tmpdir(), "qm-split-"));

function disjoint(parts: Uint32Array[]): boolean {
  const seen = new Set<number>();
  for (const p of parts) for (const i of p) {
    if (seen.has(i)) return false;
    seen.add(i);
  }
  return true;
}

function skew(parts: Uint32Array[], y: Uint8Array): number {
  const global = labelHistogram(y).map((c) => c / y.length);
  let sum = 0;
  for (const p of parts) {
    const h = labelHistogram(Uint8Array.from(p, (i) => y[i]));
    sum += 0.5 * h.reduce((s, c, k) => s + Math.abs(c / p.length - global[k]), 0);
  }
  return sum / parts.length;
}

t.test("Gamma draws have the right mean and variance; Dirichlet draws sum to 1", async (t) => {
  for (const shape of [0.3, 1, 2.5, 9]) {
    const rng = makeRng(11);
    const n = 40000;
    let s = 0, s2 = 0;
    for (let i = 0; i < n; i++) {
      const g = sampleGamma(shape, rng);
      s += g;
      s2 += g * g;
    }
    const mean = s / n;
    const variance = s2 / n - mean * mean;
    t.ok(Math.abs(mean - shape) < 0.04 * shape + 0.01, `Gamma(${shape}) mean ${mean.toFixed(3)}`);
    t.ok(Math.abs(variance - shape) < 0.1 * shape + 0.02, `Gamma(${shape}) variance ${variance.toFixed(3)}`);
  }
  const rng = makeRng(3);
  for (const alpha of [0.01, 0.5, 100]) {
    const p = sampleDirichlet(alpha, 10, rng);
    t.ok(Math.abs(p.reduce((a, b) => a + b) - 1) < 1e-12 && p.every((x) => x >= 0 && Number.isFinite(x)), `Dirichlet(${alpha}) is a distribution`);
  }
  // tiny alpha concentrates the mass on one class, large alpha spreads it evenly
  t.ok(Math.max(...sampleDirichlet(0.01, 10, rng)) > 0.9);
  t.ok(Math.max(...sampleDirichlet(1000, 10, rng)) < 0.2);
  t.throws(() => sampleGamma(0, rng), { code: "BAD_ARGUMENT" });
  t.throws(() => sampleDirichlet(-1, 3, rng), { code: "BAD_ARGUMENT" });
});

t.test("plans are disjoint, add up, and repeat with the seed", async (t) => {
  const { y } = await loadMnist("train");
  const iid = planSplit(y, { clients: 4, seed: 1 });
  t.equal(iid.validation.length, 2000);
  t.same(iid.clients.map((c) => c.length), [14500, 14500, 14500, 14500]);
  t.ok(disjoint([iid.validation, ...iid.clients]), "IID: no sample twice");
  const dir = planSplit(y, { clients: 4, alpha: 0.5, seed: 1 });
  t.ok(disjoint([dir.validation, ...dir.clients]), "Dirichlet: no sample twice");
  t.equal(dir.validation.length + dir.clients.reduce((a, c) => a + c.length, 0), 60000, "Dirichlet uses every sample");
  const again = planSplit(y, { clients: 4, alpha: 0.5, seed: 1 });
  t.ok(again.clients.every((c, i) => c.length === dir.clients[i].length && c.every((v, j) => v === dir.clients[i][j])), "same seed, same split");
  const other = planSplit(y, { clients: 4, alpha: 0.5, seed: 2 });
  t.not(other.clients[0].join(), dir.clients[0].join(), "another seed, another split");
  const capped = planSplit(y, { clients: 3, alpha: 0.5, seed: 1, perClient: 1000, validation: 500 });
  t.ok(capped.clients.every((c) => c.length <= 1000 && c.length >= 10));
  t.ok(disjoint([capped.validation, ...capped.clients]));
});

t.test("small alpha skews label mixes far more than IID", async (t) => {
  const { y } = await loadMnist("train");
  const iid = skew(planSplit(y, { clients: 5, seed: 4 }).clients, y);
  const mild = skew(planSplit(y, { clients: 5, alpha: 10, seed: 4 }).clients, y);
  const strong = skew(planSplit(y, { clients: 5, alpha: 0.1, seed: 4 }).clients, y);
  t.ok(iid < 0.03, `IID skew ${iid.toFixed(4)} is near 0`);
  t.ok(strong > 0.4, `α = 0.1 skew ${strong.toFixed(4)}`);
  t.ok(iid < mild && mild < strong, `skew grows as α shrinks: ${iid.toFixed(3)} < ${mild.toFixed(3)} < ${strong.toFixed(3)}`);
});

t.test("bad options are refused before anything is written", async (t) => {
  const y = (await loadMnist("train")).y;
  t.throws(() => planSplit(y, { clients: 0 }), { code: "BAD_ARGUMENT", message: /--clients/ });
  t.throws(() => planSplit(y, { clients: 2, iid: true, alpha: 1 }), { code: "BAD_ARGUMENT", message: /both/ });
  t.throws(() => planSplit(y, { clients: 2, alpha: 0 }), { code: "BAD_ARGUMENT", message: /--alpha/ });
  t.throws(() => planSplit(y, { clients: 2, perClient: 40000 }), { code: "BAD_ARGUMENT", message: /need 80000/ });
  t.throws(() => planSplit(y, { clients: 2, validation: 60000 }), { code: "BAD_ARGUMENT", message: /leaves 0 samples/ });
  t.throws(() => planSplit(y, { clients: 2, seed: 0.5 }), { code: "BAD_ARGUMENT", message: /--seed/ });
  await t.rejects(splitMnist({ out: "", clients: 2 }), { code: "BAD_ARGUMENT", message: /output folder/ });
});

t.test("splitMnist writes folders that loadDataset reads back, matching the summary", async (t) => {
  const out = tmp();
  const s = await splitMnist({ out, clients: 3, alpha: 0.3, seed: 7, validation: 300, perClient: 400 });
  t.equal(s.mode, "dirichlet");
  t.equal(s.clients.length, 3);
  t.equal(s.validation.count, 300);
  t.equal(s.test.count, 10000);
  t.equal(s.unused + s.validation.count + s.clients.reduce((a, c) => a + c.count, 0), 60000);
  t.ok(s.skew > 0.2, `skew ${s.skew}`);
  const train = await loadMnist("train");
  const plan = planSplit(train.y, { clients: 3, alpha: 0.3, seed: 7, validation: 300, perClient: 400 });
  for (const [i, c] of s.clients.entries()) {
    const ds = await loadDataset(c.dir);
    t.equal(ds.count, c.count);
    t.same(labelHistogram(ds.y), c.labels, `${c.name} histogram matches`);
    const expected = subset(train, plan.clients[i]);
    t.ok(ds.x.every((v, j) => v === expected.x[j]), `${c.name} holds exactly the planned samples`);
  }
  const v = await loadDataset(s.validation.dir);
  t.same(labelHistogram(v.y), s.validation.labels);
  const test = await loadDataset(s.test.dir);
  const mnistTest = await loadMnist("test");
  t.ok(test.y.every((l, j) => l === mnistTest.y[j]) && test.x.every((p, j) => p === mnistTest.x[j]), "test/ is the MNIST test set");
  const again = await splitMnist({ out: tmp(), clients: 3, alpha: 0.3, seed: 7, validation: 300, perClient: 400 });
  t.ok(readFileSync(join(again.clients[1].dir, "train-images-idx3-ubyte")).equals(readFileSync(join(s.clients[1].dir, "train-images-idx3-ubyte"))),
    "same seed, byte-identical files");
});

t.test("the command line prints the JSON summary and refuses bad flags", async (t) => {
  const out = tmp();
  const node = [process.execPath, "--import=@tapjs/typescript/import", join(import.meta.dirname, "..", "..", "..", "scripts", "split-mnist.ts")];
  const ok = spawnSync(node[0], [...node.slice(1), "--out", out, "--clients", "2", "--iid", "--validation", "100", "--per-client", "50"], { encoding: "utf8" });
  t.equal(ok.status, 0, ok.stderr);
  const summary = JSON.parse(ok.stdout);
  t.same(summary.clients.map((c: { count: number }) => c.count), [50, 50]);
  t.equal(summary.mode, "iid");
  const bad = spawnSync(node[0], [...node.slice(1), "--out", out, "--clients", "two"], { encoding: "utf8" });
  t.equal(bad.status, 2);
  t.match(JSON.parse(bad.stderr), { error: "BAD_ARGUMENT", message: /--clients "two"/ });
});
