import t from "tap";
import { copyFile, mkdtemp, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Network } from "../../native/index.js";
import { loadDataset } from "../../native/data.js";
import { decodeSafetensors, encodeSafetensors, sha256Hex } from "../../native/safetensors.js";
import { OrchestratorClient } from "../../orchestrator/client.js";
import { contractAt } from "../../protocol/chain/contracts.js";
import { sendTx } from "../lib/chain/tx.js";
import { readChainJob } from "../lib/job/chainJob.js";
import { createJob } from "../lib/job/create.js";
import { exportModel, finishJob } from "../lib/job/finish.js";
import { verifyJob } from "../lib/job/verify.js";
import { planJob } from "../lib/job/params.js";
import { isAlive, spawnCli } from "../lib/demo/processes.js";
import type { ContributorEvent } from "../lib/contribute/events.js";
import { roundSeed, runContributor } from "../lib/contribute/runner.js";
import { ContributorState } from "../lib/contribute/state.js";
import { jobDataLoader } from "../lib/contribute/data.js";
import { runInference } from "../lib/infer/run.js";
import { AUTO_MPG_SPEC, autoMpgRows, writeRegressionCsv } from "../testkit/autoMpg.js";
import { TINY_SPEC, startTestNetwork } from "./network.js";

// The real flow: Hardhat node, contracts, orchestrator with its chain listener, contributors as
// separate `quackmesh contribute` processes (built CLI: npm run build:ts first), real MNIST.
const net = await startTestNetwork(t.teardown);
const DUCK = 10n ** 18n;
const duckOf = async (address: string) => (await net.contracts.duck.getFunction("balanceOf")(address)) as bigint;
const validation = await net.dataDir("validation", 50_000, 1000);
const shardA = await net.dataDir("a", 0, 3000);
const shardB = await net.dataDir("b", 3000, 3000);

async function newJob(o: { reward: string; roundBudget?: string; flat?: string; rounds: number; minUpdates: number; threshold: string }) {
  const plan = await planJob({
    model: net.specFile, validation, reward: o.reward, roundBudget: o.roundBudget, flatPerUpdate: o.flat,
    rounds: String(o.rounds), minUpdates: String(o.minUpdates), threshold: o.threshold, seed: "3",
    // Some cases run the pool dry on purpose (PoolExhausted, partial flat parts): job create's feasibility check is bypassed.
    force: true,
  });
  return createJob(plan, net.deps(), { pollMs: 100 });
}

async function collect(events: AsyncIterable<ContributorEvent>): Promise<ContributorEvent[]> {
  const out: ContributorEvent[] = [];
  for await (const e of events) out.push(e);
  return out;
}

