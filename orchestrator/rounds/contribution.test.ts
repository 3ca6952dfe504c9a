// Pay for useful work, tried as an attacker would: free riders, sybils, mislabelled data, a liar
// about its sample count, scaled and sign-flipped updates, against honest non-IID contributors,
// through the real API, engine and native aggregation on MNIST.
import t from "tap";
import { StandardMerkleTree } from "@openzeppelin/merkle-tree";
import type { FastifyInstance } from "fastify";
import type { Wallet } from "ethers";
import { loadMnist, subset } from "../../native/data.js";
import { decodeSafetensors, encodeSafetensors } from "../../native/safetensors.js";
import { Network } from "../../native/index.js";
import type { Dataset } from "../../native/types.js";
import { recoverCommitmentSigner, trainingPoolDomain } from "../../protocol/chain/eip712.js";
import { REWARD_LEAF_TYPES } from "../../protocol/rewards.js";
import type { JobSettingsInput } from "../../protocol/settings.js";
import { SMALL_SPEC, announceJob, readyDraft, randomWallet, signedInject, testApp, trainUpdate } from "../testing/fixtures.js";
import { lowerMedian } from "./contribution.js";

const DUCK = 10n ** 18n;
let train: Dataset;
let test: Dataset;

/** Samples of `ds` whose label is in `labels`, at most `n`. */
function byLabels(ds: Dataset, labels: number[], n: number): Dataset {
  const idx: number[] = [];
  for (let i = 0; i < ds.count && idx.length < n; i++) if (labels.includes(ds.y[i])) idx.push(i);
  return subset(ds, idx);
}

function relabel(ds: Dataset, f: (y: number, i: number) => number): Dataset {
  return { ...ds, y: Uint8Array.from(ds.y, (y, i) => f(y, i)) };
}

/** global + N(0, sigma) per weight: a free rider that never trained. */
function nearCopy(globalBytes: Uint8Array, sigma: number, seed: number): Buffer {
  let s = seed >>> 0;
  const rnd = () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32) - 0.5;
  const tensors = decodeSafetensors(globalBytes).tensors.map((x) => ({ ...x, data: x.data.map((v) => v + sigma * rnd() * 3.4) }));
  return encodeSafetensors(tensors);
}

/** global + k·(update − global). */
function scaled(globalBytes: Uint8Array, updateBytes: Uint8Array, k: number): Buffer {
  const g = decodeSafetensors(globalBytes).tensors;
  const u = decodeSafetensors(updateBytes).tensors;
  return encodeSafetensors(g.map((x, j) => ({ ...x, data: x.data.map((v, i) => v + k * (u[j].data[i] - v)) })));
}

async function accuracyOn(app: FastifyInstance, jobId: number, ds: Dataset, label?: number): Promise<number> {
  const bytes = (await app.inject({ method: "GET", url: `/api/job/${jobId}/model` })).rawPayload;
  const net = Network.fromWeights(SMALL_SPEC, decodeSafetensors(bytes).tensors);
  const part = label === undefined ? ds : byLabels(ds, [label], ds.count);
  return (await net.evaluate(part)).accuracy;
}

t.before(async () => {
  train = await loadMnist("train", { limit: 12000 });
  test = await loadMnist("test", { limit: 3000 });
});

const honestShards = () => [byLabels(train, [0, 1, 2, 3, 4, 5, 6], 1500), byLabels(train, [3, 4, 5, 6, 7, 8, 9], 1500), byLabels(train, [0, 2, 4, 6, 7, 8, 9, 1], 1500)];

interface Party {
  wallet: Wallet;
  numSamples: number;
  /** First round it takes part in (default 0). */
  from?: number;
  update(global: Buffer, round: number): Promise<Buffer>;
}

