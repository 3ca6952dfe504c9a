import t from "tap";
import { resolveSettings } from "./settings.js";
import { jsonDepth } from "../orchestrator/plugins/body.js";
import { splitIdxPair } from "../orchestrator/data/validation.js";
import { gzipSync } from "node:zlib";

t.test("settings: defaults, krum's floor, relations between fields", async (t) => {
  const d = resolveSettings({});
  t.same("settings" in d && d.settings, { rounds: 3, minUpdates: 2, minUpdatesAtDeadline: 1, roundDeadlineSeconds: 600, strategy: { name: "fedavg" }, thresholdBps: 0, normBound: null, normMultiple: 3, trustNumSamples: false, maxUpdateNorm: null, train: {} });
  const k = resolveSettings({ minUpdates: 7, strategy: { name: "krum", f: 2 } });
  t.equal("settings" in k && k.settings.minUpdatesAtDeadline, 7, "krum keeps n > 2f + 2 at deadlines too");
  t.match(resolveSettings({ minUpdates: 6, strategy: { name: "krum", f: 2 } }), { error: /needs at least 7/ });
  t.match(resolveSettings({ minUpdates: 5, strategy: { name: "krum", f: 1, m: 5 } }), { error: /m=5/ });
  t.match(resolveSettings({ minUpdates: 2, minUpdatesAtDeadline: 3 }), { error: /cannot exceed/ });
  t.match(resolveSettings({ strategy: { name: "median", f: 1 } }), { error: /only to the krum/ });
  // The local training a job asks for: Nesterov is SGD's.
  t.match(resolveSettings({ train: { optimizer: "adam", nesterov: true } }), { error: /nesterov/ });
  t.match(resolveSettings({ train: { optimizer: "sgd", nesterov: true, proximalMu: 0.01 } }), { settings: { train: { optimizer: "sgd", nesterov: true, proximalMu: 0.01 } } });
});

t.test("jsonDepth skips strings and stops early", async (t) => {
  t.equal(jsonDepth('{"a":[1,{"b":"[[[["}]}', 10), 3);
  t.equal(jsonDepth('"\\"[["', 10), 0);
  t.equal(jsonDepth("[".repeat(1000), 5), 6);
});

t.test("IDX pair split, plain or gzipped", async (t) => {
  const images = Buffer.alloc(16 + 2 * 4);
  images.writeUInt32BE(0x803, 0);
  images.writeUInt32BE(2, 4);
  images.writeUInt32BE(2, 8);
  images.writeUInt32BE(2, 12);
  const labels = Buffer.from([0, 0, 8, 1, 0, 0, 0, 2, 3, 4]);
  for (const body of [Buffer.concat([images, labels]), Buffer.concat([gzipSync(images), gzipSync(labels)])]) {
    const pair = splitIdxPair(body);
    t.same(pair.images, images);
    t.same(pair.labels, labels);
  }
  t.throws(() => splitIdxPair(images), { code: "INVALID_DATASET" });
  t.throws(() => splitIdxPair(labels), { code: "INVALID_DATASET" });
});