t.test("two contributor processes train a job to the end: accuracy rises, contribution rewards claimed with proofs, refund exact, no process left", async (t) => {
  const job = await newJob({ reward: "100", roundBudget: "30", rounds: 3, minUpdates: 2, threshold: "0.5" });
  t.equal((await net.server.app.repo.getJob(job.jobId))?.status, "active", "the orchestrator activated the job from the chain event");
  const client = new OrchestratorClient(net.server.url);
  const initial = await client.getModel(job.jobId);
  if (initial.notModified) throw new Error("unexpected 304");
  const initialAccuracy = (await Network.fromWeights(TINY_SPEC, decodeSafetensors(initial.bytes).tensors).evaluate(await loadDataset(validation))).accuracy;

  const people = [
    { account: "contributor1", data: shardA },
    { account: "contributor2", data: shardB },
  ].map((p) => ({ ...p, address: net.wallet(p.account).address }));
  const before = await Promise.all(people.map((p) => duckOf(p.address)));
  const requesterBefore = await duckOf(net.requester.address);
  const outputs: string[][] = people.map(() => []);
  const children = people.map((p, i) =>
    spawnCli(["contribute", "--data", p.data, "--job", String(job.jobId), "--rpc", net.chain.url, "--orchestrator", net.server.url, "--account", p.account, "--json"], {
      name: p.account,
      env: net.env,
      onStdout: (line) => outputs[i].push(line),
    }),
  );
  t.teardown(() => Promise.all(children.map((c) => c.stop())));
  const exits = await Promise.all(children.map((c) => c.exited));
  exits.forEach((e, i) => t.same(e, { code: 0, signal: null }, `${people[i].account} exited cleanly: ${children[i].stderrTail()}`));

  const done = await client.getJob(job.jobId);
  t.equal(done.status, "finished");
  const accuracies = done.history.map((r) => r.accuracy!);
  t.equal(accuracies.length, 3);
  t.ok(accuracies[0] > initialAccuracy, `round 0 (${accuracies[0]}) beats the initial model (${initialAccuracy})`);
  t.ok(accuracies[2] > accuracies[0], `accuracy rises over the rounds: ${accuracies.join(" → ")}`);

  let committed = 0n;
  const owed = new Map<string, bigint>();
  for (let round = 0; round < 3; round++) {
    const r = await client.roundRewards(job.jobId, round);
    committed += BigInt(r.total);
    t.ok(BigInt(r.total) <= 30n * DUCK, `round ${round}: the commitment stays within the round budget`);
    t.equal(await net.contracts.trainingPool.getFunction("isRoundCommitted")(job.jobId, round), BigInt(r.total) > 0n, `round ${round}: committed on chain by a claiming contributor`);
    for (const u of r.updates) owed.set(u.contributor, (owed.get(u.contributor) ?? 0n) + BigInt(u.amount));
  }
  t.ok(committed > 0n, `contributors were paid for their contributions: ${committed} wei`);
  for (const [i, p] of people.entries()) {
    const events = outputs[i].map((l) => JSON.parse(l) as { event: string; amount?: string; round?: number });
    t.same(events.filter((e) => e.event === "submitted").map((e) => e.round), [0, 1, 2], `${p.account} sent its receipt on chain every round once`);
    const rewarded = events.filter((e) => e.event === "rewarded");
    t.same(rewarded.map((e) => e.round), [0, 1, 2], `${p.account} settled every round's reward once`);
    const claimed = rewarded.reduce((s, e) => s + BigInt(e.amount!), 0n);
    t.equal(claimed, owed.get(p.address) ?? 0n, `${p.account} claimed exactly what the commitments owe it`);
    t.equal((await duckOf(p.address)) - before[i], claimed, `${p.account}'s balance grew by exactly its claims`);
  }
  const finished = await finishJob({ client: net.deps().client, pool: net.contracts.trainingPool }, job.jobId);
  t.equal(finished.refund, 100n * DUCK - committed, "refund = pool − what was committed (every commitment claimed)");
  t.equal((await duckOf(net.requester.address)) - requesterBefore, finished.refund, "the requester got exactly the refund");
  const onChain = await readChainJob(net.contracts.trainingPool, job.jobId);
  t.match(onChain, { finished: true, remaining: 0n });

  // Every round replays: the requester checks them all, a contributor learns what it was owed, a stranger gets nothing.
  const verify = async (...args: string[]) => {
    const stdout: string[] = [];
    const child = spawnCli(["job", "verify", String(job.jobId), "--rpc", net.chain.url, "--orchestrator", net.server.url, "--json", ...args], { name: "verify", env: net.env, onStdout: (l) => stdout.push(l) });
    const exit = await child.exited;
    return { code: exit.code, out: stdout.length ? JSON.parse(stdout.at(-1)!) : null, stderr: child.stderrTail() };
  };
  const all = await verify();
  t.equal(all.code, 0, `job verify as the requester: ${all.stderr}`);
  t.same(all.out.rounds.map((r: { round: number; ok: boolean; committed: boolean }) => [r.round, r.ok, r.committed]), [[0, true, true], [1, true, true], [2, true, true]], "every round reproduces its model, roots and split, and matches its on-chain commitment");
  t.ok(all.out.rounds.every((r: { checks: Array<{ name: string }> }) => ["model", "updates root", "split", "signature", "on-chain rewards", "on-chain model"].every((n) => r.checks.some((c) => c.name === n))), "each round ran every check");
  const own = await verify("--round", "0", "--account", "contributor1");
  t.equal(own.code, 0, own.stderr);
  const mine = own.out.rounds[0].mine;
  const published = (await client.roundRewards(job.jobId, 0)).updates.find((u) => u.contributor === people[0].address)!;
  t.same([mine.updateHash, mine.counted, mine.amount, mine.claimed], [published.updateHash, published.excluded === null, published.amount, BigInt(published.amount) > 0n], "the contributor is told whether it was counted, what it was owed and that it claimed it");
  const stranger = new OrchestratorClient(net.server.url, { signer: net.wallet("contributor3") });
  await t.rejects(stranger.roundUpdate(job.jobId, 0, published.updateHash), { code: "NOT_ROUND_PARTICIPANT" }, "a stranger cannot download a round's updates");
  // An orchestrator that serves other bytes than it aggregated (here: round 0's update in round 2's place) is caught.
  const [r0, r2] = [await client.roundRewards(job.jobId, 0), await client.roundRewards(job.jobId, 2)];
  const swapped = r2.updates.find((u) => u.excluded === null)!;
  await copyFile(net.server.app.blobs.path(r0.updates[0].updateHash), net.server.app.blobs.path(swapped.updateHash));
  const lied = await verifyJob({ client: net.deps().client, pool: net.contracts.trainingPool, chainId: net.chain.chainId, caller: net.requester.address }, job.jobId, { round: 2 });
  t.equal(lied.ok, false, "the replay of the changed round fails");
  t.same(lied.rounds[0].checks.filter((c) => !c.ok).map((c) => c.name), ["update files", "model", "distances", "on-chain model"], "the changed file, the model and distance it gives and the chain's model hash disagree");

  const exported = await exportModel(client, job.jobId, join(net.dir, "final.safetensors"));
  t.same(exported.tensors.map((x) => x.name), ["0.weight", "0.bias", "2.weight", "2.bias"], "PyTorch nn.Sequential names");
  t.equal(exported.modelHash, done.modelHash);
  for (const c of children) t.notOk(isAlive(c.pid), `pid ${c.pid} is gone`);
});

