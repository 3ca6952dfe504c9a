import t from "tap";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Contract, JsonRpcProvider, Network, NonceManager, Wallet, parseEther } from "ethers";
import { startLocalChain } from "../../cli/lib/chain/localChain.js";
import { deployAll } from "../../cli/lib/chain/deploy.js";
import { loadArtifact } from "../../protocol/chain/contracts.js";
import { devAccount } from "../../cli/lib/chain/accounts.js";
import { buildApp } from "../app.js";
import { mnistIdxPair, randomWallet, signedInject } from "../testing/fixtures.js";
import { decodeSafetensors, encodeSafetensors } from "../../native/safetensors.js";
import { SMALL_SPEC } from "../testing/fixtures.js";
import type { FastifyInstance } from "fastify";
import { OrchestratorEmitter } from "../events.js";

t.test("TrainingJobCreated on a real chain activates the job; attestations verify on chain; restart resumes", async (t) => {
  const chain = await startLocalChain({ port: 0 });
  t.teardown(() => chain.stop());
  const deploymentsDir = await mkdtemp(join(tmpdir(), "quackmesh-deploy-"));
  const dataDir = await mkdtemp(join(tmpdir(), "quackmesh-listener-"));
  t.teardown(() => rm(deploymentsDir, { recursive: true, force: true }));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));

  const provider = new JsonRpcProvider(chain.url, Network.from(31337), { staticNetwork: true, pollingInterval: 100, cacheTimeout: -1 });
  t.teardown(() => provider.destroy());
  const operator = new NonceManager(new Wallet(devAccount("operator").privateKey, provider));
  const deployment = await deployAll({ network: "local", rpc: chain.url, deploymentsDir }, operator);
  const requester = new Wallet(devAccount("requester").privateKey, provider);
  const contributor = new Wallet(devAccount("contributor1").privateKey, provider);
  const duck = new Contract(deployment.contracts.DuckToken, loadArtifact("DuckToken").abi, operator);
  const pool = (w: Wallet) => new Contract(deployment.contracts.TrainingPool, loadArtifact("TrainingPool").abi, w);
  await (await duck.mint(requester.address, parseEther("1000"))).wait();
  await (await (duck.connect(requester) as Contract).approve(deployment.contracts.TrainingPool, parseEther("1000"))).wait();

  const evaluatorKey = randomWallet().privateKey;
  const open = async (events?: OrchestratorEmitter): Promise<FastifyInstance> => {
    const app = await buildApp({
      dataDir,
      events,
      logger: { level: 'error' },
      evaluatorKey,
      chain: {
        chainId: 31337,
        trainingPool: deployment.contracts.TrainingPool,
        contracts: deployment.contracts,
        rpcUrl: chain.url,
        pollMs: 100,
        startBlock: deployment.block,
      },
    });
    await app.ready();
    return app;
  };

  let app = await open();
  let closed = false;
  t.teardown(() => (closed ? undefined : app.close()));
  const evaluator = app.evaluator.address;
  const { images, labels } = await mnistIdxPair("test", 200);

  async function upload(): Promise<string> {
    const created = await signedInject(app, requester, { method: "POST", url: "/api/job", body: { spec: SMALL_SPEC, seed: 42, settings: { minUpdates: 1 } } });
    t.equal(created.statusCode, 201, created.body);
    const draft = created.json();
    const ready = await signedInject(app, requester, { method: "PUT", url: draft.uploads.validation, body: Buffer.concat([images, labels]) });
    t.equal(ready.json().status, "ready");
    return draft.modelHash;
  }
  const deadline = () => Math.floor(Date.now() / 1000) + 3600;
  const terms = (modelHash: string, pool: bigint, rounds: number) => ({
    modelHash, totalRewardPool: pool, roundBudget: pool / BigInt(rounds), maxPerContributor: pool / BigInt(rounds), flatPerUpdate: parseEther("1"),
    rounds, accuracyThresholdBps: 0, evaluator, deadline: deadline(), claimWindow: 60,
  });

  const modelHash = await upload();
  const activated = app.events.waitFor("job:activated");
  await (await pool(requester).createTrainingJob(terms(modelHash, parseEther("100"), 1))).wait();
  const act = await activated;
  t.equal(act.jobId, 1, "the job id is the on-chain one");
  t.equal(act.requester, requester.address);

  // An update, attested, then verified and paid by the real TrainingPool.
  const global = (await app.inject({ method: "GET", url: "/api/job/1/model" })).rawPayload;
  const update = encodeSafetensors(decodeSafetensors(global).tensors.map((x) => ({ ...x, data: x.data.map((v) => v * 0.98) })));
  const finished = app.events.waitFor("job:finished", (e) => e.jobId === 1);
  const res = await signedInject(app, contributor, { method: "POST", url: "/api/job/1/update?round=0&numSamples=200", body: update });
  t.equal(res.statusCode, 200, res.body);
  const a = res.json();
  t.equal(await pool(contributor).verifyProof(a.jobId, a.round, a.contributor, a.updateHash, a.accuracyBps, a.numSamples, a.signature), true, "verifyProof accepts the attestation");
  t.equal(
    await pool(contributor).verifyProof(a.jobId, a.round, a.contributor, a.updateHash, a.accuracyBps + 1, a.numSamples, a.signature),
    false,
    "a changed accuracy does not verify",
  );
  const before = (await duck.balanceOf(contributor.address)) as bigint;
  await (await pool(contributor).submitUpdate(a.jobId, a.round, a.updateHash, a.accuracyBps, a.numSamples, a.signature)).wait();
  t.equal((await duck.balanceOf(contributor.address)) - before, parseEther("1"), "the contributor was paid the flat part");

  // The last round closed: its rewards are committed and claimed, and after the claim window the
  // finish proof lets anyone finish the job on chain.
  await finished;
  const r = (await app.inject({ method: "GET", url: "/api/job/1/round/0/rewards" })).json();
  await (await pool(contributor).commitRound(1, 0, r.rewardsRoot, r.updatesRoot, r.modelHash, r.total, r.updates.length, r.signature)).wait();
  const mine = r.updates[0];
  if (BigInt(mine.amount) > 0n) await (await pool(contributor).claim(1, 0, mine.leaf, mine.amount, mine.proof)).wait();
  t.equal((await duck.balanceOf(contributor.address)) - before, parseEther("1") + BigInt(mine.amount), "and then its contribution share");
  await provider.send("evm_increaseTime", [61]);
  await provider.send("evm_mine", []);
  const proof = (await app.inject({ method: "GET", url: "/api/job/1/finish-proof" })).json();
  const refundBefore = (await duck.balanceOf(requester.address)) as bigint;
  await (await pool(contributor).finishJob(1, proof.signature)).wait();
  t.equal((await duck.balanceOf(requester.address)) - refundBefore, parseEther("99") - BigInt(r.total), "unspent pool refunded");
  t.equal((await pool(requester).getJob(1)).finished, true);

  // A second draft is uploaded; the listener catches up with every event so far; then it stops.
  const modelHash2 = await upload();
  t.equal(modelHash2, modelHash, "same spec and seed: same initial model");
  const head = await provider.getBlockNumber();
  while (((await app.repo.getChainCursor("TrainingPool")) ?? 0) < head) await new Promise((r) => setTimeout(r, 50));
  t.equal(await app.metrics.chainEvents.value({ name: "TrainingJobCreated" }), 1);
  t.equal(await app.metrics.chainEvents.value({ name: "UpdateSubmitted" }), 1);
  await app.close();
  closed = true;

  // While the orchestrator is down, the second job is created on chain.
  await (await pool(requester).createTrainingJob(terms(modelHash2, parseEther("50"), 2))).wait();

  const events = new OrchestratorEmitter();
  const polled: number[] = [];
  events.on("chain:polled", (e) => e.source === "TrainingPool" && polled.push(e.events));
  const second = events.waitFor("job:activated");
  app = await open(events);
  closed = false;
  t.equal((await second).jobId, 2, "the job created while down is activated after restart");
  const head2 = await provider.getBlockNumber();
  while (((await app.repo.getChainCursor("TrainingPool")) ?? 0) < head2) await new Promise((r) => setTimeout(r, 50));
  t.equal(polled.reduce((x, y) => x + y, 0), 1, "only the new event was handled; nothing twice");
  const jobs = (await app.inject({ method: "GET", url: "/api/jobs" })).json().jobs;
  t.same(jobs.map((j: { jobId: number; status: string }) => [j.jobId, j.status]), [[1, "finished"], [2, "active"]]);
  t.same(await app.repo.unhandledChainEvents("TrainingJobCreated"), []);
});
