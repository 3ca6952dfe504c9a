/**
 * The store's behaviour, one suite for every back-end: sqlite.test.ts runs it on SQLite,
 * postgres.test.ts on a real PostgreSQL server. A back-end gives fresh, empty databases; each
 * can be opened again (a restart) to see what survived.
 */
import type { Test } from "tap";
import type { ChainEventRecord, InferenceRecord, Repository, UpdateRecord } from "./repository.js";
import { DEFAULT_SETTINGS } from "../../protocol/settings.js";
import { SMALL_SPEC } from "../testing/fixtures.js";

export interface StoreBackend {
  name: string;
  /** A new empty database; `open()` connects to it (again), the caller closes what it opened. */
  fresh(): Promise<{ open(): Promise<Repository> }>;
}

const H = (n: number) => "0x" + n.toString(16).padStart(64, "0");
const ev = (n: number, name = "TrainingJobCreated"): ChainEventRecord => ({
  txHash: H(n), logIndex: 0, blockNumber: n, source: "TrainingPool", name, args: { jobId: String(n) },
});

const chainInfo = { txHash: H(1), blockNumber: 1, totalRewardPool: "1", roundBudget: "1", maxPerContributor: "1", flatPerUpdate: "0", deadline: 1, claimWindow: 0 };

/** A draft with weights and validation, and its job activated at round 0 (2 rounds). */
async function activeJob(repo: Repository): Promise<void> {
  await repo.insertDraft({
    id: "d1", uploader: "0xA", spec: SMALL_SPEC, settings: DEFAULT_SETTINGS, createdAt: 1, modelHash: H(9),
    validationHash: H(8), validationFormat: "idx", validationSamples: 10, jobId: null,
  });
  await repo.recordChainEvents("TrainingPool", 1, [ev(1)]);
  const job = { jobId: 1, draftId: "d1", requester: "0xA", evaluator: "0xE", initialModelHash: H(9), spec: SMALL_SPEC,
    settings: { ...DEFAULT_SETTINGS, rounds: 2 }, validationHash: H(8), createdAt: 1_700_000_000_000, chain: chainInfo };
  await repo.activateJob({ event: ev(1), draftId: "d1", job, round0: { openedAt: 1_700_000_000_000, deadlineAt: 1_700_000_060_000 } });
}

const update = (c: string, hash: number, over: Partial<UpdateRecord> = {}): UpdateRecord => ({
  jobId: 1, round: 0, contributor: c, updateHash: H(hash), numSamples: 5, accuracyBps: 100, loss: 1.25, status: "accepted",
  reason: null, signature: "0x", receivedAt: 1_700_000_000_123, ...over,
});

