import t from "tap";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { InferenceRecord } from "./repository.js";
import { SqliteRepository } from "./sqlite.js";

const record = (over: Partial<InferenceRecord> = {}): InferenceRecord => ({
  inferenceJobId: 7,
  modelJobId: 1,
  requester: "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
  modelHash: "0x" + "1".repeat(64),
  inputSha256: "a".repeat(64),
  count: 2,
  classes: 3,
  probabilities: Float32Array.from([0.1, 0.7, 0.2, 1 / 3, 1 / 3, 1 / 3]),
  computeMs: 12,
  maxPayment: "5000000000000000000",
  fee: "1000000000000000",
  payout: "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
  signature: "0x" + "ab".repeat(65),
  createdAt: 1_700_000_000_000,
  ...over,
});

t.test("an inference result is stored once, exactly, and survives a reopen", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "qm-inference-store-"));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, "db.sqlite");
  let repo = new SqliteRepository(file);
  t.equal(await repo.getInference(7), null);
  const first = record();
  t.same(await repo.saveInference(first), first, "the first save is what is stored");
  const second = record({ fee: "2", inputSha256: "b".repeat(64), probabilities: Float32Array.from([1, 0, 0, 0, 1, 0]) });
  t.same(await repo.saveInference(second), first, "a second save for the job answers the first");
  await repo.close();
  repo = new SqliteRepository(file);
  t.teardown(() => repo.close());
  const read = (await repo.getInference(7))!;
  t.same(read, first);
  t.ok(read.probabilities.every((v, i) => v === first.probabilities[i]), "float32 values bit for bit");
  t.equal(await repo.getInference(8), null);
});
