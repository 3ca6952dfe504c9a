import t from "tap";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Network } from "../../../native/index.js";
import { loadCsv, loadMnist, subset, writeIdx } from "../../../native/data.js";
import { encodeSafetensors } from "../../../native/safetensors.js";
import { feasibilityProblems, parseThreshold, planJob, plausibleThresholdBps } from "./params.js";
import { planCluster } from "./cluster.js";
import { parseWhole } from "../flags.js";

const spec = { input: [784], layers: [{ type: "dense", units: 8, activation: "relu" }, { type: "dense", units: 10 }], loss: "cross-entropy" };
const dir = await mkdtemp(join(tmpdir(), "qm-params-"));
t.teardown(() => rm(dir, { recursive: true, force: true }));
const specFile = join(dir, "spec.json");
await writeFile(specFile, JSON.stringify(spec));
const mnist = await loadMnist("test");
const valDir = join(dir, "val");
await writeIdx(valDir, subset(mnist, [0, 1, 2, 3, 4]), "validation");
const csv = join(dir, "val.csv");
await writeFile(csv, "label,a,b\n1,0,255\n0,3,4\n");
// 5 rounds × 15 DUCK + 5 × 2 updates × 2.5 DUCK flat = 100 DUCK: exactly what the pool holds.
const input = { model: specFile, validation: valDir, reward: "100", roundBudget: "15", flatPerUpdate: "2.5", rounds: "5", minUpdates: "2", threshold: "0.75", seed: "9" };

t.test("a plan from good flags: amounts in wei, threshold in bps, the IDX pair to upload", async (t) => {
  const plan = await planJob(input);
  t.match(plan, { reward: 100n * 10n ** 18n, roundBudget: 15n * 10n ** 18n, maxPerContributor: 15n * 10n ** 18n, flatPerUpdate: 25n * 10n ** 17n, trustNumSamples: false, rounds: 5, minUpdates: 2, thresholdBps: 7500, strategy: "fedavg", seed: 9, deadlineSeconds: 86400 });
  t.equal(plan.validation.samples, 5);
  t.ok("images" in plan.validation.upload && plan.validation.upload.images.length === 16 + 5 * 784);
  t.equal(plan.weights, undefined, "random initial weights from the seed");
  t.same(plan.train, {}, "no training settings asked: each trainer's own");
  const asked = await planJob({ ...input, optimizer: " Adam ", proxMu: "0.01", weightDecay: "1e-4" });
  t.same(asked.train, { optimizer: "adam", weightDecay: 0.0001, proximalMu: 0.01 }, "--optimizer, --weight-decay and --prox-mu become the job's training settings");
  t.same((await planJob({ ...input, nesterov: true, momentum: "0.9" })).train, { nesterov: true });
});

t.test("initial weights are checked against the spec", async (t) => {
  const good = join(dir, "init.safetensors");
  await writeFile(good, encodeSafetensors(Network.create(spec as never, { seed: 1 }).weights()));
  t.ok((await planJob({ ...input, weights: good })).weights);
  const other = join(dir, "other.safetensors");
  await writeFile(other, encodeSafetensors(Network.create({ ...spec, layers: [{ type: "dense", units: 9, activation: "relu" }, { type: "dense", units: 10 }] } as never, { seed: 1 }).weights()));
  await t.rejects(planJob({ ...input, weights: other }), { code: "INVALID_WEIGHTS", message: /0\.weight should have shape \[8, 784\]/ });
  await t.rejects(planJob({ ...input, weights: specFile }), { code: "INVALID_WEIGHTS", message: /not safetensors/ });
});

t.test("each bad flag or file is named", async (t) => {
  await t.rejects(planJob({ ...input, reward: "0" }), { code: "BAD_AMOUNT", message: /--reward/ });
  await t.rejects(planJob({ ...input, roundBudget: "101" }), { code: "BAD_AMOUNT", message: /round budget/ });
  await t.rejects(planJob({ ...input, maxPerContributor: "16" }), { code: "BAD_AMOUNT", message: /--max-per-contributor/ });
  await t.rejects(planJob({ ...input, flatPerUpdate: "21" }), { code: "BAD_AMOUNT", message: /--flat-per-update/ });
  await t.rejects(planJob({ ...input, normMultiple: "0.5" }), { code: "BAD_ARGUMENT", message: /--norm-multiple/ });
  await t.rejects(planJob({ ...input, claimWindow: "99999999" }), { code: "BAD_ARGUMENT", message: /--claim-window/ });
  await t.rejects(planJob({ ...input, rounds: "0" }), { code: "BAD_ARGUMENT", message: /--rounds/ });
  await t.rejects(planJob({ ...input, strategy: "mean" }), { code: "BAD_ARGUMENT", message: /--strategy 'mean'/ });
  await t.rejects(planJob({ ...input, deadlineHours: "-1" }), { code: "BAD_ARGUMENT", message: /--deadline-hours/ });
  await t.rejects(planJob({ ...input, model: join(dir, "missing.json") }), { code: "BAD_SPEC", message: /Cannot read/ });
  await t.rejects(planJob({ ...input, validation: csv }), { code: "BAD_DATA", message: /2 features per sample but the model takes 784/ });
  await t.rejects(planJob({ ...input, optimizer: "rmsprop" }), { code: "BAD_ARGUMENT", message: /--optimizer 'rmsprop'/, fix: /sgd, adam, adamw/ });
  for (const mu of ["NaN", "-0.1", "101", "1e999", "0x1", ""]) await t.rejects(planJob({ ...input, proxMu: mu }), { code: "BAD_ARGUMENT", message: /--prox-mu/, fix: /--prox-mu/ }, `--prox-mu '${mu}'`);
  await t.rejects(planJob({ ...input, weightDecay: "2" }), { code: "BAD_ARGUMENT", message: /--weight-decay '2'/ });
  await t.rejects(planJob({ ...input, optimizer: "adam", nesterov: true }), { code: "BAD_ARGUMENT", message: /--nesterov/, fix: /--optimizer sgd/ });
  await t.rejects(planJob({ ...input, nesterov: true, momentum: "0" }), { code: "BAD_ARGUMENT", message: /--nesterov needs a --momentum above 0/ });
  t.throws(() => parseThreshold("1.5"), { code: "BAD_ARGUMENT", fix: /0\.7/ });
  t.equal(parseThreshold("1"), 10000);
  t.equal(parseThreshold(".7"), 7000);
  t.throws(() => parseWhole("3.5", "--rounds", 1, 10), { message: /--rounds '3\.5'/ });
});