const inference = (over: Partial<InferenceRecord> = {}): InferenceRecord => ({
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

export function storeSuite(t: Test, backend: StoreBackend): void {
  /** A fresh database opened once, closed at the end of the test. */
  const fresh = async (t: Test) => {
    const db = await backend.fresh();
    const opened: Repository[] = [];
    const open = async () => {
      const r = await db.open();
      opened.push(r);
      return r;
    };
    t.teardown(() => Promise.all(opened.map((r) => r.close())));
    return { repo: await open(), open };
  };

  t.test(`${backend.name}: meta values are set, replaced and read`, async (t) => {
    const { repo } = await fresh(t);
    t.equal(await repo.getMeta("k"), null);
    await repo.setMeta("k", "1");
    await repo.setMeta("k", "2");
    t.equal(await repo.getMeta("k"), "2");
  });

  t.test(`${backend.name}: replay ids: one use each, forgotten after they expire`, async (t) => {
    const { repo } = await fresh(t);
    t.equal(await repo.useRequestId("r1", 100, 0), true);
    t.equal(await repo.useRequestId("r1", 100, 50), false);
    t.equal(await repo.useRequestId("r1", 300, 101), true, "expired entries are pruned");
    t.equal(await repo.useRequestId("r1", 300, 102), false, "and taken again");
  });

  t.test(`${backend.name}: replay ids: of two connections racing for one id, one wins`, async (t) => {
    const { repo, open } = await fresh(t);
    const other = await open();
    const wins = await Promise.all(Array.from({ length: 8 }, (_, i) => (i % 2 ? repo : other).useRequestId("same", 100, 0)));
    t.equal(wins.filter(Boolean).length, 1);
  });

  t.test(`${backend.name}: chain events: stored once, cursor only moves forward, survives reopening`, async (t) => {
    const { repo, open } = await fresh(t);
    t.equal(await repo.getChainCursor("TrainingPool"), null);
    t.same((await repo.recordChainEvents("TrainingPool", 10, [ev(1), ev(2)])).map((e) => e.blockNumber), [1, 2]);
    t.same(await repo.recordChainEvents("TrainingPool", 12, [ev(2), ev(3)]), [ev(3)], "already seen events are not returned");
    await repo.recordChainEvents("TrainingPool", 5, []);
    t.equal(await repo.getChainCursor("TrainingPool"), 12);
    await repo.markChainEventHandled(H(2), 0, "done");
    t.same((await repo.unhandledChainEvents("TrainingJobCreated")).map((e) => e.blockNumber), [1, 3]);
    await repo.close();
    const again = await open();
    t.equal(await again.getChainCursor("TrainingPool"), 12);
    t.same(await again.recordChainEvents("TrainingPool", 12, [ev(1)]), []);
  });

  t.test(`${backend.name}: drafts: weights and validation set until bound to a job`, async (t) => {
    const { repo } = await fresh(t);
    await repo.insertDraft({ id: "d2", uploader: "0xB", spec: SMALL_SPEC, settings: DEFAULT_SETTINGS, createdAt: 5, modelHash: null,
      validationHash: null, validationFormat: null, validationSamples: null, jobId: null });
    t.same(await repo.findReadyDrafts(H(9), "0xB"), [], "no weights yet");
    await repo.setDraftWeights("d2", H(9));
    await repo.setDraftValidation("d2", { hash: H(8), format: "csv", samples: 123 });
    t.match(await repo.getDraft("d2"), { modelHash: H(9), validationHash: H(8), validationFormat: "csv", validationSamples: 123, jobId: null, spec: SMALL_SPEC });
    t.same((await repo.findReadyDrafts(H(9), "0xB")).map((d) => d.id), ["d2"]);
    t.same(await repo.findReadyDrafts(H(9), "0xA"), [], "another uploader's draft is not found");
    t.equal(await repo.getDraft("nope"), null);
  });

  t.test(`${backend.name}: updates: accepted until the round is full, one per contributor, complete is idempotent`, async (t) => {
    const { repo } = await fresh(t);
    t.equal((await repo.findReadyDrafts(H(9), "0xA")).length, 0);
    await activeJob(repo);
    const activated = (await repo.getJob(1))!;
    t.equal(activated.currentRound, 0);
    t.equal(activated.createdAt, 1_700_000_000_000, "epoch milliseconds round-trip");
    t.same(activated.chain, chainInfo);
    const job2 = { ...activated, jobId: 2 };
    t.equal(await repo.activateJob({ event: ev(1), draftId: "d1", job: job2, round0: { openedAt: 1, deadlineAt: 2 } }), null, "a bound draft cannot make a second job");
    t.same(await repo.unhandledChainEvents("TrainingJobCreated"), []);

    t.same(await repo.acceptUpdate(update("0x1", 30), 2), { ok: true, closing: false, acceptedCount: 1 });
    t.match(await repo.acceptUpdate(update("0x1", 31), 2), { ok: false, reason: "DUPLICATE_UPDATE", existing: { updateHash: H(30) } });
    t.same(await repo.getUpdate(1, 0, "0x1"), update("0x1", 30));
    t.same(await repo.acceptUpdate(update("0x2", 20), 2), { ok: true, closing: true, acceptedCount: 2 });
    t.equal((await repo.getRound(1, 0))!.status, "closing");
    t.same((await repo.roundsWithStatus("closing")).map((r) => r.round), [0]);
    t.same(await repo.acceptUpdate(update("0x3", 10), 2), { ok: false, reason: "ROUND_CLOSED" });
    t.same((await repo.listUpdates(1, 0, "accepted")).map((x) => x.updateHash), [H(20), H(30)], "sorted by hash");

    const rewards = { rewardsRoot: H(50), updatesRoot: H(51), total: "10", budget: "30", signature: "0xs", baseLoss: 2.5,
      updates: [{ contributor: "0x2", updateHash: H(20), claimedSamples: 5, weight: 5, deltaNorm: 0.5, score: 0.25, gain: 0.125, excluded: null, amount: "10" }] };
    const complete = { jobId: 1, round: 0, closedAt: 5, modelHash: H(40), accuracy: 0.5, loss: 1, contributors: ["0x2", "0x1"], updateHashes: [H(20), H(30)], rewards, next: { openedAt: 5, deadlineAt: 6 } };
    await repo.completeRound(complete);
    await repo.completeRound({ ...complete, modelHash: H(41) });
    const closed = (await repo.getRound(1, 0))!;
    t.equal(closed.modelHash, H(40), "a second complete changes nothing");
    t.same(closed.rewards, rewards);
    t.same(closed.contributors, ["0x2", "0x1"]);
    t.equal((await repo.getJob(1))!.currentRound, 1);
    t.equal((await repo.listRounds(1)).length, 2);
    await repo.completeRound({ ...complete, round: 1, modelHash: H(42), next: null });
    const done = (await repo.getJob(1))!;
    t.equal(done.status, "finished");
    t.equal(done.modelHash, H(42));
    t.same(await repo.countUpdates(1), { accepted: 2, rejected: 0 });
    t.same((await repo.listJobs()).map((j) => j.jobId), [1]);
  });

  t.test(`${backend.name}: rounds: closing is taken once, extensions counted, rejections kept apart`, async (t) => {
    const { repo } = await fresh(t);
    await activeJob(repo);
    await repo.extendRound(1, 0, 1_700_000_120_000);
    t.match(await repo.getRound(1, 0), { deadlineAt: 1_700_000_120_000, extensions: 1, status: "open" });
    t.same(await repo.rejectUpdate(update("0x9", 90, { status: "rejected", reason: "BELOW_THRESHOLD", signature: null })), { ok: true, closing: false, acceptedCount: 0 });
    t.same((await repo.listUpdates(1, 0, "rejected")).map((u) => u.reason), ["BELOW_THRESHOLD"]);
    t.same(await repo.countUpdates(1), { accepted: 0, rejected: 1 });
    const marks = await Promise.all([repo.markRoundClosing(1, 0), repo.markRoundClosing(1, 0), repo.markRoundClosing(1, 0)]);
    t.equal(marks.filter(Boolean).length, 1, "exactly one caller moves the round to closing");
    await repo.extendRound(1, 0, 1);
    t.equal((await repo.getRound(1, 0))!.extensions, 1, "a closing round is not extended");
    t.same(await repo.roundsWithStatus("open"), []);
  });

  t.test(`${backend.name}: updates racing from two connections: none lost, the round closes at its minimum once`, async (t) => {
    const { repo, open } = await fresh(t);
    await activeJob(repo);
    const other = await open();
    const results = await Promise.all(Array.from({ length: 6 }, (_, i) => (i % 2 ? repo : other).acceptUpdate(update(`0x${i}`, 100 + i), 4)));
    const ok = results.filter((r) => r.ok);
    t.equal(ok.length, 4, "exactly minUpdates accepted");
    t.equal(results.filter((r) => r.ok && r.closing).length, 1, "one of them saw the round close");
    t.same(results.filter((r) => !r.ok).map((r) => (r.ok ? "" : r.reason)), ["ROUND_CLOSED", "ROUND_CLOSED"]);
    t.equal((await repo.listUpdates(1, 0, "accepted")).length, 4);
  });

  t.test(`${backend.name}: read views: open drafts, chain events by query, a job's and a contributor's updates`, async (t) => {
    const { repo } = await fresh(t);
    await activeJob(repo);
    await repo.insertDraft({ id: "d3", uploader: "0xA", spec: SMALL_SPEC, settings: DEFAULT_SETTINGS, createdAt: 50, modelHash: null,
      validationHash: null, validationFormat: null, validationSamples: null, jobId: null });
    t.same((await repo.listOpenDrafts("0xA", 0)).map((d) => d.id), ["d3"], "the bound draft is not open");
    t.same(await repo.listOpenDrafts("0xA", 51), []);

    const who = "0x" + "Ab".repeat(20);
    const at = (block: number, logIndex: number, name: string, args: Record<string, string>): ChainEventRecord =>
      ({ txHash: H(1000 + block * 10 + logIndex), logIndex, blockNumber: block, source: name === "MachineListed" ? "ComputeMarketplace" : "TrainingPool", name, args });
    await repo.recordChainEvents("TrainingPool", 9, [at(5, 0, "RewardClaimed", { who }), at(5, 1, "RewardClaimed", { who: H(3) }), at(7, 0, "MachineListed", { provider: who.toLowerCase() })]);
    const blocks = (es: ChainEventRecord[]) => es.map((e) => `${e.blockNumber}.${e.logIndex}`);
    t.same(blocks(await repo.queryChainEvents({ limit: 10 })), ["7.0", "5.1", "5.0", "1.0"], "newest first");
    t.same(blocks(await repo.queryChainEvents({ limit: 2, ascending: true })), ["1.0", "5.0"]);
    t.same(blocks(await repo.queryChainEvents({ limit: 10, address: who.toUpperCase().replace("0X", "0x") })), ["7.0", "5.0"], "address in any case");
    t.same(blocks(await repo.queryChainEvents({ limit: 10, names: ["RewardClaimed"], before: { blockNumber: 5, logIndex: 1 } })), ["5.0"]);
    t.same(blocks(await repo.queryChainEvents({ limit: 10, sources: ["ComputeMarketplace"] })), ["7.0"]);
    t.same(await repo.queryChainEvents({ limit: 10, names: [] }), []);
    await t.rejects(repo.queryChainEvents({ limit: 1, address: "%" }), "a pattern is not an address");

    await repo.acceptUpdate(update("0xB", 2, { receivedAt: 20 }), 9);
    await repo.acceptUpdate(update("0xa", 1, { receivedAt: 10 }), 9);
    t.same((await repo.listJobUpdates(1)).map((u) => u.contributor), ["0xB", "0xa"], "by round, then contributor in byte order");
    t.same((await repo.listContributorUpdates("0XA", 5)).map((u) => u.updateHash), [H(1)], "any case");
    t.same(await repo.listContributorUpdates("0xB", 0), []);
  });

  t.test(`${backend.name}: ending a job early keeps a round with work in it, drops an empty one`, async (t) => {
    const { repo } = await fresh(t);
    await activeJob(repo);
    t.equal(await repo.endJobEarly(99, 5, true), null, "unknown job");
    await repo.acceptUpdate(update("0x1", 1), 9);
    const kept = (await repo.endJobEarly(1, 5, true))!;
    t.match(kept, { status: "active", settings: { rounds: 1 } }, "the round with an update stays, as the last one");
    t.equal((await repo.listRounds(1)).length, 1);
    const ended = (await repo.endJobEarly(1, 6, false))!;
    t.match(ended, { status: "finished", finishedAt: 6, settings: { rounds: 0 } });
    t.same(await repo.listRounds(1), [], "the round in progress is dropped");
    t.same(await repo.endJobEarly(1, 7, false), ended, "a finished job is unchanged");
  });

  t.test(`${backend.name}: cluster machines: optional fields kept across upserts, patched, found by rental and status`, async (t) => {
    const { repo } = await fresh(t);
    const base = { jobId: 3, machineId: 7, rentalId: 11, provider: "0xP", host: "10.0.0.7", port: 22, status: "pending", updatedAt: 1 };
    await repo.upsertClusterMachine({ ...base, renter: "0xR", keyFingerprint: "SHA256:k" });
    await repo.upsertClusterMachine({ ...base, status: "acknowledged", updatedAt: 2 });
    t.match(await repo.findClusterMachineByRental(11), { status: "acknowledged", renter: "0xR", keyFingerprint: "SHA256:k", workerAddress: null, updatedAt: 2 });
    t.equal(await repo.updateClusterMachine(3, 7, { status: "running", workerAddress: "0xW", lastHeartbeat: 1_700_000_000_000, error: null }), true);
    t.equal(await repo.updateClusterMachine(3, 99, { status: "running" }), false, "no such machine");
    t.match((await repo.listClusterMachines(3))[0], { status: "running", workerAddress: "0xW", lastHeartbeat: 1_700_000_000_000, renter: "0xR" });
    t.same((await repo.clusterMachinesWithStatus(["running", "ready"])).map((m) => m.rentalId), [11]);
    t.same(await repo.clusterMachinesWithStatus([]), []);
    t.equal(await repo.findClusterMachineByRental(12), null);
    // A new rental of the same machine for the same job replaces the row.
    await repo.upsertClusterMachine({ ...base, rentalId: 12, status: "pending", updatedAt: 3 });
    t.equal(await repo.findClusterMachineByRental(11), null);
    t.match(await repo.findClusterMachineByRental(12), { status: "pending", workerAddress: "0xW" });
  });

  t.test(`${backend.name}: cluster specs and listings survive reopening`, async (t) => {
    const { repo, open } = await fresh(t);
    const spec = {
      draftId: "ab".repeat(16), owner: "0xO", machines: 3, train: { epochs: 2, batchSize: 64, lr: 0.1, momentum: 0 },
      sshPrivateKey: "-----BEGIN OPENSSH PRIVATE KEY-----\nx\n", keyFingerprint: "SHA256:k", trainHash: null, trainFormat: null, trainSamples: null, updatedAt: 9,
    };
    await repo.saveClusterSpec(spec);
    await repo.saveClusterSpec({ ...spec, trainHash: "0x01", trainFormat: "idx", trainSamples: 600 });
    await repo.saveMarketMachine({ machineId: 7, provider: "0xP", endpoint: "u@h:22", specs: "{}", pricePerHour: "4", block: 3 });
    await repo.saveMarketMachine({ machineId: 7, provider: "0xP", endpoint: "u@h:22", specs: "{}", pricePerHour: "5", block: 4 });
    await repo.close();
    const again = await open();
    t.same(await again.getClusterSpec(spec.draftId), { ...spec, trainHash: "0x01", trainFormat: "idx", trainSamples: 600 });
    t.equal(await again.getClusterSpec("cd".repeat(16)), null);
    t.same(await again.getMarketMachine(7), { machineId: 7, provider: "0xP", endpoint: "u@h:22", specs: "{}", pricePerHour: "5", block: 4 });
    t.equal(await again.getMarketMachine(8), null);
  });

  t.test(`${backend.name}: liveness: the newest record per machine, the oldest machine dropped when full, kept across a reopen`, async (t) => {
    const { repo, open } = await fresh(t);
    const rec = (machineId: string, at: number, signature = "0x" + at.toString(16)) => ({ machineId, provider: "0xP" + machineId, at, signature });
    t.same(await repo.saveLiveness(rec("1", 100), 3), rec("1", 100));
    t.same(await repo.saveLiveness(rec("1", 90), 3), rec("1", 100), "an older record is not kept");
    t.same(await repo.saveLiveness(rec("1", 100, "0xother"), 3), rec("1", 100), "nor another one of the same second");
    t.same(await repo.saveLiveness(rec("1", 130), 3), rec("1", 130), "a newer one replaces it");
    await repo.saveLiveness(rec("2", 110), 3);
    await repo.saveLiveness(rec("3", 120), 3);
    await repo.saveLiveness(rec("4", 125), 3);
    t.same((await repo.listLiveness()).map((r) => r.machineId), ["1", "3", "4"], "a fourth machine replaced the one heard from longest ago");
    await repo.saveLiveness(rec("3", 140), 3);
    t.equal((await repo.listLiveness()).length, 3, "a known machine's newer record drops nobody");
    await repo.close();
    const again = await open();
    t.same(await again.listLiveness(), [rec("1", 130), rec("3", 140), rec("4", 125)], "survives a reopen");
  });

  t.test(`${backend.name}: rental downtime: spans opened once, closed by the next up, per rental, kept across a reopen`, async (t) => {
    const { repo, open } = await fresh(t);
    t.same(await repo.listRentalDowntime("5"), []);
    await repo.markRentalUp("5", 1_000); // up while never down: nothing
    await repo.markRentalDown("5", 10_000);
    await repo.markRentalDown("5", 15_000); // still down: the first time counts
    await repo.markRentalUp("5", 9_000); // an up from before the span began: nothing
    t.same(await repo.listRentalDowntime("5"), [{ from: 10_000, to: null }], "one open span");
    await repo.markRentalUp("5", 40_000);
    await repo.markRentalUp("5", 50_000); // already up: nothing
    await repo.markRentalDown("5", 90_000);
    await repo.markRentalDown("6", 20_000);
    await repo.close();
    const again = await open();
    t.same(await again.listRentalDowntime("5"), [{ from: 10_000, to: 40_000 }, { from: 90_000, to: null }], "a closed and an open span survive a reopen");
    t.same(await again.listRentalDowntime("6"), [{ from: 20_000, to: null }], "rentals apart");
    await again.markRentalUp("5", 95_000);
    t.same((await again.listRentalDowntime("5"))[1], { from: 90_000, to: 95_000 }, "the open span closes after the reopen");
  });

  t.test(`${backend.name}: an inference result is stored once, exactly, and survives a reopen`, async (t) => {
    const { repo, open } = await fresh(t);
    t.equal(await repo.getInference(7), null);
    const first = inference();
    t.same(await repo.saveInference(first), first, "the first save is what is stored");
    const second = inference({ fee: "2", inputSha256: "b".repeat(64), probabilities: Float32Array.from([1, 0, 0, 0, 1, 0]) });
    t.same(await repo.saveInference(second), first, "a second save for the job answers the first");
    await repo.close();
    const again = await open();
    const read = (await again.getInference(7))!;
    t.same(read, first);
    t.ok(read.probabilities.every((v, i) => v === first.probabilities[i]), "float32 values bit for bit");
    t.equal(await again.getInference(8), null);
  });
}
