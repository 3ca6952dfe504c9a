// Regression jobs ("loss":"mse"): the evaluator's MSE and R², the attested basis points, and the
// round scoring (learned-nothing analogue, leave-one-out) on real models of Auto MPG.
import t from "tap";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { csvForModel, loadDataset, writeIdx } from "../../native/data.js";
import { Network } from "../../native/index.js";
import { decodeSafetensors, encodeSafetensors } from "../../native/safetensors.js";
import { flatten, unflatten } from "../../native/tensors.js";
import type { Dataset, Tensor } from "../../native/types.js";
import { DEFAULT_SETTINGS } from "../../protocol/settings.js";
import { AUTO_MPG_SPEC, autoMpgRows, writeRegressionCsv } from "../../cli/testkit/autoMpg.js";
import { jobDataLoader } from "../../cli/lib/contribute/data.js";
import { loadInferenceInput } from "../../cli/lib/infer/input.js";
import { shardCsv } from "../cluster/shards.js";
import { globalModel } from "../rounds/checks.js";
import { scoreRound } from "../rounds/contribution.js";
import { LEARNED_MSE_SHARE, learnedSomething } from "../rounds/learned.js";
import { RuntimeCache } from "../rounds/runtime.js";
import { Semaphore } from "../rounds/semaphore.js";
import { makeStrategy } from "../strategy/index.js";
import type { DraftReply } from "../routes/schemas.js";
import { announceJob, mnistIdxPair, randomWallet, signedInject, testApp } from "../testing/fixtures.js";
import { checkTargetsVary, r2Bps, regressionFit } from "../../protocol/regression.js";
import { regressionEval } from "./regression.js";

t.test("MSE and R² against hand-worked figures; several outputs pool their sums", async (t) => {
  // targets 1, 2, 3, 4 (mean 2.5, SST 5); outputs off by 0.5, 0, -0.5, 1 → SSE 1.5
  const fit = regressionFit(Float32Array.of(1.5, 2, 2.5, 5), Float32Array.of(1, 2, 3, 4), 1);
  t.equal(fit.mse, 1.5 / 4);
  t.equal(fit.r2, 1 - 1.5 / 5);
  // two outputs per sample: column means 2 and 10, SST (1+1) + (4+4) = 10, SSE 1 + 4 = 5
  const two = regressionFit(Float32Array.of(1, 10, 3, 10), Float32Array.of(1, 8, 3, 12), 2);
  t.same(two, { mse: 8 / 4, r2: 1 - 8 / 10 }, "SSE 0 + 4 + 0 + 4 over SST 10");
  t.equal(regressionFit(Float32Array.of(2.5, 2.5, 2.5, 2.5), Float32Array.of(1, 2, 3, 4), 1).r2, 0, "predicting the mean scores R² 0");
  t.throws(() => regressionFit(Float32Array.of(1), Float32Array.of(1, 2), 1), RangeError, "outputs and targets of different sizes");
});

t.test("the attestation's basis points: R² clipped to [0, 10000], rounded down; non-finite outputs are the worst model", async (t) => {
  t.same([r2Bps(-8.6), r2Bps(0), r2Bps(0.61239), r2Bps(0.99999), r2Bps(1), r2Bps(NaN)], [0, 0, 6123, 9999, 10000, 0]);
  const ev = regressionEval(Float32Array.of(Infinity, 0), Float32Array.of(1, 2), 1);
  t.ok(ev.accuracy < -1e300 && ev.loss > 1e300 && Number.isFinite(ev.loss), "an overflowed model compares as the worst, not as NaN");
  t.equal(r2Bps(ev.accuracy), 0);
  t.throws(() => checkTargetsVary(Float32Array.of(3, 3, 3), 1, "The validation set"), { code: "BAD_DATA", message: /do not vary/, fix: /targets differ/ }, "constant targets have no R²");
  t.doesNotThrow(() => checkTargetsVary(Float32Array.of(3, 3, 4), 1, "The validation set"));
});

// Auto MPG: a validation quarter, two contributors' halves of the rest.
const dir = await mkdtemp(join(tmpdir(), "qm-regression-"));
t.teardown(() => rm(dir, { recursive: true, force: true }));
const rows = await autoMpgRows();
const read = async (name: string, pick: number[][]): Promise<Dataset> => loadDataset(await writeRegressionCsv(join(dir, name), pick), csvForModel(AUTO_MPG_SPEC));
const validation = await read("validation.csv", rows.filter((_, i) => i % 4 === 0));
const rest = rows.filter((_, i) => i % 4 !== 0);
const shards = [await read("a.csv", rest.filter((_, i) => i % 2 === 0)), await read("b.csv", rest.filter((_, i) => i % 2 === 1))];
const evaluate = new RuntimeCache({ evalSlots: new Semaphore(1) } as unknown as ConstructorParameters<typeof RuntimeCache>[0]).evaluator(AUTO_MPG_SPEC, validation);
const trained = async (from: Tensor[], data: Dataset, seed: number): Promise<Tensor[]> => {
  const net = Network.fromWeights(AUTO_MPG_SPEC, from);
  await net.train(data, { epochs: 5, batchSize: 16, lr: 0.001, momentum: 0.9, seed });
  return net.weights();
};
const nudged = (model: Tensor[], sigma: number): Tensor[] => model.map((x) => ({ ...x, data: x.data.map((v, i) => v + sigma * Math.sin(i + 1)) }));
const initial = Network.create(AUTO_MPG_SPEC, { seed: 3 }).weights();

