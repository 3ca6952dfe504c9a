import t from "tap";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Network } from "../../../native/index.js";
import { loadMnist, subset, writeIdx } from "../../../native/data.js";
import { encodeSafetensors } from "../../../native/safetensors.js";
import { parseThreshold, planJob } from "./params.js";
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
const input = { model: specFile, validation: valDir, reward: "100", flatPerUpdate: "2.5", rounds: "5", minUpdates: "2", threshold: "0.75", seed: "9" };

t.test("a plan from good flags: amounts in wei, threshold in bps, the IDX pair to upload", async (t) => {
  const plan = await planJob(input);
  t.match(plan, { reward: 100n * 10n ** 18n, roundBudget: 20n * 10n ** 18n, maxPerContributor: 20n * 10n ** 18n, flatPerUpdate: 25n * 10n ** 17n, trustNumSamples: false, rounds: 5, minUpdates: 2, thresholdBps: 7500, strategy: "fedavg", seed: 9, deadlineSeconds: 86400 });
  t.equal(plan.validation.samples, 5);
  t.ok("images" in plan.validation.upload && plan.validation.upload.images.length === 16 + 5 * 784);
  t.equal(plan.weights, undefined, "random initial weights from the seed");
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
  await t.rejects(planJob({ ...input, maxPerContributor: "21" }), { code: "BAD_AMOUNT", message: /--max-per-contributor/ });
  await t.rejects(planJob({ ...input, flatPerUpdate: "21" }), { code: "BAD_AMOUNT", message: /--flat-per-update/ });
  await t.rejects(planJob({ ...input, normMultiple: "0.5" }), { code: "BAD_ARGUMENT", message: /--norm-multiple/ });
  await t.rejects(planJob({ ...input, claimWindow: "99999999" }), { code: "BAD_ARGUMENT", message: /--claim-window/ });
  await t.rejects(planJob({ ...input, rounds: "0" }), { code: "BAD_ARGUMENT", message: /--rounds/ });
  await t.rejects(planJob({ ...input, strategy: "mean" }), { code: "BAD_ARGUMENT", message: /--strategy 'mean'/ });
  await t.rejects(planJob({ ...input, deadlineHours: "-1" }), { code: "BAD_ARGUMENT", message: /--deadline-hours/ });
  await t.rejects(planJob({ ...input, model: join(dir, "missing.json") }), { code: "BAD_SPEC", message: /Cannot read/ });
  await t.rejects(planJob({ ...input, validation: csv }), { code: "BAD_DATA", message: /2 features per sample but the model takes 784/ });
  t.throws(() => parseThreshold("1.5"), { code: "BAD_ARGUMENT", fix: /0\.7/ });
  t.equal(parseThreshold("1"), 10000);
  t.equal(parseThreshold(".7"), 7000);
  t.throws(() => parseWhole("3.5", "--rounds", 1, 10), { message: /--rounds '3\.5'/ });
});