t.test("refusals: below threshold is not paid, a second update or claim in a round is refused, a replayed attestation fails on chain", async (t) => {
  const job = await newJob({ reward: "50", flat: "5", rounds: 2, minUpdates: 2, threshold: "0.5" });
  const garbage = await loadDataset(await net.dataDir("garbage", 6000, 3000, (y) => (y + 1) % 10));
  const mallory = net.wallet("contributor3");
  const malloryBefore = await duckOf(mallory.address);
  const refused = await collect(
    runContributor({
      client: new OrchestratorClient(net.server.url, { signer: mallory }),
      address: mallory.address,
      chain: { trainingPool: contractAt("TrainingPool", net.deployment.contracts.TrainingPool, mallory), duck: net.contracts.duck, provider: net.provider },
      data: garbage,
      jobId: job.jobId,
      submitOnChain: true,
      maxRounds: 1,
    }),
  );
  t.match(refused.find((e) => e.event === "refused"), { stage: "orchestrator", code: "BELOW_THRESHOLD", round: 0, fatal: false });
  t.notOk(refused.some((e) => e.event === "submitted"), "nothing claimed");
  t.equal(await duckOf(mallory.address), malloryBefore, "balance unchanged");

  const alice = net.wallet("contributor1");
  const aliceClient = new OrchestratorClient(net.server.url, { signer: alice });
  const model = await aliceClient.getModel(job.jobId);
  if (model.notModified) throw new Error("unexpected 304");
  const trainOn = async (seed: number) => {
    const n = Network.fromWeights(TINY_SPEC, decodeSafetensors(model.bytes).tensors);
    await n.train(await loadDataset(shardA), { epochs: 1, batchSize: 64, lr: 0.1, momentum: 0.9, seed });
    return encodeSafetensors(n.weights(), { format: "pt" });
  };
  const att = await aliceClient.submitUpdate(job.jobId, 0, 3000, await trainOn(1));
  const pool = contractAt("TrainingPool", net.deployment.contracts.TrainingPool, alice);
  const args = [att.jobId, att.round, att.updateHash, att.accuracyBps, att.numSamples, att.signature];
  const aliceBefore = await duckOf(alice.address);
  await sendTx(pool, "submitUpdate", args);
  t.equal((await duckOf(alice.address)) - aliceBefore, 5n * DUCK, "the attested update is paid its flat part");

  await t.rejects(aliceClient.submitUpdate(job.jobId, 0, 3000, await trainOn(2)), { code: "DUPLICATE_UPDATE" }, "the orchestrator refuses a second update in the round");
  await t.rejects(sendTx(pool, "submitUpdate", args), { code: "TX_REVERTED", details: { error: "AlreadySubmitted" } }, "the contract refuses a second claim");
  t.equal((await duckOf(alice.address)) - aliceBefore, 5n * DUCK, "paid once");

  const eve = net.wallet("contributor4");
  const eveBefore = await duckOf(eve.address);
  const replay = sendTx(contractAt("TrainingPool", net.deployment.contracts.TrainingPool, eve), "submitUpdate", args);
  await t.rejects(replay, { code: "TX_REVERTED", details: { error: "InvalidAttestation", args: { contributor: eve.address } } }, "another address cannot use the attestation");
  t.equal(await duckOf(eve.address), eveBefore);
});