t.test("settings that cannot complete are refused, or with force kept as warnings", async (t) => {
  await t.rejects(planJob({ ...input, roundBudget: "16" }), { code: "BAD_ARGUMENT", message: /5 rounds × 16 DUCK \+ 5 × 2 updates × 2\.5 flat = 105 DUCK/, fix: /--reward to 105.*--force/ });
  await t.rejects(planJob({ ...input, threshold: "0.99" }), { code: "BAD_ARGUMENT", message: /initial model scores/ });
  await t.rejects(planJob({ ...input, deadlineHours: "0.5", roundDeadline: "600" }), { code: "BAD_ARGUMENT", message: /1800 s\) is shorter than 5 rounds/ });
  const forced = await planJob({ ...input, roundBudget: "16", threshold: "0.99", force: true });
  t.equal(forced.warnings.length, 2, "each problem becomes a warning");
  t.ok(forced.initialAccuracy >= 0 && forced.initialAccuracy <= 1);
  t.same((await planJob(input)).warnings, [], "feasible settings: no warning");
});

t.test("the threshold rule: the initial accuracy plus 90 % of its error", async (t) => {
  t.equal(plausibleThresholdBps(0.1), 9100);
  t.equal(plausibleThresholdBps(0), 9000);
  t.equal(plausibleThresholdBps(0.9), 9900);
  const base = { reward: 10n, roundBudget: 2n, flatPerUpdate: 0n, rounds: 5, minUpdates: 1, thresholdBps: 9100, initialAccuracy: 0.1, deadlineSeconds: 3000, roundDeadlineSeconds: 600 };
  t.same(feasibilityProblems(base), [], "at the edges: pool = rounds × budget, threshold = the limit, deadline = rounds × round deadline");
  t.equal(feasibilityProblems({ ...base, reward: 9n, thresholdBps: 9101, deadlineSeconds: 2999 }).length, 3, "one past each edge");
});

t.test("a validation CSV is used as written; --scale divides it and the divided values are uploaded", async (t) => {
  const small = join(dir, "small.json");
  await writeFile(small, JSON.stringify({ input: [2], layers: [{ type: "dense", units: 2 }], loss: "cross-entropy" }));
  const pixels = join(dir, "pixels.csv");
  await writeFile(pixels, "label,a,b\n1,0,255\n0,3,4\n");
  const asWritten = await planJob({ ...input, model: small, validation: pixels, force: true });
  t.match(asWritten.dataWarnings, [/^Validation set: .*pixels\.csv: features are whole numbers up to 255, like raw 0–255 pixels.*--scale 255/]);
  t.same(asWritten.validation.upload, { csv: Buffer.from("label,a,b\n1,0,255\n0,3,4\n") }, "the file as it is");
  const scaled = await planJob({ ...input, model: small, validation: pixels, scale: "255", force: true });
  t.same(scaled.dataWarnings, [], "an explicit scale: no warning");
  const sent = join(dir, "sent.csv");
  await writeFile(sent, (scaled.validation.upload as { csv: Buffer }).csv);
  const back = await loadCsv(sent);
  t.same(Array.from(back.x), [0, 1, 3 / 255, 4 / 255].map(Math.fround), "the upload reads back as the divided float32 values, exactly");
  t.same(Array.from(back.y), [1, 0]);
  await t.rejects(planJob({ ...input, model: small, validation: pixels, scale: "0" }), { code: "BAD_ARGUMENT", message: /--scale '0'/ });
  await t.rejects(planJob({ ...input, scale: "255" }), { code: "BAD_ARGUMENT", message: /IDX pair.*CSV only/ }, "IDX takes no scale");
  // A cluster's training CSV follows the same --scale, so its machines train on what validation measures.
  const cluster = await planCluster({ cluster: "1", hours: "1", train: pixels, scale: "255" }, asWritten.spec);
  await writeFile(sent, (cluster.train.upload as { csv: Buffer }).csv);
  t.same(Array.from((await loadCsv(sent)).x), Array.from(back.x), "the cluster's training data is divided alike");
});
