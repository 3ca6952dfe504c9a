// Pay for useful work, end to end: a Hardhat node, the contracts, the orchestrator with its chain
// listener, honest `quackmesh contribute` processes, and attackers with a client that is not the
// project's. Two jobs, as the tests are two:
//  - three honest contributors on non-IID shards, a mislabelled trainer, a near-copy free rider and
//    five sybil near-copies, 3 rounds: only the honest are paid, each round's amounts add up to its
//    on-chain commitment and the honest processes claim exactly theirs, `job verify` reproduces every
//    commitment, a stranger holding the finish proof cannot finish inside the claim window, and what
//    is committed stays claimable after the finish;
//  - three honest contributors on shards of every class and, from round 1, a liar claiming 2^53 − 1
//    samples for a targeted 7 → 1 flip: its weight stays under the median claim, it is left out as
//    HARMFUL and paid nothing, and each round's model is the one the round has without it.
import t, { type Test } from "tap";
import { mkdtemp } from "node:fs/promises";
import { join } from "node:path";
import type { Wallet } from "ethers";
import { Network } from "../../native/index.js";
import { loadMnist, subset, writeIdx } from "../../native/data.js";
import { decodeSafetensors, encodeSafetensors } from "../../native/safetensors.js";
import type { Dataset } from "../../native/types.js";
import { OrchestratorClient } from "../../orchestrator/client.js";
import { replayRound } from "../../orchestrator/index.js";
import { lowerMedian } from "../../orchestrator/rounds/contribution.js";
import { randomWallet } from "../../orchestrator/testing/fixtures.js";
import { sendTx } from "../lib/chain/tx.js";
import { readChainJob, revertName } from "../lib/job/chainJob.js";
import { createJob } from "../lib/job/create.js";
import { planJob } from "../lib/job/params.js";
import { isAlive, spawnCli, type CliChild } from "../lib/demo/processes.js";
import { TINY_SPEC, startTestNetwork } from "./network.js";

const DUCK = 10n ** 18n;
const ROUNDS = 3;
const net = await startTestNetwork(t.teardown);
const duckOf = async (address: string) => (await net.contracts.duck.getFunction("balanceOf")(address)) as bigint;
const train = await loadMnist("train", { limit: 20_000 });
const test = await loadMnist("test", { limit: 2000 });

/** Samples of `ds` whose label is in `labels`, at most `n`, from index `from` on. */
function byLabels(ds: Dataset, labels: number[], n: number, from = 0): Dataset {
  const idx: number[] = [];
  for (let i = from; i < ds.count && idx.length < n; i++) if (labels.includes(ds.y[i])) idx.push(i);
  return subset(ds, idx);
}
const relabel = (ds: Dataset, f: (y: number, i: number) => number): Dataset => ({ ...ds, y: Uint8Array.from(ds.y, (y, i) => f(y, i)) });

async function accuracy(model: Uint8Array, label?: number): Promise<number> {
  const net = Network.fromWeights(TINY_SPEC, decodeSafetensors(model).tensors);
  return (await net.evaluate(label === undefined ? test : byLabels(test, [label], test.count))).accuracy;
}

/** global + N(0, 1e-6)-sized noise: a near-copy that never trained. */
function nearCopy(global: Uint8Array, seed: number): Buffer {
  let s = seed >>> 0;
  const rnd = () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32) - 0.5;
  return encodeSafetensors(decodeSafetensors(global).tensors.map((x) => ({ ...x, data: x.data.map((v) => v + 3.4e-6 * rnd()) })));
}

async function trained(global: Uint8Array, data: Dataset, epochs: number, seed: number): Promise<Buffer> {
  const m = Network.fromWeights(TINY_SPEC, decodeSafetensors(global).tensors);
  await m.train(data, { epochs, batchSize: 32, lr: 0.1, seed });
  return encodeSafetensors(m.weights(), { format: "pt" });
}

interface Attacker {
  wallet: Wallet;
  numSamples: number;
  from: number;
  make(global: Uint8Array, round: number): Promise<Buffer>;
}