async function runJob(t: Tap.Test, settings: JobSettingsInput, parties: { bad: Party[]; honest: Party[] }, rounds: number, thresholdBps = 0) {
  const { app } = await testApp(t);
  const requester = randomWallet();
  const draft = await readyDraft(app, requester, { settings: { ...settings, roundDeadlineSeconds: 20 }, seed: 7, validation: 1000 });
  app.events.on("round:failed", (e) => t.fail(`round ${e.round} failed to close: ${e.error}`));
  await announceJob(app, { jobId: 1, requester: requester.address, modelHash: draft.modelHash!, rounds, thresholdBps, roundBudget: (30n * DUCK).toString(), maxPerContributor: (30n * DUCK).toString() });
  for (let round = 0; round < rounds; round++) {
    const global = (await app.inject({ method: "GET", url: "/api/job/1/model" })).rawPayload;
    const closed = app.events.waitFor("round:closed");
    for (const p of [...parties.bad, ...parties.honest]) {
      if (round < (p.from ?? 0)) continue;
      const body = await p.update(global, round);
      const res = await signedInject(app, p.wallet, { method: "POST", url: `/api/job/1/update?round=${round}&numSamples=${p.numSamples}`, body });
      // 409 ROUND_CLOSED: enough useful updates closed the round before this one arrived.
      t.ok(res.statusCode === 200 || res.statusCode === 422 || res.json().error === "ROUND_CLOSED", `round ${round}: ${res.statusCode} ${res.statusCode === 200 ? "" : res.body}`);
    }
    await closed;
  }
  return app;
}

type Tap = typeof t;
declare namespace Tap {
  type Test = typeof t;
}

t.test("five contributors, five sybils: only the three honest ones are paid, and every commitment checks out", async (t) => {
  const shards = honestShards();
  const honest: Party[] = shards.map((s, i) => ({ wallet: randomWallet(), numSamples: s.count, update: (g, r) => trainUpdate(SMALL_SPEC, g, s, 100 * r + i, 0.1) }));
  const shuffled = relabel(byLabels(train, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 1500), (_, i) => (i * 7 + 3) % 10);
  const mislabelled: Party = { wallet: randomWallet(), numSamples: 1500, update: (g, r) => trainUpdate(SMALL_SPEC, g, shuffled, r, 0.1) };
  const freeRider: Party = { wallet: randomWallet(), numSamples: 1500, update: async (g, r) => nearCopy(g, 1e-6, 1000 + r) };
  const sybils: Party[] = Array.from({ length: 5 }, (_, k) => ({ wallet: randomWallet(), numSamples: 1500, update: async (g, r) => nearCopy(g, 1e-6, 2000 + 10 * k + r) }));
  // The threshold (30 %) refuses the mislabelled model outright; contribution scoring handles the rest.
  const app = await runJob(t, { minUpdates: 3 }, { bad: [freeRider, ...sybils, mislabelled], honest }, 3, 3000);
  const honestSet = new Set(honest.map((p) => p.wallet.address.toLowerCase()));
  for (let round = 0; round < 3; round++) {
    const res = await app.inject({ method: "GET", url: `/api/job/1/round/${round}/rewards` });
    t.equal(res.statusCode, 200);
    const r = res.json();
    const amounts = r.updates.map((u: { amount: string }) => BigInt(u.amount));
    const paid = amounts.reduce((a: bigint, b: bigint) => a + b, 0n);
    t.equal(paid.toString(), r.total, `round ${round}: the amounts add up to the committed total`);
    t.ok(paid <= 30n * DUCK, `round ${round}: within the round budget`);
    t.ok(paid > 0n, `round ${round}: something was paid`);
    let toHonest = 0n;
    for (const u of r.updates) {
      if (honestSet.has(u.contributor.toLowerCase())) toHonest += BigInt(u.amount);
      // A model trained on shuffled labels that passes the threshold learned nothing (rounds/learned.ts).
      else if (u.contributor === mislabelled.wallet.address) t.equal(u.amount, "0", `round ${round}: the mislabelled party (${u.excluded ?? "kept"}, score ${u.score}) is paid nothing`);
      else t.equal(u.amount, "0", `round ${round}: ${u.excluded ?? "kept"} near-copy (score ${u.score}) is paid nothing`);
      if (BigInt(u.amount) > 0n) {
        t.ok(StandardMerkleTree.verify(r.rewardsRoot, [...REWARD_LEAF_TYPES], ["1", String(round), String(u.leaf), u.contributor, u.amount], u.proof), "the proof verifies against the root");
      }
    }
    t.ok(toHonest * 10n >= paid * 9n, `round ${round}: honest contributors got ${toHonest} of ${paid}`);
    const signer = recoverCommitmentSigner(trainingPoolDomain(r.chainId, r.trainingPool), { jobId: 1, round, rewardsRoot: r.rewardsRoot, updatesRoot: r.updatesRoot, modelHash: r.modelHash, total: BigInt(r.total) }, r.signature);
    t.equal(signer, r.evaluator, "the commitment is the evaluator's");
    const nearCopies = r.updates.filter((u: { contributor: string }) => [freeRider, ...sybils].some((p) => p.wallet.address === u.contributor));
    t.ok(nearCopies.every((u: { excluded: string | null }) => u.excluded !== null), `round ${round}: near-copies are left out of the model`);
  }
  t.ok((await accuracyOn(app, 1, test)) > 0.6, "the model still learned");
  const closedRound = await app.inject({ method: "GET", url: "/api/job/1/round/7/rewards" });
  t.equal(closedRound.json().error, "ROUND_NOT_CLOSED");
});

