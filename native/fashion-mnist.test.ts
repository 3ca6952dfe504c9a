/**
 * Fashion-MNIST from Debian's dataset-fashion-mnist, read by the same IDX loader as MNIST: by name
 * (loadImageSet, loadDataset("fashion-mnist")) and through the splitter's folders.
 */
import t from "tap";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FASHION_MNIST_DIR, labelHistogram, loadDataset, loadImageSet, loadMnist, parseImageSetName, subset } from "./data.js";
import { Network } from "./index.js";
import { splitMnist } from "../cli/lib/data/splitMnist.js";

t.test("named sets parse; anything else is a path", async (t) => {
  t.same(parseImageSetName("fashion-mnist"), { name: "fashion-mnist", split: "train" });
  t.same(parseImageSetName("fashion-mnist:test"), { name: "fashion-mnist", split: "test" });
  t.same(parseImageSetName("mnist:train"), { name: "mnist", split: "train" });
  t.equal(parseImageSetName("fashion-mnist:valid"), null);
  t.equal(parseImageSetName("./fashion-mnist"), null);
  await t.rejects(loadDataset("fashion-mnist:valid"), { code: "DATA_NOT_FOUND" }, "an unknown split is a missing path");
  await t.rejects(loadImageSet("cifar" as "mnist", "train"), { code: "BAD_ARGUMENT", message: /cifar/ });
  await t.rejects(loadDataset("mnist:test", { scale: 255 }), { code: "BAD_ARGUMENT", message: /CSV only/ });
});

const installed = existsSync(FASHION_MNIST_DIR);
t.test("Fashion-MNIST loads, splits, and a tiny training beats chance", { skip: installed ? false : `${FASHION_MNIST_DIR} is missing: apt-get install dataset-fashion-mnist` }, async (t) => {
  const [train, test] = await Promise.all([loadImageSet("fashion-mnist", "train"), loadImageSet("fashion-mnist", "test")]);
  t.same([train.count, train.features, train.x.length, train.y.length], [60000, 784, 60000 * 784, 60000]);
  t.same([test.count, test.features], [10000, 784]);
  let min = Infinity, max = -Infinity;
  for (let i = 0; i < test.x.length; i++) { const v = test.x[i]; if (v < min) min = v; if (v > max) max = v; }
  t.same([min, max], [0, 1], "pixels scaled to [0, 1]");
  t.same(labelHistogram(train.y), new Array(10).fill(6000), "10 classes 0-9, 6,000 train images each");
  t.same(labelHistogram(test.y), new Array(10).fill(1000), "1,000 test images each");
  const mnist = await loadMnist("test");
  t.not(test.y.subarray(0, 50).join(), mnist.y.subarray(0, 50).join(), "not MNIST under another name");

  const named = await loadDataset("fashion-mnist:test");
  t.ok(named !== test && named.count === 10000 && named.y.every((v, i) => v === test.y[i]), "loadDataset by name: the same set, a copy of its own");

  const out = mkdtempSync(join(tmpdir(), "qm-fashion-"));
  const s = await splitMnist({ out, dataset: "fashion-mnist", clients: 2, alpha: 0.5, validation: 500, perClient: 1000, seed: 3 });
  t.equal(s.dataset, "fashion-mnist");
  const shard = await loadDataset(s.clients[0].dir);
  t.same(labelHistogram(shard.y), s.clients[0].labels, "a contributor's folder reads back as its summary says");
  t.equal((await loadDataset(s.test.dir)).y.join(), test.y.join(), "the test folder is Fashion-MNIST's test split");

  // 2,000 training images, one epoch of a small MLP: well above the 10 % of guessing.
  const net = Network.create({ input: [784], layers: [{ type: "dense", units: 32, activation: "relu" }, { type: "dense", units: 10 }], loss: "cross-entropy" }, { seed: 1 });
  const before = await net.evaluate(subset(test, Array.from({ length: 2000 }, (_, i) => i)));
  await net.train(subset(train, Array.from({ length: 2000 }, (_, i) => i)), { epochs: 1, batchSize: 32, lr: 0.1, momentum: 0.9, seed: 1 });
  const after = await net.evaluate(subset(test, Array.from({ length: 2000 }, (_, i) => i)));
  t.ok(after.accuracy > 0.5 && after.accuracy > before.accuracy + 0.3, `test accuracy ${before.accuracy} → ${after.accuracy} (chance 0.1)`);
});