t.test("the orchestrator's evaluator scores a regression by SSE/SST and R², with its MSE beside", async (t) => {
  const ev = await evaluate(initial);
  const outputs = await Network.fromWeights(AUTO_MPG_SPEC, initial).predict(validation.x, validation.count);
  const fit = regressionFit(outputs, validation.targets!, 1);
  t.same(ev.regression, fit, "MSE and R² of the model's own outputs");
  t.equal(ev.accuracy, fit.r2, "accuracy is R²");
  t.equal(ev.loss, 1 - fit.r2, "the scored loss is SSE/SST");
  t.equal(ev.samples, validation.count);
  t.same(ev.classAccuracy, [], "no classes");
  t.ok(fit.r2 < 0, `the untrained model predicts worse than the mean mpg: R² ${fit.r2.toFixed(2)}`);
  const after = await evaluate(await trained(initial, shards[0], 1));
  t.ok(after.accuracy > 0.5 && after.regression!.mse < fit.mse / 10, `trained on one half: R² ${after.accuracy.toFixed(3)}, MSE ${after.regression!.mse.toFixed(1)} mpg²`);
});

t.test("learned nothing, regression: the update's own model must lower the input model's MSE by a share of it", async (t) => {
  const base = await evaluate(initial);
  t.ok(learnedSomething(base, await evaluate(await trained(initial, shards[0], 1)), 0.5), "honest training learned something");
  t.notOk(learnedSomething(base, await evaluate(nudged(initial, 1e-6)), 0.5), "a near-copy did not");
  t.notOk(learnedSomething(base, base, 0.5), "the input model itself did not");
  const mse = base.regression!.mse;
  const at = (m: number) => ({ ...base, regression: { mse: m, r2: 0 } });
  t.notOk(learnedSomething(base, at(mse * (1 - LEARNED_MSE_SHARE)), 0.5), "exactly the margin is not enough");
  t.ok(learnedSomething(base, at(mse * (1 - 2 * LEARNED_MSE_SHARE)), 0.5), "past the margin is");
});

t.test("a regression round: both honest halves are kept and paid by leave-one-out, a near-copy is left out unpaid", async (t) => {
  const global = globalModel("0x" + "00".repeat(32), initial);
  const models = [await trained(initial, shards[0], 11), await trained(initial, shards[1], 12), nudged(initial, 1e-5)];
  const results = models.map((m, i) => ({ contributor: `0x${String(i + 1).repeat(40)}`, updateHash: `0x${String(i + 1).repeat(64)}`, numSamples: 147, weights: flatten(m) }));
  const losses = await Promise.all(models.map(async (m) => (await evaluate(m)).loss));
  const strategy = makeStrategy(DEFAULT_SETTINGS, evaluate);
  const scored = await scoreRound(0, results, losses, [], global, strategy, DEFAULT_SETTINGS);
  const [a, b, copy] = scored.updates;
  t.same([a.excluded, b.excluded, copy.excluded], [null, null, "LEARNED_NOTHING"]);
  t.ok(a.score > 0 && b.score > 0, `leave-one-out scores ${a.score.toFixed(4)} and ${b.score.toFixed(4)} (in units of the targets' variance)`);
  t.equal(copy.score, 0, "the near-copy scores nothing");
  t.equal(scored.useful, 2);
  const before = await evaluate(initial);
  const after = await evaluate(unflatten(scored.model, global.layout));
  t.ok(after.accuracy > before.accuracy, `R² of the round's model ${after.accuracy.toFixed(3)} > the input model's ${before.accuracy.toFixed(3)}`);
  t.equal(scored.baseLoss, before.loss);
});