t.test("after a crash the contributor resends the unanswered update and claims it once", async (t) => {
  const job = await newJob({ reward: "20", flat: "4", rounds: 1, minUpdates: 1, threshold: "0.5" });
  const bob = net.wallet("contributor2");
  const client = new OrchestratorClient(net.server.url, { signer: bob });
  const stateFile = join(await mkdtemp(join(net.dir, "state-")), `31337-${job.jobId}-${bob.address}.json`);
  // The crash: bytes kept as pending, sent, and the answer lost before it was stored.
  const model = await client.getModel(job.jobId);
  if (model.notModified) throw new Error("unexpected 304");
  const n = Network.fromWeights(TINY_SPEC, decodeSafetensors(model.bytes).tensors);
  await n.train(await loadDataset(shardB), { epochs: 1, batchSize: 64, lr: 0.1, seed: 5 });
  const bytes = encodeSafetensors(n.weights(), { format: "pt" });
  await (await ContributorState.open(stateFile, { jobId: job.jobId, address: bob.address })).setPending(0, 2700, bytes);
  const lost = await client.submitUpdate(job.jobId, 0, 2700, bytes);

  const before = await duckOf(bob.address);
  const run = () =>
    collect(
      runContributor({
        client,
        address: bob.address,
        chain: { trainingPool: contractAt("TrainingPool", net.deployment.contracts.TrainingPool, bob), duck: net.contracts.duck, provider: net.provider },
        data: { count: 1, features: 784, x: new Float32Array(784), y: new Uint8Array(1) },
        jobId: job.jobId,
        train: { holdout: 0 },
        submitOnChain: true,
        stateFile,
      }),
    );
  const first = await run();
  t.same(first.map((e) => e.event), ["terms", "started", "resumed", "attested", "resumed", "submitted", "rewarded", "finished"]);
  t.match(first.find((e) => e.event === "attested"), { updateHash: lost.updateHash, accuracyBps: lost.accuracyBps }, "the same attestation as the lost answer");
  const share = (first.find((e) => e.event === "rewarded") as { amount: bigint }).amount;
  t.equal(share, 16n * DUCK, "the only useful update gets the round's budget: 20 − the 4 of its flat part");
  t.equal((await duckOf(bob.address)) - before, 4n * DUCK + share);
  // The whole pool is paid out now: a second run is told so before any work, and nothing moves.
  await t.rejects(run(), { code: "POOL_EXHAUSTED" });
  const state = await ContributorState.open(stateFile, { jobId: job.jobId, address: bob.address });
  t.equal(state.paid, 4n * DUCK + share, "the state file records both payments");
  t.same(state.unsettled(), [], "nothing left to settle");
  t.equal((await duckOf(bob.address)) - before, 4n * DUCK + share, "paid once");
});

t.test("when the pool is spent the contributor is told why and stops", async (t) => {
  const job = await newJob({ reward: "4", roundBudget: "4", flat: "4", rounds: 2, minUpdates: 1, threshold: "0.5" });
  const carol = net.wallet("contributor3");
  const before = await duckOf(carol.address);
  const events = await collect(
    runContributor({
      client: new OrchestratorClient(net.server.url, { signer: carol }),
      address: carol.address,
      chain: { trainingPool: contractAt("TrainingPool", net.deployment.contracts.TrainingPool, carol), duck: net.contracts.duck, provider: net.provider },
      data: await loadDataset(shardA),
      jobId: job.jobId,
      submitOnChain: true,
    }),
  );
  t.match(events.find((e) => e.event === "submitted"), { round: 0, reward: 4n * DUCK });
  t.match(events.find((e) => e.event === "refused"), { round: 1, stage: "chain", code: "PoolExhausted", fatal: true, message: /reward pool is spent/ });
  t.match(events.at(-1), { event: "finished", reason: "job-closed", totalReward: 4n * DUCK });
  t.equal((await duckOf(carol.address)) - before, 4n * DUCK);
});

