import t from "tap";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SqliteRepository } from "./sqlite.js";
import type { ChainEventRecord, UpdateRecord } from "./repository.js";
import { DEFAULT_SETTINGS } from "../../protocol/settings.js";
import { SMALL_SPEC } from "../testing/fixtures.js";

async function repoIn(t: { teardown(fn: () => unknown): void }): Promise<{ repo: SqliteRepository; file: string }> {
  const dir = await mkdtemp(join(tmpdir(), "quackmesh-sqlite-"));
  const file = join(dir, "o.sqlite");
  const repo = new SqliteRepository(file);
  t.teardown(async () => {
    await repo.close();
    await rm(dir, { recursive: true, force: true });
  });
  return { repo, file };
}

const H = (n: number) => "0x" + n.toString(16).padStart(64, "0");
const ev = (n: number, name = "TrainingJobCreated"): ChainEventRecord => ({
  txHash: H(n), logIndex: 0, blockNumber: n, source: "TrainingPool", name, args: { jobId: String(n) },
});

t.test("replay ids: one use each, forgotten after they expire", async (t) => {
  const { repo } = await repoIn(t);
  t.equal(await repo.useRequestId("r1", 100, 0), true);
  t.equal(await repo.useRequestId("r1", 100, 50), false);
  t.equal(await repo.useRequestId("r1", 300, 101), true, "expired entries are pruned");
});

t.test("chain events: stored once, cursor only moves forward, survives reopening", async (t) => {
  const { repo, file } = await repoIn(t);
  t.equal(await repo.getChainCursor("TrainingPool"), null);
  t.same((await repo.recordChainEvents("TrainingPool", 10, [ev(1), ev(2)])).map((e) => e.blockNumber), [1, 2]);
  t.same(await repo.recordChainEvents("TrainingPool", 12, [ev(2), ev(3)]), [ev(3)], "already seen events are not returned");
  await repo.recordChainEvents("TrainingPool", 5, []);
  t.equal(await repo.getChainCursor("TrainingPool"), 12);
  await repo.markChainEventHandled(H(2), 0, "done");
  t.same((await repo.unhandledChainEvents("TrainingJobCreated")).map((e) => e.blockNumber), [1, 3]);
  await repo.close();
  const again = new SqliteRepository(file);
  t.equal(await again.getChainCursor("TrainingPool"), 12);
  t.same(await again.recordChainEvents("TrainingPool", 12, [ev(1)]), []);
  await again.close();
});

t.test("updates: accepted until the round is full, one per contributor, complete is idempotent", async (t) => {
  const { repo } = await repoIn(t);
  await repo.insertDraft({
    id: "d1", uploader: "0xA", spec: SMALL_SPEC, settings: DEFAULT_SETTINGS, createdAt: 1, modelHash: H(9),
    validationHash: H(8), validationFormat: "idx", validationSamples: 10, jobId: null,
  });
  t.equal((await repo.findReadyDrafts(H(9), "0xA")).length, 1);
  const job = { jobId: 1, draftId: "d1", requester: "0xA", evaluator: "0xE", initialModelHash: H(9), spec: SMALL_SPEC, settings: { ...DEFAULT_SETTINGS, rounds: 2 },
    validationHash: H(8), createdAt: 1, chain: { txHash: H(1), blockNumber: 1, totalRewardPool: "1", roundBudget: "1", maxPerContributor: "1", flatPerUpdate: "0", deadline: 1, claimWindow: 0 } };
  await repo.recordChainEvents("TrainingPool", 1, [ev(1)]);
  const activated = await repo.activateJob({ event: ev(1), draftId: "d1", job, round0: { openedAt: 1, deadlineAt: 2 } });
  t.equal(activated!.currentRound, 0);
  t.equal(await repo.activateJob({ event: ev(1), draftId: "d1", job: { ...job, jobId: 2 }, round0: { openedAt: 1, deadlineAt: 2 } }), null, "a bound draft cannot make a second job");
  t.same(await repo.unhandledChainEvents("TrainingJobCreated"), []);

  const u = (c: string, hash: number): UpdateRecord => ({ jobId: 1, round: 0, contributor: c, updateHash: H(hash), numSamples: 5, accuracyBps: 100, loss: 1, status: "accepted", reason: null, signature: "0x", receivedAt: 1 });
  t.same(await repo.acceptUpdate(u("0x1", 30), 2), { ok: true, closing: false, acceptedCount: 1 });
  t.match(await repo.acceptUpdate(u("0x1", 31), 2), { ok: false, reason: "DUPLICATE_UPDATE", existing: { updateHash: H(30) } });
  t.same(await repo.acceptUpdate(u("0x2", 20), 2), { ok: true, closing: true, acceptedCount: 2 });
  t.equal((await repo.getRound(1, 0))!.status, "closing");
  t.same(await repo.acceptUpdate(u("0x3", 10), 2), { ok: false, reason: "ROUND_CLOSED" });
  t.same((await repo.listUpdates(1, 0, "accepted")).map((x) => x.updateHash), [H(20), H(30)], "sorted by hash");

  const complete = { jobId: 1, round: 0, closedAt: 5, modelHash: H(40), accuracy: 0.5, loss: 1, contributors: ["0x2", "0x1"], updateHashes: [H(20), H(30)], next: { openedAt: 5, deadlineAt: 6 } };
  await repo.completeRound(complete);
  await repo.completeRound({ ...complete, modelHash: H(41) });
  t.equal((await repo.getRound(1, 0))!.modelHash, H(40), "a second complete changes nothing");
  t.equal((await repo.getJob(1))!.currentRound, 1);
  t.equal((await repo.listRounds(1)).length, 2);
  await repo.completeRound({ ...complete, round: 1, modelHash: H(42), next: null });
  const done = (await repo.getJob(1))!;
  t.equal(done.status, "finished");
  t.equal(done.modelHash, H(42));
  t.same(await repo.countUpdates(1), { accepted: 2, rejected: 0 });
});
