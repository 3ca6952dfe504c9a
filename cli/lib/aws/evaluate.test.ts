import t from "tap";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MNIST_NORMALIZE, Network } from "../../../native/index.js";
import { loadDataset, loadMnist } from "../../../native/data.js";
import { encodeSafetensors } from "../../../native/safetensors.js";
import type { ModelSpec } from "../../../native/types.js";
import { currentHost, evaluateJobModel, reportPath, writeReport } from "./evaluate.js";

const spec: ModelSpec = { input: [784], layers: [{ type: "dense", units: 32, activation: "relu" }, { type: "dense", units: 10 }], loss: "cross-entropy" };
const data = await loadMnist("test", { limit: 2000 });
const train = await loadMnist("train", { limit: 3000 });

// A real model: trained a little on MNIST, with the job's input standardization.
const withNorm: ModelSpec = { ...spec, normalize: { ...MNIST_NORMALIZE } };
const net = Network.create(withNorm, { seed: 7, device: "cpu" });
await net.train(train, { epochs: 1, batchSize: 64, lr: 0.1, seed: 1 });
const bytes = encodeSafetensors(net.weights());

function client(jobSpec?: ModelSpec) {
  return {
    getModel: async () => ({ notModified: false as const, bytes, round: 3, modelHash: "0x" + "ab".repeat(32), status: "finished" as const }),
    getJob: async () => ({ ...(jobSpec ? { spec: jobSpec } : {}) }) as never,
  };
}

t.test("evaluates the orchestrator's model with the job's spec on the test set", async (t) => {
  const r = await evaluateJobModel(client(withNorm), 1, data, { device: "cpu", host: "algo-2", now: () => new Date(0) });
  const direct = await Network.fromWeights(withNorm, net.weights(), { device: "cpu" }).evaluate(data);
  t.match(r, { jobId: 1, round: 3, status: "finished", samples: 2000, device: "cpu", host: "algo-2", evaluatedAt: "1970-01-01T00:00:00.000Z" });
  t.equal(r.accuracy, direct.accuracy);
  t.equal(r.loss, direct.loss);
  t.ok(r.accuracy > 0.5, `a trained model scores above chance (${r.accuracy})`);
});

t.test("without a published spec, the spec comes from the tensors (no standardization)", async (t) => {
  const r = await evaluateJobModel(client(), 1, data, { device: "cpu" });
  const plain = await Network.fromWeights(spec, net.weights(), { device: "cpu" }).evaluate(data);
  t.equal(r.loss, plain.loss);
  const normed = await evaluateJobModel(client(withNorm), 1, data, { device: "cpu" });
  t.not(r.loss, normed.loss, "the job's standardization changes the result");
});

t.test("report file: a .json path as given, a folder gets evaluation-<host>.json", async (t) => {
  t.equal(reportPath("/x/r.json", "algo-1"), "/x/r.json");
  t.equal(reportPath("/opt/ml/processing/output", "algo-3"), "/opt/ml/processing/output/evaluation-algo-3.json");
  t.equal(reportPath("out", undefined), join("out", "evaluation-local.json"));
  const dir = mkdtempSync(join(tmpdir(), "qm-eval-"));
  const cfg = join(dir, "resourceconfig.json");
  writeFileSync(cfg, JSON.stringify({ current_host: "algo-4", hosts: ["algo-1", "algo-4"] }));
  t.equal(currentHost(cfg), "algo-4");
  t.equal(currentHost(join(dir, "missing.json")), undefined);
  const r = await evaluateJobModel(client(withNorm), 5, data, { device: "cpu" });
  const file = join(dir, "nested", "report.json");
  await writeReport(file, r);
  t.same(JSON.parse(readFileSync(file, "utf8")), r);
});

t.test("several instances: each evaluates its CSV shards, and together they give the whole set's result", async (t) => {
  // What ShardedByS3Key does: whole files of the prefix go to each instance, never part of one.
  const shards = 4;
  const instances = [mkdtempSync(join(tmpdir(), "qm-shard-a-")), mkdtempSync(join(tmpdir(), "qm-shard-b-"))];
  const per = Math.ceil(data.count / shards);
  for (let s = 0; s < shards; s++) {
    const rows: string[] = [];
    for (let i = s * per; i < Math.min(data.count, (s + 1) * per); i++) {
      rows.push([data.y[i], ...data.x.subarray(i * data.features, (i + 1) * data.features)].join(","));
    }
    writeFileSync(join(instances[s % 2], `part-${String(s).padStart(3, "0")}.csv`), rows.join("\n") + "\n");
  }
  const whole = await evaluateJobModel(client(withNorm), 1, data, { device: "cpu" });
  const reports = [];
  for (const dir of instances) reports.push(await evaluateJobModel(client(withNorm), 1, await loadDataset(dir), { device: "cpu" }));
  t.equal(reports[0].samples + reports[1].samples, data.count, "every sample is evaluated exactly once");
  const correct = reports.reduce((n, r) => n + r.accuracy * r.samples, 0);
  t.equal(Math.round(correct), Math.round(whole.accuracy * whole.samples), "the hosts' correct answers add up to the whole set's");
});

t.test("CSV shards with different columns are refused, naming the odd file", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "qm-shard-bad-"));
  writeFileSync(join(dir, "part-0.csv"), "1,0.5,0.25\n0,0,1\n");
  writeFileSync(join(dir, "part-1.csv"), "1,0.5\n");
  await t.rejects(loadDataset(dir), { code: "BAD_DATA", message: /part-1\.csv: has 1 features but part-0\.csv has 2/ });
});
