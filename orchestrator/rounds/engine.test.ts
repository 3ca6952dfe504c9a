import t from "tap";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { join as joinPath } from "node:path";
import type { FastifyInstance } from "fastify";
import { loadMnist, subset } from "../../native/data.js";
import type { Dataset } from "../../native/types.js";
import { decodeSafetensors } from "../../native/safetensors.js";
import { flatten, l2Norm } from "../../native/tensors.js";
import { SqliteRepository } from "../store/sqlite.js";
import type { JobSettingsInput } from "../../protocol/settings.js";
import { SMALL_SPEC, announceJob, randomWallet, readyDraft, signedInject, testApp, trainUpdate } from "../testing/fixtures.js";

const contributors = Array.from({ length: 5 }, () => randomWallet());
const requester = randomWallet();
let shards: Dataset[] = [];

t.before(async () => {
  const train = await loadMnist("train", { limit: 1000 });
  shards = [0, 1, 2, 3, 4].map((i) => subset(train, Array.from({ length: 200 }, (_, j) => i * 200 + j)));
});

async function startJob(app: FastifyInstance, settings: JobSettingsInput, rounds = 2): Promise<Buffer> {
  const draft = await readyDraft(app, requester, { settings, seed: 3, validation: 300 });
  await announceJob(app, { jobId: 1, requester: requester.address, modelHash: draft.modelHash!, rounds });
  return (await app.inject({ method: "GET", url: "/api/job/1/model" })).rawPayload;
}

async function submit(app: FastifyInstance, who: number, round: number, body: Buffer): Promise<number> {
  const res = await signedInject(app, contributors[who], { method: "POST", url: `/api/job/1/update?round=${round}&numSamples=${100 + who}`, body });
  return res.statusCode;
}

t.test("arrival order never changes the aggregate (every strategy)", async (t) => {
  for (const strategy of [{ name: "fedavg" }, { name: "median" }, { name: "trimmed-mean", beta: 0.2 }, { name: "krum", f: 1, m: 2 }] as const) {
    const hashes: string[] = [];
    for (const order of [[0, 1, 2, 3, 4], [4, 2, 0, 3, 1]]) {
      const { app } = await testApp(t);
      const global = await startJob(app, { minUpdates: 5, strategy: { ...strategy } });
      const updates = await Promise.all(shards.map((s, i) => trainUpdate(SMALL_SPEC, global, s, i)));
      const closed = app.events.waitFor("round:closed");
      for (const i of order) t.equal(await submit(app, i, 0, updates[i]), 200);
      const c = await closed;
      t.ok(c.accuracy > 0, `${strategy.name}: evaluated`);
      hashes.push(c.modelHash);
    }
    t.equal(hashes[0], hashes[1], `${strategy.name}: same bytes in both orders`);
  }
});

t.test("deadline: extended without enough updates, closed with them", async (t) => {
  const { app } = await testApp(t);
  const global = await startJob(app, { minUpdates: 3, minUpdatesAtDeadline: 1, roundDeadlineSeconds: 1 });
  const extended = await app.events.waitFor("round:extended");
  t.equal(extended.round, 0);
  t.equal(extended.extensions, 1);
  let job = (await app.inject({ method: "GET", url: "/api/job/1" })).json();
  t.equal(job.history[0].status, "open");
  t.equal(job.history[0].extensions, 1, "the extension is recorded");
  const closed = app.events.waitFor("round:closed");
  t.equal(await submit(app, 0, 0, await trainUpdate(SMALL_SPEC, global, shards[0], 1)), 200);
  const c = await closed;
  t.equal(c.contributors, 1, "closed at the deadline with one update");
  job = (await app.inject({ method: "GET", url: "/api/job/1" })).json();
  t.equal(job.currentRound, 1);
  t.same(job.history[0].contributors, [contributors[0].address]);
});

t.test("a crash in the middle of a close: the restarted engine closes it with the same result", async (t) => {
  const reference = await testApp(t);
  const global = await startJob(reference.app, { minUpdates: 2 });
  const updates = await Promise.all([0, 1].map((i) => trainUpdate(SMALL_SPEC, global, shards[i], i)));
  const refClosed = reference.app.events.waitFor("round:closed");
  for (const i of [0, 1]) await submit(reference.app, i, 0, updates[i]);
  const expected = (await refClosed).modelHash;

  const dataDir = await mkdtemp(join(tmpdir(), "quackmesh-midclose-"));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const key = randomWallet().privateKey;
  // First life: the store fails the round's final commit, as if the process died right there.
  const repo = new SqliteRepository(joinPath(dataDir, "orchestrator.sqlite"));
  repo.completeRound = async () => {
    throw new Error("simulated crash before the round's commit");
  };
  const first = await testApp(t, { dataDir, evaluatorKey: key, repository: repo });
  await startJob(first.app, { minUpdates: 2 });
  const failed = first.app.events.waitFor("round:failed");
  for (const i of [0, 1]) t.equal(await submit(first.app, i, 0, updates[i]), 200);
  await failed;
  t.equal((await first.app.repo.getRound(1, 0))!.status, "closing", "the round is left closing");
  await first.app.close();

  // Second life on the same data dir: recovery aggregates again from the stored updates.
  const events = new (await import("../events.js")).OrchestratorEmitter();
  const closed = events.waitFor("round:closed");
  const second = await testApp(t, { dataDir, evaluatorKey: key, events });
  t.equal((await closed).modelHash, expected, "same model as an uninterrupted close");
  const job = (await second.app.inject({ method: "GET", url: "/api/job/1" })).json();
  t.equal(job.currentRound, 1);
  t.equal(job.modelHash, expected);
  t.same(job.updates, { accepted: 2, rejected: 0 }, "no accepted update lost");
});

t.test("clipping (maxUpdateNorm) bounds each update's pull on the aggregate", async (t) => {
  const hashes: string[] = [];
  for (const maxUpdateNorm of [undefined, 0.01]) {
    const { app } = await testApp(t);
    const global = await startJob(app, { minUpdates: 2, ...(maxUpdateNorm ? { maxUpdateNorm } : {}) });
    const closed = app.events.waitFor("round:closed");
    for (const i of [0, 1]) await submit(app, i, 0, await trainUpdate(SMALL_SPEC, global, shards[i], i));
    hashes.push((await closed).modelHash);
    const job = (await app.inject({ method: "GET", url: "/api/job/1" })).json();
    t.equal(job.settings.maxUpdateNorm, maxUpdateNorm ?? null);
    const next = flatten(decodeSafetensors((await app.inject({ method: "GET", url: "/api/job/1/model" })).rawPayload).tensors);
    const before = flatten(decodeSafetensors(global).tensors);
    const moved = l2Norm(next.map((v, i) => v - before[i]));
    if (maxUpdateNorm) t.ok(moved <= maxUpdateNorm * 1.0001, `the aggregate moved ${moved} ≤ ${maxUpdateNorm}`);
    else t.ok(moved > 0.01, `unclipped, it moved ${moved}`);
  }
  t.not(hashes[0], hashes[1], "clipping changes the aggregate");
});
