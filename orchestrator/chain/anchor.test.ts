import t from "tap";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Contract, JsonRpcProvider, Network, NonceManager, Wallet, parseEther } from "ethers";
import type { FastifyInstance } from "fastify";
import { startLocalChain, type LocalChain } from "../../cli/lib/chain/localChain.js";
import { deployAll } from "../../cli/lib/chain/deploy.js";
import { devAccount } from "../../cli/lib/chain/accounts.js";
import { loadArtifact } from "../../protocol/chain/contracts.js";
import type { Deployment } from "../../protocol/chain/deployments.js";
import { isQuackError } from "../../protocol/errors.js";
import { buildApp } from "../app.js";
import { OrchestratorEmitter } from "../events.js";
import { SMALL_SPEC, mnistIdxPair, randomWallet, signedInject, trainUpdate } from "../testing/fixtures.js";
import { ANCHOR_META_KEY, type ChainAnchor } from "./anchor.js";

/** A chain with the contracts deployed and a funded requester who approved the pool. */
async function deployedChain(t: { teardown(fn: () => unknown): void }, port = 0): Promise<{ chain: LocalChain; provider: JsonRpcProvider; deployment: Deployment; pool: (w: Wallet) => Contract }> {
  const chain = await startLocalChain({ port });
  t.teardown(() => chain.stop());
  const provider = new JsonRpcProvider(chain.url, Network.from(31337), { staticNetwork: true, pollingInterval: 100, cacheTimeout: -1 });
  t.teardown(() => provider.destroy());
  const deploymentsDir = await mkdtemp(join(tmpdir(), "quackmesh-deploy-"));
  t.teardown(() => rm(deploymentsDir, { recursive: true, force: true }));
  const operator = new NonceManager(new Wallet(devAccount("operator").privateKey, provider));
  const deployment = await deployAll({ network: "local", rpc: chain.url, deploymentsDir }, operator);
  const requester = new Wallet(devAccount("requester").privateKey, provider);
  const duck = new Contract(deployment.contracts.DuckToken, loadArtifact("DuckToken").abi, operator);
  await (await duck.mint(requester.address, parseEther("1000"))).wait();
  await (await (duck.connect(requester) as Contract).approve(deployment.contracts.TrainingPool, parseEther("1000"))).wait();
  return { chain, provider, deployment, pool: (w) => new Contract(deployment.contracts.TrainingPool, loadArtifact("TrainingPool").abi, w) };
}