t.test("the API: a regression draft refuses IDX labels and constant targets, takes its CSV, and attests R² in basis points against the threshold", async (t) => {
  const { app } = await testApp(t);
  const requester = randomWallet();
  const created = await signedInject(app, requester, { method: "POST", url: "/api/job", body: { spec: AUTO_MPG_SPEC, settings: { minUpdates: 2 }, seed: 3 } });
  t.equal(created.statusCode, 201, created.body);
  const draft = created.json() as DraftReply;
  const upload = (body: Buffer, contentType: string) => signedInject(app, requester, { method: "PUT", url: draft.uploads.validation, body, contentType });
  const idx = await mnistIdxPair("test", 20);
  const labels = await upload(Buffer.concat([idx.images, idx.labels]), "application/octet-stream");
  t.match([labels.statusCode, labels.json()], [422, { error: "INVALID_DATASET", message: /whose labels are classes; a regression model \(spec\.loss "mse"\)/ }], "class labels for a regression");
  const flat = await upload(Buffer.from("mpg,a,b,c,d,e,f\n" + "20,1,2,3,4,5,6\n".repeat(5)), "text/csv");
  t.match([flat.statusCode, flat.json()], [422, { error: "INVALID_DATASET", message: /targets that do not vary/ }], "constant targets: no R²");
  const narrow = await upload(Buffer.from("20,1,2,3\n21,1,2,4\n"), "text/csv");
  t.match([narrow.statusCode, narrow.json()], [422, { error: "INVALID_DATASET", message: /3 features per sample but the model takes 6 \(spec\.input\)/ }]);
  const ok = await upload(await readFile(join(dir, "validation.csv")), "text/csv");
  t.equal(ok.statusCode, 200, ok.body);
  t.equal((ok.json() as DraftReply).validationSamples, validation.count);

  await announceJob(app, { jobId: 1, requester: requester.address, modelHash: (ok.json() as DraftReply).modelHash!, thresholdBps: 5000 });
  const global = (await app.inject({ method: "GET", url: "/api/job/1/model" })).rawPayload;
  const send = async (model: Tensor[]) => {
    const res = await signedInject(app, randomWallet(), { method: "POST", url: "/api/job/1/update?round=0&numSamples=147", body: encodeSafetensors(model) });
    return { status: res.statusCode, body: res.json() as { accuracyBps: number; error?: string } };
  };
  const good = await trained(decodeSafetensors(global).tensors, shards[0], 1);
  const accepted = await send(good);
  t.equal(accepted.status, 200, JSON.stringify(accepted.body));
  t.equal(accepted.body.accuracyBps, r2Bps((await evaluate(good)).accuracy), `attested accuracyBps ${accepted.body.accuracyBps} = the update's R² in basis points`);
  const weak = await send(nudged(decodeSafetensors(global).tensors, 1e-3));
  t.match([weak.status, weak.body], [422, { error: "BELOW_THRESHOLD", details: { accuracyBps: 0, thresholdBps: 5000 } }], "an untrained model's R² < 0 attests 0 bps, below the 5000 threshold");
});

t.test("every reader of a regression job's CSV takes the targets first: a worker's shard, a contributor's data, infer's input", async (t) => {
  const file = join(dir, "validation.csv");
  const raw = await readFile(file);
  const parts = await Promise.all([0, 1].map(async (k) => {
    const shardDir = await mkdtemp(join(dir, `shard-${k}-`));
    const [shard] = shardCsv(raw, 2, k, 7);
    await writeFile(join(shardDir, shard.name), shard.bytes);
    return (await jobDataLoader(shardDir))(AUTO_MPG_SPEC);
  }));
  t.equal(parts[0].count + parts[1].count, validation.count, "the cluster's shards (header kept) load as the worker reads them");
  const sorted = (xs: Float32Array[]) => xs.flatMap((x) => Array.from(x)).sort((a, b) => a - b);
  t.same(sorted(parts.map((p) => p.targets!)), sorted([validation.targets!]), "every car's mpg is a target of exactly one shard");
  await t.rejects((await jobDataLoader(file))({ ...AUTO_MPG_SPEC, input: [5] }), { code: "BAD_DATA", message: /6 features per sample but the model takes 5 \(spec\.input\)/, fix: /1 target column then 5 features/ });
  await t.rejects(jobDataLoader(join(dir, "missing.csv")), { code: "DATA_NOT_FOUND" }, "a missing path is refused before the job is asked");
  const withTargets = await loadInferenceInput(file, 6, {}, 1);
  t.same([withTargets.count, withTargets.labels, withTargets.targets?.length], [validation.count, undefined, validation.count], "infer: targets then features");
  const featuresOnly = await writeFile(join(dir, "features.csv"), "1,2,3,4,5,6\n").then(() => loadInferenceInput(join(dir, "features.csv"), 6, {}, 1));
  t.same([featuresOnly.count, featuresOnly.targets], [1, undefined], "infer: features only");
  const idx = await mkdtemp(join(dir, "idx-"));
  await writeIdx(idx, { count: 2, features: 6, x: new Float32Array(12), y: Uint8Array.of(1, 2) });
  await t.rejects(loadInferenceInput(idx, 6, {}, 1), { code: "BAD_DATA", message: /labels are classes/ }, "infer: IDX labels are no targets");
});
