// Replayable rounds: a closed round's files go only to its requester and contributors, and the
// aggregation replayed from them (what `quackmesh job verify` runs) gives the published model
// hash and updates root bit-exactly, for FedAvg and for a clipped median; a changed weight or
// exclusion does not.
import t from "tap";
import type { Wallet } from "ethers";
import { loadMnist, subset } from "../../native/data.js";
import { decodeSafetensors, encodeSafetensors, sha256Hex } from "../../native/safetensors.js";
import type { JobSettingsInput } from "../../protocol/settings.js";
import { replayRound } from "../rounds/replay.js";
import { SMALL_SPEC, announceJob, randomWallet, readyDraft, signedInject, testApp, trainUpdate } from "../testing/fixtures.js";
import type { JobDetail, RoundRewardsReply } from "./schemas.js";

const train = await loadMnist("train", { limit: 2000 });
const shard = (i: number) => subset(train, Array.from({ length: 600 }, (_, k) => i * 600 + k));

/** global + tiny noise: a near-copy that is accepted and left out of the model. */
function nearCopy(globalBytes: Uint8Array): Buffer {
  return encodeSafetensors(decodeSafetensors(globalBytes).tensors.map((x) => ({ ...x, data: x.data.map((v, i) => v + (i % 2 ? 1e-6 : -1e-6)) })));
}

/** One closed round of a fresh job: a near-copy first, then two trained updates (which close it). */
async function closedRound(t: Tap, settings: JobSettingsInput) {
  const { app } = await testApp(t);
  const requester = randomWallet();
  const draft = await readyDraft(app, requester, { settings: { minUpdates: 2, roundDeadlineSeconds: 3600, ...settings }, seed: 5, validation: 500 });
  await announceJob(app, { jobId: 1, requester: requester.address, modelHash: draft.modelHash!, rounds: 2 });
  const global = (await app.inject({ method: "GET", url: "/api/job/1/model" })).rawPayload;
  const contributors = [randomWallet(), randomWallet(), randomWallet()];
  const bodies = [nearCopy(global), await trainUpdate(SMALL_SPEC, global, shard(0), 1, 0.1), await trainUpdate(SMALL_SPEC, global, shard(1), 2, 0.1)];
  const closed = app.events.waitFor("round:closed");
  for (const [i, body] of bodies.entries()) {
    const res = await signedInject(app, contributors[i], { method: "POST", url: `/api/job/1/update?round=0&numSamples=${600 + 100 * i}`, body });
    t.equal(res.statusCode, 200, res.body);
  }
  await closed;
  const rewards = (await app.inject({ method: "GET", url: "/api/job/1/round/0/rewards" })).json() as RoundRewardsReply;
  const job = (await app.inject({ method: "GET", url: "/api/job/1" })).json() as JobDetail;
  return { app, requester, contributors, rewards, job };
}

type Tap = typeof t;

async function download(app: Awaited<ReturnType<typeof closedRound>>["app"], who: Wallet, url: string) {
  return signedInject(app, who, { method: "GET", url });
}

t.test("a round's files: only the requester and the round's contributors, only once it closed", async (t) => {
  const { app, requester, contributors, rewards } = await closedRound(t, {});
  const input = "/api/job/1/round/0/input";
  const update = `/api/job/1/round/0/update/${rewards.updates[0].updateHash}`;

  t.equal((await app.inject({ method: "GET", url: input })).json().error, "SIGNATURE_MISSING", "unsigned: refused");
  for (const url of [input, update]) {
    const res = await download(app, randomWallet(), url);
    t.equal(res.statusCode, 403);
    t.equal(res.json().error, "NOT_ROUND_PARTICIPANT", `a stranger gets nothing from ${url}`);
  }
  const open = await download(app, requester, "/api/job/1/round/1/input");
  t.equal(open.json().error, "ROUND_NOT_CLOSED", "the open round's files are not served");
  const other = await download(app, requester, `/api/job/1/round/0/update/0x${"ab".repeat(32)}`);
  t.equal(other.statusCode, 404, "a hash the round did not accept is not served");
  t.equal((await download(app, requester, "/api/job/1/round/0/update/nothex")).json().error, "VALIDATION_FAILED");

  for (const who of [requester, contributors[0]]) {
    const model = await download(app, who, input);
    t.equal(model.statusCode, 200);
    t.equal(sha256Hex(model.rawPayload), (await app.repo.getRound(1, 0))!.inputModelHash, "the input model, as stored");
    for (const u of rewards.updates) {
      const res = await download(app, who, `/api/job/1/round/0/update/${u.updateHash}`);
      t.equal(sha256Hex(res.rawPayload), u.updateHash, "each accepted update, as sent");
    }
  }
});

for (const [name, settings] of [
  ["fedavg", {}],
  ["clipped median", { strategy: { name: "median" }, maxUpdateNorm: 0.5 }],
] as Array<[string, JobSettingsInput]>) {
  t.test(`${name}: the replay reproduces the published model and updates root bit-exactly`, async (t) => {
    const { app, requester, rewards, job } = await closedRound(t, settings);
    t.equal(rewards.updates.filter((u) => u.excluded === null).length, 2, "the two trained updates are counted");
    const inputModel = (await download(app, requester, "/api/job/1/round/0/input")).rawPayload;
    const files = [];
    for (const u of rewards.updates) files.push({ ...u, bytes: (await download(app, requester, `/api/job/1/round/0/update/${u.updateHash}`)).rawPayload });
    const replay = await replayRound({ round: 0, settings: job.settings, inputModel, updates: files.reverse() });
    t.equal(replay.modelHash, rewards.modelHash, "the replayed model is the published one");
    t.equal(replay.modelHash, job.history[0].modelHash);
    t.equal(replay.updatesRoot, rewards.updatesRoot, "the replayed updates root is the published one");
    t.same(replay.updates.map((u) => u.sha256), replay.updates.map((u) => u.updateHash));

    const counted = files.findIndex((f) => f.excluded === null);
    const heavier = files.map((f, i) => (i === counted ? { ...f, weight: f.weight * 3 } : f));
    const reweighted = await replayRound({ round: 0, settings: job.settings, inputModel, updates: heavier });
    t.not(reweighted.updatesRoot, rewards.updatesRoot, "a changed weight changes the updates root");
    const nearCopy = files.findIndex((f) => f.excluded !== null);
    const counting = files.map((f, i) => (i === nearCopy ? { ...f, excluded: null } : f));
    t.not((await replayRound({ round: 0, settings: job.settings, inputModel, updates: counting })).modelHash, rewards.modelHash, "counting the near-copy gives another model");
  });
}
