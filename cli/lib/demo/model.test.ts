/**
 * `demo --model cnn`: the spec the demo builds is one the job planner takes (validation set
 * included), has PyTorch nn.Sequential names, and learns on MNIST; the default stays the MLP.
 */
import t from "tap";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Network, parameterShapes, validateSpec } from "../../../native/index.js";
import { loadMnist, subset, writeIdx } from "../../../native/data.js";
import { planJob } from "../job/params.js";
import { demoSpec, describeDemoModel, parseDemoModel } from "./model.js";
import { DEFAULT_DEMO } from "./types.js";

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

t.test("the default demo is the MLP; --model takes mlp or cnn, anything else is refused with a fix", async (t) => {
  t.equal(DEFAULT_DEMO.model, "mlp");
  t.same(demoSpec("mlp", { hidden: 128, normalize: true }).input, [784]);
  t.equal(parseDemoModel("CNN "), "cnn");
  t.throws(() => parseDemoModel("rnn"), { code: "BAD_ARGUMENT", message: /rnn/, fix: /--model cnn/ });
  t.match(describeDemoModel("mlp", 64), "MLP 784-64-10");
});

t.test("the CNN spec validates, names its tensors as nn.Sequential does, and the job planner takes it", async (t) => {
  const spec = demoSpec("cnn", { hidden: 128, normalize: true });
  t.same(validateSpec(spec), spec, "valid as written");
  t.same(
    parameterShapes(spec).map((p) => [p.name, p.shape]),
    [["0.weight", [8, 1, 5, 5]], ["0.bias", [8]], ["2.weight", [16, 8, 3, 3]], ["2.bias", [16]], ["5.weight", [10, 784]], ["5.bias", [10]]],
  );
  t.notOk("normalize" in demoSpec("cnn", { hidden: 128, normalize: false }), "--no-normalize leaves raw pixels");

  const dir = mkdtempSync(join(tmpdir(), "qm-demo-cnn-"));
  const test = await loadMnist("test");
  await writeIdx(join(dir, "validation"), subset(test, range(200)), "validation");
  writeFileSync(join(dir, "cnn.json"), JSON.stringify(spec));
  const plan = await planJob({ model: join(dir, "cnn.json"), validation: join(dir, "validation"), reward: "100", rounds: "3", minUpdates: "2", threshold: "0.7" });
  t.same(plan.spec, spec);
  t.equal(plan.validation.samples, 200);

  // One epoch on 3,000 MNIST images, the demo's settings: far above the 10 % of guessing.
  const net = Network.create(spec, { seed: 1 });
  const d = DEFAULT_DEMO;
  await net.train(subset(await loadMnist("train"), range(3000)), { epochs: 1, batchSize: d.batch, lr: d.lr, momentum: d.momentum, seed: 1 });
  const ev = await net.evaluate(subset(test, range(2000)));
  t.ok(ev.accuracy > 0.8, `test accuracy ${ev.accuracy} after one epoch on 3,000 images`);
});