interface Sent {
  round: number;
  attacker: Attacker;
  outcome: string;
}

/**
 * Creates a job and runs it to its end: the attackers send first in every round (the honest
 * processes are paused with SIGSTOP from the moment a round opens until every attacker's update is
 * in, so the round cannot close before them), then a `contribute` process per shard.
 */
async function runJob(t: Test, shards: number[][], attackers: Attacker[], minUpdates: number): Promise<{ jobId: number; sent: Sent[]; children: CliChild[] }> {
  const validation = await net.dataDir("validation", 50_000, 1000);
  const dirs = await Promise.all(shards.map(async (labels, i) => {
    const dir = await mkdtemp(join(net.dir, "data-"));
    await writeIdx(dir, byLabels(train, labels, 1500, 5000 * i), "train");
    return dir;
  }));
  // A claim window keeps strangers from finishing.
  const plan = await planJob({ model: net.specFile, validation, reward: "90", roundBudget: "30", rounds: String(ROUNDS), minUpdates: String(minUpdates), threshold: "0.3", seed: "3", claimWindow: "3600", roundDeadline: "60" });
  const { jobId } = await createJob(plan, net.deps(), { pollMs: 100 });
  const requesterClient = net.deps().client;
  const clients = new Map(attackers.map((a) => [a, new OrchestratorClient(net.server.url, { signer: a.wallet })]));
  const sent: Sent[] = [];
  const attack = async (round: number) => {
    const model = await requesterClient.getModel(jobId);
    if (model.notModified) throw new Error("unexpected 304");
    for (const a of attackers) {
      if (round < a.from) continue;
      try {
        await clients.get(a)!.submitUpdate(jobId, round, a.numSamples, await a.make(model.bytes, round));
        sent.push({ round, attacker: a, outcome: "accepted" });
      } catch (err) {
        sent.push({ round, attacker: a, outcome: (err as { code?: string }).code ?? String(err) });
      }
    }
  };
  const children: CliChild[] = [];
  const pending: Promise<void>[] = [];
  const stopListening = net.server.app.events.on("round:opened", (e) => {
    if (e.jobId !== jobId) return;
    const signal = (sig: NodeJS.Signals) => children.forEach((c) => isAlive(c.pid) && process.kill(c.pid, sig));
    signal("SIGSTOP");
    pending.push(attack(e.round).finally(() => signal("SIGCONT")));
  });
  await attack(0);
  for (const [i, dir] of dirs.entries()) {
    children.push(spawnCli(["contribute", "--data", dir, "--job", String(jobId), "--rpc", net.chain.url, "--orchestrator", net.server.url, "--account", HONEST[i], "--json"], { name: HONEST[i], env: net.env }));
  }
  t.teardown(() => Promise.all(children.map((c) => c.stop())));
  const exits = await Promise.all(children.map((c) => c.exited));
  exits.forEach((e, i) => t.same(e, { code: 0, signal: null }, `${HONEST[i]} exited cleanly: ${children[i].stderrTail()}`));
  await Promise.all(pending);
  stopListening();
  return { jobId, sent, children };
}

const HONEST = ["contributor1", "contributor2", "contributor3"];
const honest = new Set(HONEST.map((a) => net.wallet(a).address));
/** What each honest contributor holds: 1,500 samples of these classes. */
const NON_IID = [[0, 1, 2, 3, 4, 5, 6], [3, 4, 5, 6, 7, 8, 9], [0, 1, 2, 4, 6, 7, 8, 9]];
const EVERY_CLASS = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];