t.test("the contributor trains the job's own spec, input standardization included", async (t) => {
  const normalized = { ...TINY_SPEC, normalize: { mean: 0.1307, std: 0.3081 } };
  const specFile = join(net.dir, "normalized.json");
  await writeFile(specFile, JSON.stringify(normalized));
  const plan = await planJob({ model: specFile, validation, reward: "10", rounds: "1", minUpdates: "1", threshold: "0.5", seed: "4" });
  const job = await createJob(plan, net.deps(), { pollMs: 100 });
  const dave = net.wallet("contributor4");
  const client = new OrchestratorClient(net.server.url, { signer: dave });
  t.same((await client.getJob(job.jobId)).spec, normalized, "the orchestrator publishes the spec");
  const initial = await client.getModel(job.jobId);
  if (initial.notModified) throw new Error("unexpected 304");
  const data = await loadDataset(shardB);
  const events = await collect(
    runContributor({
      client,
      address: dave.address,
      chain: { trainingPool: contractAt("TrainingPool", net.deployment.contracts.TrainingPool, dave), provider: net.provider },
      data,
      jobId: job.jobId,
      train: { holdout: 0 },
      submitOnChain: true,
    }),
  );
  const attested = events.find((e) => e.event === "attested");
  // The same training with the same seed, by hand, on the standardized model: the same bytes.
  const n = Network.fromWeights(normalized, decodeSafetensors(initial.bytes).tensors);
  await n.train(data, { epochs: 1, batchSize: 64, lr: 0.1, momentum: 0.9, seed: roundSeed(job.jobId, 0, dave.address) });
  t.match(attested, { round: 0, updateHash: sha256Hex(encodeSafetensors(n.weights(), { format: "pt" })) });
});

