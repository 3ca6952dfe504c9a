import t from "tap";
import { join } from "node:path";
import { Wallet } from "ethers";
import { startTestNetwork } from "../../e2e/network.js";
import { devAccount } from "../chain/accounts.js";
import { deployAll } from "../chain/deploy.js";
import { startLocalChain } from "../chain/localChain.js";
import { faucet } from "../chain/wallet.js";
import { connectContracts } from "../../../protocol/chain/contracts.js";
import { makeProvider } from "../../../protocol/chain/networks.js";
import { OrchestratorClient } from "../../../orchestrator/client.js";
import { createJob, waitForActivation } from "./create.js";
import { planJob } from "./params.js";

// The scenario: an orchestrator holds job 1 of one chain; the same requester, with the same
// spec and seed (so the same model hash), creates job 1 on another chain with the same contract
// addresses. `job create` must not take the old job for the new one.
t.test("job create waits for its own job: an older job with the same id, model and requester is refused; a reset orchestrator is reported at once", async (t) => {
  const net = await startTestNetwork((fn) => t.teardown(fn));
  const plan = await planJob({ model: net.specFile, validation: await net.dataDir("val", 0, 100), reward: "10", rounds: "2", minUpdates: "1", threshold: "0", seed: "5", force: true });
  const first = await createJob(plan, net.deps(), { pollMs: 50 });
  t.equal(first.jobId, 1);
  t.equal(first.job.chain.txHash, first.txHash, "its own job: the creation transaction matches");

  // A second chain at the same addresses (same deployer, same nonces), where the orchestrator is not.
  const other = await startLocalChain({ port: 0 });
  t.teardown(() => other.stop());
  const provider = makeProvider(other.url, other.chainId);
  t.teardown(() => provider.destroy());
  const settings = { network: "local", rpc: other.url, deploymentsDir: join(net.dir, "other-deployments"), duckToken: undefined };
  const deployment = await deployAll(settings, new Wallet(devAccount("operator").privateKey, provider));
  t.same(deployment.contracts, net.deployment.contracts, "same addresses on both chains");
  const requester = new Wallet(devAccount("requester").privateKey, provider);
  const contracts = await connectContracts(settings, requester);
  await faucet(contracts, provider, requester.address, { duck: 10n ** 21n, eth: 0n });
  const client = new OrchestratorClient(net.server.url, { signer: requester });
  const stale = createJob(plan, { signer: requester, provider, contracts, chainId: other.chainId, client }, { pollMs: 50, activationTimeoutMs: 60_000 });
  await t.rejects(stale, {
    code: "JOB_MISMATCH",
    message: /holds another job 1 \(creation transaction 0x[0-9a-f]{64}\)/,
    fix: /fresh --data-dir.*job cancel 1/s,
    details: { expected: { jobId: 1, modelHash: first.modelHash, requester: requester.address }, found: { txHash: first.txHash, modelHash: first.modelHash } },
  });

  // The orchestrator's chain restarts under it: waiting for a job it lacks ends with its CHAIN_RESET, not a timeout.
  const reset = net.server.app.events.waitFor("chain:reset");
  await net.chain.stop();
  const restarted = await startLocalChain({ port: net.chain.port });
  t.teardown(() => restarted.stop());
  const probe = new OrchestratorClient(net.server.url);
  await reset;
  await t.rejects(waitForActivation(probe, { jobId: 2, modelHash: first.modelHash, requester: requester.address, txHash: first.txHash }, { pollMs: 50, activationTimeoutMs: 60_000 }), {
    code: "CHAIN_RESET",
    fix: /fresh --data-dir/,
  });
});