t.test("three honest contributors, a mislabelled one, a free rider and five sybils: only the honest are paid, every round replays", async (t) => {
  const shuffled = relabel(byLabels(train, EVERY_CLASS, 1500, 15_000), (_, i) => (i * 7 + 3) % 10);
  const mislabelled: Attacker = { wallet: randomWallet(), numSamples: 1500, from: 0, make: (g, r) => trained(g, shuffled, 1, r) };
  const freeRider: Attacker = { wallet: randomWallet(), numSamples: 1500, from: 0, make: async (g, r) => nearCopy(g, 1000 + r) };
  const sybils: Attacker[] = Array.from({ length: 5 }, (_, k) => ({ wallet: randomWallet(), numSamples: 1500, from: 0, make: async (g, r) => nearCopy(g, 2000 + 10 * k + r) }));
  // minUpdates 3: the round closes on the third useful update.
  const { jobId, sent, children } = await runJob(t, NON_IID, [mislabelled, freeRider, ...sybils], 3);
  t.ok(sent.filter((s) => s.round > 0 && sybils.includes(s.attacker)).every((s) => s.outcome === "accepted"), "the sybils' near-copies were accepted once the model passed the threshold");

  const requesterClient = net.deps().client;
  const names = new Map<string, string>([[mislabelled.wallet.address, "mislabelled"], [freeRider.wallet.address, "free rider"], ...sybils.map((s, k) => [s.wallet.address, `sybil ${k}`] as [string, string])]);
  const pool = net.contracts.trainingPool;
  let committed = 0n;
  let unclaimed = 0n;
  for (let round = 0; round < ROUNDS; round++) {
    const r = await requesterClient.roundRewards(jobId, round);
    const paid = r.updates.reduce((a, u) => a + BigInt(u.amount), 0n);
    const toHonest = r.updates.filter((u) => honest.has(u.contributor)).reduce((a, u) => a + BigInt(u.amount), 0n);
    for (const u of r.updates) t.comment(`round ${round}: ${names.get(u.contributor) ?? "honest"} weight ${u.weight} norm ${u.deltaNorm.toFixed(3)} score ${u.score.toExponential(2)} gain ${u.gain.toExponential(2)} ${u.excluded ?? "counted"} ${u.amount}`);
    t.ok(paid > 0n && paid <= 30n * DUCK, `round ${round}: ${paid} wei paid, within the round budget`);
    t.ok(toHonest * 10n >= paid * 9n, `round ${round}: the honest three got ${toHonest} of ${paid}`);
    for (const u of r.updates.filter((u) => !honest.has(u.contributor))) {
      t.equal(u.amount, "0", `round ${round}: the ${names.get(u.contributor)} (${u.excluded ?? "counted"}, score ${u.score.toExponential(2)}) is paid nothing`);
    }
    const [, total, claimed] = (await pool.getFunction("getRoundCommitment")(jobId, round)) as bigint[];
    t.equal(total, paid, `round ${round}: the amounts add up to the total committed on chain`);
    t.equal(claimed, toHonest, `round ${round}: the honest processes claimed exactly their amounts`);
    committed += paid;
    unclaimed += paid - toHonest;
  }

  const verified: string[] = [];
  const verify = spawnCli(["job", "verify", String(jobId), "--rpc", net.chain.url, "--orchestrator", net.server.url, "--json"], { name: "verify", env: net.env, onStdout: (l) => verified.push(l) });
  t.same(await verify.exited, { code: 0, signal: null }, `job verify: ${verify.stderrTail()}`);
  const report = JSON.parse(verified.at(-1)!) as { rounds: Array<{ round: number; ok: boolean; committed: boolean }> };
  t.same(report.rounds.map((r) => [r.round, r.ok, r.committed]), [[0, true, true], [1, true, true], [2, true, true]], "job verify reproduces every round's model, roots and split and finds them on chain");

  // A stranger with the evaluator's finish proof, inside the claim window.
  const stranger = net.wallet("provider1");
  const proof = await requesterClient.finishProof(jobId);
  const before = await readChainJob(pool, jobId);
  const tryFinish = () => sendTx(pool.connect(stranger) as typeof pool, "finishJob", [jobId, proof.signature]).then(() => null, (err: unknown) => revertName(err) ?? String(err));
  t.equal(await tryFinish(), "ClaimWindowOpen", "the stranger cannot finish the job inside the claim window");
  t.same(await readChainJob(pool, jobId), before, "and changed nothing");
  const requesterBefore = await duckOf(net.requester.address);
  await net.provider.send("evm_increaseTime", [3601]);
  await net.provider.send("evm_mine", []);
  t.equal(await tryFinish(), null, "once the window closed, anyone may finish with the proof");
  const after = await readChainJob(pool, jobId);
  t.match(after, { finished: true, outstanding: unclaimed, remaining: unclaimed }, "what is committed and unclaimed stays in the pool, claimable");
  t.equal((await duckOf(net.requester.address)) - requesterBefore, 90n * DUCK - committed, "the requester got back exactly the uncommitted rest");
  for (const c of children) t.notOk(isAlive(c.pid), `pid ${c.pid} is gone`);
});