t.test("sybil near-copies do not close a round: it waits for useful updates", async (t) => {
  const { app } = await testApp(t);
  const requester = randomWallet();
  const draft = await readyDraft(app, requester, { settings: { minUpdates: 2, roundDeadlineSeconds: 3600 }, seed: 7, validation: 500 });
  await announceJob(app, { jobId: 1, requester: requester.address, modelHash: draft.modelHash!, rounds: 2 });
  const global = (await app.inject({ method: "GET", url: "/api/job/1/model" })).rawPayload;
  const waiting = app.events.waitFor("round:waiting");
  for (const k of [0, 1]) {
    const res = await signedInject(app, randomWallet(), { method: "POST", url: `/api/job/1/update?round=0&numSamples=1000`, body: nearCopy(global, 1e-6, k) });
    t.equal(res.statusCode, 200, "a near-copy is accepted (as a receipt)");
  }
  t.match(await waiting, { round: 0, useful: 0, required: 2 }, "two near-copies do not close the round");
  t.equal((await app.repo.getRound(1, 0))!.status, "open");
  const closed = app.events.waitFor("round:closed");
  for (const [i, s] of honestShards().slice(0, 2).entries()) {
    const res = await signedInject(app, randomWallet(), { method: "POST", url: `/api/job/1/update?round=0&numSamples=${s.count}`, body: await trainUpdate(SMALL_SPEC, global, s, i, 0.1) });
    t.equal(res.statusCode, 200);
  }
  t.equal((await closed).contributors, 2, "the round closed with the two honest updates in the model");
});