t.test("a local chain restarted under a running orchestrator is detected: no more writes, events or round closes; the store never starts on it again", async (t) => {
  const first = await deployedChain(t);
  const dataDir = await mkdtemp(join(tmpdir(), "quackmesh-anchor-"));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const evaluatorKey = randomWallet().privateKey;
  const open = (deployment: Deployment, url: string, dir = dataDir, events?: OrchestratorEmitter): Promise<FastifyInstance> =>
    buildApp({
      dataDir: dir,
      events,
      evaluatorKey,
      logger: { level: "fatal" },
      chain: { chainId: 31337, trainingPool: deployment.contracts.TrainingPool, contracts: deployment.contracts, rpcUrl: url, pollMs: 100, startBlock: deployment.block },
    });
  const events = new OrchestratorEmitter();
  const app = await open(first.deployment, first.chain.url, dataDir, events);
  await app.ready();
  let closed = false;
  t.teardown(() => (closed ? undefined : app.close()));

  const anchor = JSON.parse((await app.repo.getMeta(ANCHOR_META_KEY))!) as ChainAnchor;
  const deployBlock = await first.provider.getBlock(first.deployment.block);
  t.same(anchor, { chainId: 31337, trainingPool: first.deployment.contracts.TrainingPool.toLowerCase(), block: first.deployment.block, blockHash: deployBlock!.hash });
  t.equal((await app.inject({ method: "GET", url: "/healthz" })).statusCode, 200);

  // A job of two updates a round, with one update in: its round stays open.
  const requester = new Wallet(devAccount("requester").privateKey, first.provider);
  const { images, labels, data } = await mnistIdxPair("test", 200);
  const created = await signedInject(app, requester, { method: "POST", url: "/api/job", body: { spec: SMALL_SPEC, seed: 7, settings: { minUpdates: 2 } } });
  t.equal(created.statusCode, 201, created.body);
  const draft = created.json();
  const ready = await signedInject(app, requester, { method: "PUT", url: draft.uploads.validation, body: Buffer.concat([images, labels]) });
  t.equal(ready.json().status, "ready");
  const activated = events.waitFor("job:activated");
  await (
    await first.pool(requester).createTrainingJob({
      modelHash: draft.modelHash, totalRewardPool: parseEther("100"), roundBudget: parseEther("50"), maxPerContributor: parseEther("50"),
      flatPerUpdate: 0n, rounds: 2, accuracyThresholdBps: 0, evaluator: app.evaluator.address, deadline: Math.floor(Date.now() / 1000) + 3600, claimWindow: 60,
    })
  ).wait();
  t.equal((await activated).jobId, 1);
  const global = (await app.inject({ method: "GET", url: "/api/job/1/model" })).rawPayload;
  const send = (w: Wallet, seed: number) =>
    trainUpdate(SMALL_SPEC, global, data, seed).then((body) => signedInject(app, w, { method: "POST", url: "/api/job/1/update?round=0&numSamples=200", body }));
  t.equal((await send(randomWallet(), 1)).statusCode, 200, "the first update is accepted");

  // The chain restarts on the same port, and the same contracts are deployed again at the same addresses.
  let closes = 0;
  events.on("round:closed", () => closes++);
  const reset = events.waitFor("chain:reset");
  await first.chain.stop();
  const second = await deployedChain(t, first.chain.port);
  t.equal(second.deployment.contracts.TrainingPool, first.deployment.contracts.TrainingPool, "the redeploy reuses the addresses: only the block hash tells the chains apart");
  const seen = await reset;
  t.match(seen.reason, /restarted or replaced/);
  t.match(seen.fix, /fresh --data-dir/);

  const health = await app.inject({ method: "GET", url: "/healthz" });
  t.equal(health.statusCode, 503, "/healthz is not healthy");
  t.match(health.json(), { status: "chain-reset", error: "CHAIN_RESET", message: /restarted or replaced/, fix: /fresh --data-dir/, details: { expected: { blockHash: anchor.blockHash } } });

  // Every write is refused with the code and changes nothing; reads still answer.
  const refused = await send(randomWallet(), 2);
  t.equal(refused.statusCode, 409);
  t.match(refused.json(), { error: "CHAIN_RESET", details: { fix: /fresh --data-dir/ } });
  const draftRefused = await signedInject(app, requester, { method: "POST", url: "/api/job", body: { spec: SMALL_SPEC, seed: 8 } });
  t.equal(draftRefused.json().error, "CHAIN_RESET");
  t.same(await app.repo.countUpdates(1), { accepted: 1, rejected: 0 });
  const job = (await app.inject({ method: "GET", url: "/api/job/1" })).json();
  t.equal(job.currentRound, 0, "reads still answer");

  // A job created on the new chain is never read by the stale orchestrator.
  const cursor = await app.repo.getChainCursor("TrainingPool");
  await (
    await second.pool(new Wallet(devAccount("requester").privateKey, second.provider)).createTrainingJob({
      modelHash: draft.modelHash, totalRewardPool: parseEther("100"), roundBudget: parseEther("50"), maxPerContributor: parseEther("50"),
      flatPerUpdate: 0n, rounds: 2, accuracyThresholdBps: 0, evaluator: app.evaluator.address, deadline: Math.floor(Date.now() / 1000) + 3600, claimWindow: 60,
    })
  ).wait();
  await new Promise((r) => setTimeout(r, 600)); // several poll intervals
  t.equal(await app.repo.getChainCursor("TrainingPool"), cursor, "no event of the new chain was read");
  // Neither a check nor a forced close (what a deadline does) closes the round or signs a commitment.
  await app.engine.reconsider(1);
  await app.engine.closeRound(1, 0);
  t.equal(closes, 0, "no round closed against the new chain");
  t.equal((await app.repo.getRound(1, 0))?.status, "open");

  // Started again on the same data dir, the orchestrator refuses to run; a fresh data dir runs.
  await app.close();
  closed = true;
  const again = open(second.deployment, second.chain.url);
  await t.rejects(again, { code: "CHAIN_RESET", fix: /fresh --data-dir/ }, "the stale store does not start on the new chain");
  await again.catch((err: unknown) => t.ok(isQuackError(err)));
  const freshDir = await mkdtemp(join(tmpdir(), "quackmesh-anchor-"));
  t.teardown(() => rm(freshDir, { recursive: true, force: true }));
  const fresh = await open(second.deployment, second.chain.url, freshDir);
  await fresh.ready();
  t.equal((await fresh.inject({ method: "GET", url: "/healthz" })).statusCode, 200);
  await fresh.close();

  // A data dir made for another deployment is refused before the chain is asked.
  const other = { ...second.deployment, contracts: { ...second.deployment.contracts, TrainingPool: randomWallet().address } };
  await t.rejects(open(other, second.chain.url), { code: "CHAIN_RESET", message: /was made for TrainingPool/ });
});