t.test("a liar claiming 2^53 − 1 samples for a targeted 7 → 1 flip: capped, left out as HARMFUL, paid nothing, the model is the one without it", async (t) => {
  const flipped = relabel(byLabels(train, EVERY_CLASS, 3000, 16_500), (y) => (y === 7 ? 1 : y));
  // It attacks a model that already learned, as a targeted attacker would.
  const liar: Attacker = { wallet: randomWallet(), numSamples: Number.MAX_SAFE_INTEGER, from: 1, make: (g, r) => trained(g, flipped, 3, r) };
  // minUpdates 2: a round closes on two useful updates, so an honest update that leave-one-out finds useless cannot hold it to its deadline.
  const { jobId, sent } = await runJob(t, [EVERY_CLASS, EVERY_CLASS, EVERY_CLASS], [liar], 2);
  t.same(sent.map((s) => [s.round, s.outcome]), [[1, "accepted"], [2, "accepted"]], "the liar's updates were accepted (its own model scores above the threshold)");

  const requesterClient = net.deps().client;
  for (let round = liar.from; round < ROUNDS; round++) {
    const r = await requesterClient.roundRewards(jobId, round);
    const paid = r.updates.reduce((a, u) => a + BigInt(u.amount), 0n);
    const toHonest = r.updates.filter((u) => honest.has(u.contributor)).reduce((a, u) => a + BigInt(u.amount), 0n);
    for (const u of r.updates) t.comment(`round ${round}: ${u.contributor === liar.wallet.address ? "liar" : "honest"} weight ${u.weight} score ${u.score.toExponential(2)} ${u.excluded ?? "counted"} ${u.amount}`);
    const lie = r.updates.find((u) => u.contributor === liar.wallet.address)!;
    const kept = r.updates.filter((u) => u.excluded !== "NORM_OUTLIER");
    t.ok(lie.weight <= lowerMedian(kept.map((u) => u.claimedSamples)), `round ${round}: the claim of 2^53 − 1 weighs at most the round's median claim (${lie.weight})`);
    t.equal(lie.excluded, "HARMFUL", `round ${round}: the flip is left out of the model as HARMFUL`);
    t.equal(lie.amount, "0", `round ${round}: the liar is paid nothing`);
    t.ok(paid > 0n && toHonest === paid, `round ${round}: the honest three got all ${paid} wei paid`);

    // The same round without the liar's update (weights capped at the median of the other claims): the accuracy it would have had.
    const input = await requesterClient.roundInputModel(jobId, round);
    const others = r.updates.filter((u) => u !== lie);
    const cap = lowerMedian(others.filter((u) => u.excluded !== "NORM_OUTLIER").map((u) => u.claimedSamples));
    const files = await Promise.all(others.map(async (u) => ({ ...u, weight: Math.min(u.claimedSamples, cap), bytes: await requesterClient.roundUpdate(jobId, round, u.updateHash) })));
    const without = await replayRound({ round, settings: (await requesterClient.getJob(jobId)).settings, inputModel: input, updates: files });
    const model = await net.server.app.blobs.get(r.modelHash);
    const [a, b, a7, b7] = [await accuracy(without.model), await accuracy(model), await accuracy(without.model, 7), await accuracy(model, 7)];
    t.ok(Math.abs(a - b) <= 0.005 && Math.abs(a7 - b7) <= 0.02, `round ${round}: test accuracy without the liar ${a} (class 7: ${a7}), with it ${b} (${b7})`);
  }
});
