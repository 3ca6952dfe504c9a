import t from "tap";
import { mkdtempSync, readFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Wallet, encodeBytes32String, parseUnits } from "ethers";
import { startLocalChain } from "./localChain.js";
import { connectProvider } from "../../../protocol/chain/networks.js";
import { devAccount, resolveSigner } from "./accounts.js";
import { deployAll } from "./deploy.js";
import { CONTRACT_NAMES, loadDeployment, readDeployment } from "../../../protocol/chain/deployments.js";
import { connectContracts, contractAt } from "../../../protocol/chain/contracts.js";
import { describeRevert } from "../../../protocol/chain/revert.js";
import { sendTx } from "./tx.js";
import { balancesOf, faucet } from "./wallet.js";

const chain = await startLocalChain({ port: 0 });
t.teardown(() => chain.stop());
const dir = mkdtempSync(join(tmpdir(), "qm-deploy-"));
const settings = { network: "local", rpc: chain.url, deploymentsDir: dir };
const { provider, network } = await connectProvider(settings);
t.teardown(() => provider.destroy());
const operator = resolveSigner(settings, provider, {}, network);

t.test("deploys the four contracts and records them", async (t) => {
  const events: string[] = [];
  const d = await deployAll(settings, operator, { onEvent: (e) => events.push(e.event) });
  t.equal(d.file, join(dir, "local.json"));
  const file = JSON.parse(readFileSync(d.file, "utf8"));
  t.same(file, readDeployment(settings, "local"));
  t.equal(file.network, "local");
  t.equal(file.chainId, 31337);
  t.equal(file.deployer, devAccount("operator").address);
  t.equal(file.ackWindowSeconds, 600);
  t.equal(file.duckTokenDeployed, true);
  t.ok(file.block >= 1, "first deployment block recorded");
  t.same(events, ["deployed", "deployed", "deployed", "deployed"]);
  for (const name of CONTRACT_NAMES) {
    t.not(await provider.getCode(file.contracts[name]), "0x", `${name} has code`);
  }
  const c = await connectContracts(settings, operator);
  t.equal(await c.duck.getFunction("symbol")(), "DUCK");
  t.equal(await c.duck.getFunction("owner")(), devAccount("operator").address);
  t.equal(await c.trainingPool.getFunction("jobCount")(), 0n);
  t.equal(await c.marketplace.getAddress(), file.contracts.ComputeMarketplace);
});

t.test("a second deploy is refused while the contracts live; --force replaces them", async (t) => {
  const before = readFileSync(join(dir, "local.json"), "utf8");
  await t.rejects(deployAll(settings, operator), { code: "DEPLOYMENT_EXISTS", fix: /--force/ });
  t.equal(readFileSync(join(dir, "local.json"), "utf8"), before, "file unchanged");
  const events: string[] = [];
  const d = await deployAll(settings, operator, { force: true, onEvent: (e) => events.push(e.event) });
  t.equal(events[0], "replacing");
  t.not(d.contracts.TrainingPool, JSON.parse(before).contracts.TrainingPool, "new addresses");
  t.same(readDeployment(settings, "local")?.contracts, d.contracts);
});

t.test("an existing $DUCK is reused; an address without code is refused", async (t) => {
  const other = { ...settings, deploymentsDir: mkdtempSync(join(tmpdir(), "qm-deploy-")) };
  const duck = readDeployment(settings, "local")!.contracts.DuckToken;
  const d = await deployAll(other, operator, { duckToken: duck.toLowerCase() });
  t.equal(d.contracts.DuckToken, duck);
  t.equal(d.duckTokenDeployed, false);
  const third = { ...settings, deploymentsDir: mkdtempSync(join(tmpdir(), "qm-deploy-")) };
  await t.rejects(deployAll(third, operator, { duckToken: devAccount(9).address }), { code: "DUCK_TOKEN_NOT_FOUND" });
  await t.rejects(deployAll(third, operator, { ackWindowSeconds: 0 }), { code: "BAD_ARGUMENT" });
  t.notOk(existsSync(join(third.deploymentsDir, "local.json")), "nothing written");
});

t.test("a wallet without ETH is refused before anything is sent", async (t) => {
  const other = { ...settings, deploymentsDir: mkdtempSync(join(tmpdir(), "qm-deploy-")) };
  const poor = Wallet.createRandom().connect(provider);
  await t.rejects(deployAll(other, poor), { code: "NO_FUNDS", message: new RegExp(`${poor.address} holds 0\\.0 ETH`) });
  t.equal(await provider.getTransactionCount(poor.address), 0);
  t.notOk(existsSync(join(other.deploymentsDir, "local.json")));
});