t.test("a liar about its sample count with a targeted label flip cannot buy the model", async (t) => {
  const shards = honestShards();
  const honest = (): Party[] => shards.map((s, i) => ({ wallet: randomWallet(), numSamples: s.count, update: (g, r) => trainUpdate(SMALL_SPEC, g, s, 100 * r + i, 0.1) }));
  const flipped = relabel(byLabels(train, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 3000), (y) => (y === 7 ? 1 : y));
  const liar: Party = {
    wallet: randomWallet(),
    numSamples: Number.MAX_SAFE_INTEGER,
    // It attacks a model that already learned (round 1 on), as a targeted attacker would.
    from: 1,
    update: async (g, r) => {
      const net = Network.fromWeights(SMALL_SPEC, decodeSafetensors(g).tensors);
      await net.train(flipped, { epochs: 3, batchSize: 32, lr: 0.1, seed: r });
      return encodeSafetensors(net.weights());
    },
  };
  const clean = await runJob(t, { minUpdates: 3 }, { bad: [], honest: honest() }, 3);
  const attacked = await runJob(t, { minUpdates: 3 }, { bad: [liar], honest: honest() }, 3);
  for (let round = 1; round < 3; round++) {
    const r = (await attacked.inject({ method: "GET", url: `/api/job/1/round/${round}/rewards` })).json();
    const weights = r.updates.map((u: { weight: number }) => u.weight);
    const mine = r.updates.find((u: { contributor: string }) => u.contributor === liar.wallet.address);
    t.equal(mine.weight, lowerMedian(r.updates.map((u: { claimedSamples: number }) => u.claimedSamples)), `round ${round}: the claim of 2^53-1 counts as the round's median claim`);
    t.ok(mine.weight / weights.reduce((a: number, b: number) => a + b, 0) <= 2 / r.updates.length, `round ${round}: its weight share is at most 2/K`);
    t.equal(mine.amount, "0", `round ${round}: the liar is paid nothing (score ${mine.score}, ${mine.excluded})`);
  }
  const [a, b] = [await accuracyOn(clean, 1, test), await accuracyOn(attacked, 1, test)];
  const [a7, b7] = [await accuracyOn(clean, 1, test, 7), await accuracyOn(attacked, 1, test, 7)];
  t.comment(`accuracy without the liar ${a}, with it ${b}; class 7: ${a7} vs ${b7}`);
  t.ok(Math.abs(a - b) <= 0.005, `overall accuracy within 0.5 points (${(100 * a).toFixed(2)} vs ${(100 * b).toFixed(2)})`);
  t.ok(Math.abs(a7 - b7) <= 0.02, `class 7 within 2 points (${(100 * a7).toFixed(2)} vs ${(100 * b7).toFixed(2)})`);
});

t.test("an update scaled ×1000 is left out by the default distance bound; a sign flip is paid nothing", async (t) => {
  const shards = honestShards();
  const honest: Party[] = shards.map((s, i) => ({ wallet: randomWallet(), numSamples: s.count, update: (g, r) => trainUpdate(SMALL_SPEC, g, s, 100 * r + i, 0.1) }));
  const reference = shards[0];
  const boosted: Party = { wallet: randomWallet(), numSamples: 1500, update: async (g, r) => scaled(g, await trainUpdate(SMALL_SPEC, g, reference, 50 + r, 0.1), 1000) };
  const flipped: Party = { wallet: randomWallet(), numSamples: 1500, update: async (g, r) => scaled(g, await trainUpdate(SMALL_SPEC, g, reference, 60 + r, 0.1), -1) };
  const app = await runJob(t, { minUpdates: 3 }, { bad: [boosted, flipped], honest }, 2);
  for (let round = 0; round < 2; round++) {
    const r = (await app.inject({ method: "GET", url: `/api/job/1/round/${round}/rewards` })).json();
    for (const u of r.updates) t.comment(`round ${round}: ${u.contributor.slice(0, 8)} norm ${u.deltaNorm.toFixed(3)} score ${u.score.toExponential(2)} gain ${u.gain.toExponential(2)} ${u.excluded ?? "kept"} ${u.amount}`);
    const b = r.updates.find((u: { contributor: string }) => u.contributor === boosted.wallet.address);
    const f = r.updates.find((u: { contributor: string }) => u.contributor === flipped.wallet.address);
    t.equal(b.excluded, "NORM_OUTLIER", `round ${round}: ×1000 is a distance outlier`);
    t.equal(b.amount, "0");
    t.equal(f.amount, "0", `round ${round}: the sign flip scores ${f.score} and is paid nothing`);
    t.not(f.excluded, null, `round ${round}: the sign flip is left out of the model`);
  }
  const accuracy = await accuracyOn(app, 1, test);
  t.ok(accuracy > 0.3, `the model is not broken: ${accuracy} (×1000 in the average gives about 0.1)`);
});