t.test("a regression job (Auto MPG, \"loss\":\"mse\"): two contributor processes, 2 rounds, R² rises, paid by contribution; labels refused before any work", async (t) => {
  const rows = await autoMpgRows();
  const rest = rows.filter((_, i) => i % 4 !== 0);
  const mpgValidation = await writeRegressionCsv(join(net.dir, "mpg-validation.csv"), rows.filter((_, i) => i % 4 === 0));
  const halves = await Promise.all([0, 1].map((k) => writeRegressionCsv(join(net.dir, `mpg-${k}.csv`), rest.filter((_, i) => i % 2 === k))));
  const specFile = join(net.dir, "mpg.json");
  await writeFile(specFile, JSON.stringify(AUTO_MPG_SPEC));
  const input = { model: specFile, validation: mpgValidation, reward: "20", rounds: "2", minUpdates: "2", threshold: "0.3", seed: "3" };
  // Refusals before anything is spent: class labels for a regression, float targets for a classifier.
  await t.rejects(planJob({ ...input, validation }), { code: "BAD_DATA", message: /IDX data set, whose labels are classes; a regression model \(spec\.loss "mse"\)/ });
  await t.rejects(planJob({ ...input, model: net.specFile }), { code: "BAD_DATA", message: /label "\d+(\.\d+)?" is not a class number/, fix: /"loss":"mse"/ });
  const plan = await planJob(input);
  t.equal(plan.initialAccuracy, 0, "the random initial model's R² is below 0: 0 as the threshold reads it");
  const job = await createJob(plan, net.deps(), { pollMs: 100 });
  const client = new OrchestratorClient(net.server.url);
  const people = ["contributor1", "contributor2"].map((account, i) => ({ account, data: halves[i], address: net.wallet(account).address }));
  const before = await Promise.all(people.map((p) => duckOf(p.address)));
  // MNIST's labels are not this job's targets: refused once the job's spec is read, before training.
  const labelled = collect(runContributor({ client, address: people[0].address, data: await jobDataLoader(shardA), jobId: job.jobId, submitOnChain: false }));
  await t.rejects(labelled, { code: "BAD_DATA", message: /IDX data set, whose labels are classes/ });
  const viaTrainer = collect(runContributor({ client, address: people[0].address, data: await jobDataLoader(halves[0]), jobId: job.jobId, trainer: { argv: ["/bin/true"], timeoutMs: 1000 }, submitOnChain: false }));
  await t.rejects(viaTrainer, { code: "UNSUPPORTED_MODEL", message: /regression .* class labels only/ }, "--trainer programs get labels only: refused before training");

  const outputs: string[][] = people.map(() => []);
  const children = people.map((p, i) =>
    spawnCli(["contribute", "--data", p.data, "--job", String(job.jobId), "--rpc", net.chain.url, "--orchestrator", net.server.url, "--account", p.account, "--json",
      "--epochs", "5", "--batch", "16", "--lr", "0.001", "--momentum", "0.9"], { name: p.account, env: net.env, onStdout: (line) => outputs[i].push(line) }),
  );
  t.teardown(() => Promise.all(children.map((c) => c.stop())));
  const exits = await Promise.all(children.map((c) => c.exited));
  exits.forEach((e, i) => t.same(e, { code: 0, signal: null }, `${people[i].account} exited cleanly: ${children[i].stderrTail()}`));

  const done = await client.getJob(job.jobId);
  const r2 = done.history.map((r) => r.accuracy!);
  t.equal(done.status, "finished");
  t.ok(r2[0] > 0.3 && r2[1] > r2[0], `R² rises: initial < 0 → ${r2.map((v) => v.toFixed(3)).join(" → ")}`);
  let committed = 0n;
  for (let round = 0; round < 2; round++) {
    const r = await client.roundRewards(job.jobId, round);
    committed += BigInt(r.total);
    t.same(r.updates.map((u) => u.excluded), [null, null], `round ${round}: both updates kept`);
    const [u, v] = r.updates;
    t.ok(u.score > 0 && v.score > 0 && BigInt(u.amount) > 0n && BigInt(v.amount) > 0n, `round ${round}: both paid, ${u.amount} and ${v.amount} wei for scores ${u.score.toFixed(4)} and ${v.score.toFixed(4)}`);
    t.equal((BigInt(u.amount) > BigInt(v.amount)) === (u.score > v.score), true, `round ${round}: the larger contribution is paid more`);
  }
  t.ok(committed > 0n && committed <= 20n * DUCK);
  for (const [i, p] of people.entries()) {
    const events = outputs[i].map((l) => JSON.parse(l) as { event: string; amount?: string; accuracyBps?: number; holdoutAccuracy?: number });
    const holdout = events.filter((e) => e.event === "trained").map((e) => e.holdoutAccuracy!);
    t.ok(holdout.length === 2 && holdout.every((r) => r > 0 && r <= 1), `${p.account}: its own check on its held-out cars is an R² too (${holdout.map((r) => r.toFixed(3)).join(", ")})`);
    const attested = events.filter((e) => e.event === "attested");
    t.ok(attested.length === 2 && attested.every((e) => e.accuracyBps! >= 3000 && e.accuracyBps! <= 10000), `${p.account}: each update attested with R² in basis points ≥ the threshold (${attested.map((e) => e.accuracyBps).join(", ")})`);
    const claimed = events.filter((e) => e.event === "rewarded").reduce((s, e) => s + BigInt(e.amount!), 0n);
    t.equal((await duckOf(p.address)) - before[i], claimed, `${p.account} was paid its claims: ${claimed} wei`);
  }
  const verified = await verifyJob({ client: net.deps().client, pool: net.contracts.trainingPool, chainId: net.chain.chainId, caller: net.requester.address }, job.jobId, {});
  t.equal(verified.ok, true, "job verify replays both rounds: model, roots, split, signatures, chain");
  // Paid inference on the trained model answers with outputs (mpg), not classes; on the validation set it gives the last round's R².
  const inferred = await runInference(
    { jobId: job.jobId, input: mpgValidation, maxPayment: 5n * DUCK, out: join(net.dir, "mpg-predictions.json") },
    { signer: net.requester, provider: net.provider, contracts: net.contracts, chainId: net.chain.chainId, client: new OrchestratorClient(net.server.url, { signer: net.requester }) },
  );
  t.equal(inferred.predicts, "outputs");
  t.ok(Math.abs(inferred.regression!.r2 - r2[1]) < 1e-9, `R² of the predictions against the targets ${inferred.regression!.r2.toFixed(4)} = the last round's`);
  const written = JSON.parse(await readFile(inferred.out, "utf8")) as { r2: number; predictions: Array<{ outputs: number[]; targets: number[]; class?: number }> };
  t.same([written.predictions.length, written.predictions[0].outputs.length, written.predictions[0].targets, written.predictions[0].class], [98, 1, [rows[0][0]], undefined], "one output per car beside its mpg, no class");
});
