import t from "tap";
import { loadMnist, subset, writeIdx } from "../../native/data.js";
import { loadDataset } from "../../native/data.js";
import { mkdtemp, readFile, rm, writeFile, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { shardCsv, shardIdx, shardIndices } from "./shards.js";

const dir = await mkdtemp(join(tmpdir(), "qm-shards-"));
t.teardown(() => rm(dir, { recursive: true, force: true }));

t.test("shards partition the samples: disjoint, complete, the same for the same seed", async (t) => {
  const parts = [0, 1, 2].map((i) => shardIndices(1000, 3, i, 5));
  t.same(parts.map((p) => p.length), [333, 333, 334]);
  const all = parts.flatMap((p) => [...p]).sort((a, b) => a - b);
  t.same(all, Array.from({ length: 1000 }, (_, i) => i), "every sample exactly once");
  t.same(shardIndices(1000, 3, 1, 5), parts[1], "deterministic");
  t.not(shardIndices(1000, 3, 1, 6).join(), parts[1].join(), "another seed deals differently");
  t.throws(() => shardIndices(10, 3, 3, 1), RangeError);
});

t.test("an IDX pair splits into IDX pairs holding the very same samples", async (t) => {
  const train = await loadMnist("train");
  const ds = subset(train, Array.from({ length: 90 }, (_, i) => i));
  const files = await writeIdx(join(dir, "all"), ds);
  const raw = Buffer.concat([await readFile(files.images), await readFile(files.labels)]);
  let total = 0;
  for (let i = 0; i < 3; i++) {
    const out = join(dir, `idx-${i}`);
    await mkdir(out);
    for (const f of shardIdx(raw, 3, i, 9)) await writeFile(join(out, f.name), f.bytes);
    const shard = await loadDataset(out);
    const picked = shardIndices(90, 3, i, 9);
    t.equal(shard.count, picked.length);
    t.same([...shard.y], [...picked].map((s) => ds.y[s]), `shard ${i}: labels of the picked samples`);
    t.same(shard.x.subarray(0, 784), ds.x.subarray(picked[0] * 784, picked[0] * 784 + 784), `shard ${i}: first image`);
    total += shard.count;
  }
  t.equal(total, 90);
});

t.test("a CSV splits into data.csv files keeping the header", async (t) => {
  const csv = "label,a,b\n" + Array.from({ length: 10 }, (_, i) => `${i % 3},${i},${i * 2}`).join("\r\n") + "\n";
  const shards = [0, 1].map((i) => shardCsv(Buffer.from(csv), 2, i, 1)[0]);
  t.same(shards.map((s) => s.name), ["data.csv", "data.csv"]);
  const rows = shards.map((s) => s.bytes.toString().trim().split("\n"));
  t.same(rows.map((r) => r[0]), ["label,a,b", "label,a,b"]);
  t.same(rows.flatMap((r) => r.slice(1)).sort(), csv.trim().split("\n").slice(1).map((l) => l.replace("\r", "")).sort());
});