t.test("the faucet changes balances by exactly the amounts", async (t) => {
  const c = await connectContracts(settings, operator);
  const to = devAccount("contributor3").address;
  const before = await balancesOf(provider, to, c.duck);
  const r = await faucet(c, provider, to, { duck: parseUnits("1234.5", 18), eth: parseUnits("3", 18) });
  const after = await balancesOf(provider, to, c.duck);
  t.equal(after.duck! - before.duck!, parseUnits("1234.5", 18));
  t.equal(after.eth - before.eth, parseUnits("3", 18));
  t.match(r.mintTx, /^0x[0-9a-f]{64}$/);
  await t.rejects(faucet(c, provider, to, { duck: 0n, eth: 0n }), { code: "BAD_AMOUNT" });
});

t.test("describeRevert decodes real custom errors with their arguments", async (t) => {
  const requester = resolveSigner(settings, provider, { account: "requester" }, network);
  const c = await connectContracts(settings, requester);
  const deadline = BigInt(Math.floor(Date.now() / 1000) + 3600 * 24 * 365);
  const evaluator = devAccount("evaluator").address;
  const hash = encodeBytes32String("model");
  const me = requester.address;

  // No DUCK yet: the pool refuses with InsufficientFunds(payer, needed, available).
  const terms = { modelHash: hash, totalRewardPool: 1000n, roundBudget: 100n, maxPerContributor: 100n, flatPerUpdate: 10n, rounds: 3, accuracyThresholdBps: 7000, evaluator, deadline, claimWindow: 60 };
  const err = await c.trainingPool.getFunction("createTrainingJob")(terms).catch((e: unknown) => e);
  const q = describeRevert(err, c.trainingPool);
  t.equal(q.code, "TX_REVERTED");
  t.equal(q.message, `TrainingPool refused: InsufficientFunds(payer=${me}, needed=1000, available=0)`);
  t.same(q.details?.args, { payer: me, needed: "1000", available: "0" });
  t.match(q.fix, /faucet/);

  // A revert decoded end to end through sendTx: a job, then an update below its threshold.
  await faucet(c, provider, me, { duck: 1000n, eth: 0n });
  await sendTx(c.duck, "approve", [await c.trainingPool.getAddress(), 1000n]);
  await sendTx(c.trainingPool, "createTrainingJob", [terms]);
  const jobId = await c.trainingPool.getFunction("jobCount")();
  await t.rejects(sendTx(c.trainingPool, "submitUpdate", [jobId, 0, hash, 6500, 100, "0x"]), {
    code: "TX_REVERTED",
    message: `TrainingPool refused submitUpdate: BelowThreshold(jobId=${jobId}, accuracyBps=6500, thresholdBps=7000)`,
    details: { error: "BelowThreshold", contract: "TrainingPool" },
  });

  // An OpenZeppelin error raised by the token, decoded through a handle made by name.
  const duckAsRequester = contractAt("DuckToken", c.deployment.contracts.DuckToken, requester);
  await t.rejects(sendTx(duckAsRequester, "mint", [me, 1n], { fixes: { OwnableUnauthorizedAccount: "only the operator mints" } }), {
    message: `DuckToken refused mint: OwnableUnauthorizedAccount(account=${me})`,
    fix: "only the operator mints",
  });
});

t.test("a wallet without ETH gets NO_FUNDS from sendTx", async (t) => {
  const poor = Wallet.createRandom().connect(provider);
  const c = await connectContracts(settings, poor);
  await t.rejects(sendTx(c.duck, "approve", [devAccount(1).address, 1n]), { code: "NO_FUNDS", fix: /faucet/ });
});

t.test("a restarted chain has lost the contracts: loading says so, deploying again works", async (t) => {
  const fresh = await startLocalChain({ port: 0 });
  t.teardown(() => fresh.stop());
  const s2 = { ...settings, rpc: fresh.url };
  const conn = await connectProvider(s2);
  t.teardown(() => conn.provider.destroy());
  await t.rejects(loadDeployment(s2, conn), { code: "DEPLOYMENT_GONE", message: /local chain was restarted/, fix: /quackmesh deploy --network local/ });
  const signer = resolveSigner(s2, conn.provider, {}, conn.network);
  const events: Array<{ event: string; reason?: string }> = [];
  await deployAll(s2, signer, { onEvent: (e) => events.push(e) });
  t.match(events[0], { event: "replacing", reason: "contracts-gone" });
  t.ok(await loadDeployment(s2, conn), "loads after redeploy");
});

t.test("no deployment file is a clear error naming the fix", async (t) => {
  const empty = { ...settings, deploymentsDir: mkdtempSync(join(tmpdir(), "qm-deploy-")) };
  await t.rejects(connectContracts(empty, operator), { code: "NO_DEPLOYMENT", message: /No deployment for network local/, fix: /quackmesh deploy --network local/ });
});
