// The orchestrator's marketplace routes on a real Hardhat chain: providers' signed liveness
// records (kept, served, checked by readers against the chain), and the arbiter's downtime
// statement that ComputeMarketplace settles: a machine down for a third of the paid time
// refunds exactly that third. Both are in the store: a restarted orchestrator serves the same.
import t from "tap";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AddressInfo } from "node:net";
import { Wallet, id as keccakId } from "ethers";
import { marketFixture } from "../../cli/lib/market/testkit.js";
import { readLiveness, withLiveness } from "../../cli/lib/market/liveness.js";
import { readMarket } from "../../cli/lib/market/marketplace.js";
import { endRental, settleDowntime } from "../../cli/lib/market/renter.js";
import { marketplaceDomain, signLiveness } from "../../protocol/chain/eip712.js";
import { sendTx } from "../../cli/lib/chain/tx.js";
import { testApp } from "../testing/fixtures.js";

const dir = mkdtempSync(join(tmpdir(), "qm-market-routes-"));
const fx = await marketFixture(dir, ["requester"]);
t.teardown(() => fx.stop());
const provider1 = await fx.as("provider1");
const provider2 = await fx.as("provider2");
const renter = await fx.as("requester");
const marketplace = provider1.deployment.contracts.ComputeMarketplace;
const { chainId } = await fx.provider.getNetwork();
const evaluatorKey = Wallet.createRandom().privateKey;
const chainOptions = { chainId: Number(chainId), trainingPool: provider1.deployment.contracts.TrainingPool, rpcUrl: fx.chain.url, startBlock: fx.fromBlock, contracts: { ComputeMarketplace: marketplace } };
const { app, dataDir } = await testApp(t, { evaluatorKey, chain: chainOptions });
await app.listen({ host: "127.0.0.1", port: 0 });
const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
const domain = marketplaceDomain(chainId, marketplace);
const PRICE = 3n * 10n ** 18n;

const list = async (who: typeof provider1, key: string) => {
  const receipt = await sendTx(who.marketplace, "listStakedMachine", [keccakId(key), "{}", PRICE, "h:22", 0, 0n]);
  return who.marketplace.interface.parseLog(receipt.logs[0])!.args.machineId as bigint;
};
const m1 = await list(provider1, "one");
const m2 = await list(provider2, "two");
const now = () => Math.floor(Date.now() / 1000);
const post = (body: unknown) => app.inject({ method: "POST", url: "/api/market/liveness", payload: body as object });

t.test("liveness: only the machine's provider's fresh signature is kept, and readers check it again", async (t) => {
  const at = now();
  const ok = await post({ machineId: m1.toString(), at, signature: signLiveness(provider1.wallet, domain, { machineId: m1, at: BigInt(at) }) });
  t.equal(ok.statusCode, 200, ok.body);
  t.match(ok.json(), { machineId: m1.toString(), provider: provider1.wallet.address, at });
  const forged = await post({ machineId: m2.toString(), at, signature: signLiveness(provider1.wallet, domain, { machineId: m2, at: BigInt(at) }) });
  t.equal(forged.statusCode, 400);
  t.match(forged.json(), { error: "BAD_LIVENESS", message: /not signed by its provider/ });
  const old = await post({ machineId: m2.toString(), at: at - 3600, signature: signLiveness(provider2.wallet, domain, { machineId: m2, at: BigInt(at - 3600) }) });
  t.match(old.json(), { error: "BAD_LIVENESS", message: /more than 60 s/ });
  t.match((await post({ machineId: "0x1", at, signature: "0x" })).json(), { error: "BAD_LIVENESS", message: /malformed/ });

  const machines = await readMarket(provider1.marketplace, fx.provider, fx.fromBlock);
  const seen = await readLiveness({ url, chainId, marketplace }, new Map(machines.map((m) => [m.machineId, m.provider])));
  t.same([...seen.keys()], [m1], "only machine 1 proved it is alive");
  const marked = withLiveness(machines, seen);
  t.same(marked.map((m) => [m.machineId, m.status]), [[m1, "available"], [m2, "stale"]]);
  // A reader that maps machine 1 to another provider ignores the record: the orchestrator cannot vouch for anyone.
  const wrong = await readLiveness({ url, chainId, marketplace }, new Map([[m1, Wallet.createRandom().address]]));
  t.equal(wrong.size, 0);
});

/** The rental down for a third of its hour (the downtime test). */
let thirdDown = 0n;

t.test("downtime: signed only for its own rentals once over; settling it refunds exactly the down third", async (t) => {
  const arbiter = app.evaluator.address;
  const rent = async (machineId: bigint, who: string) => {
    await sendTx(renter.duck, "approve", [marketplace, PRICE]);
    const receipt = await sendTx(renter.marketplace, "rentMachineWithArbiter", [machineId, 1, 0n, "ssh-ed25519 AAAA", who]);
    return renter.marketplace.interface.parseLog(receipt.logs.find((l) => l.address.toLowerCase() === marketplace.toLowerCase())!)!.args.rentalId as bigint;
  };
  const other = await rent(m2, Wallet.createRandom().address);
  t.match((await app.inject({ url: `/api/market/downtime/${other}` })).json(), { error: "NOT_ARBITER" });

  const rentalId = await rent(m1, arbiter);
  await sendTx(provider1.marketplace, "acknowledgeRental", [rentalId]);
  const started = Number((await renter.marketplace.getFunction("getRental")(rentalId)).startedAt);
  const early = await app.inject({ url: `/api/market/downtime/${rentalId}` });
  t.equal(early.statusCode, 409);
  t.match(early.json(), { error: "RENTAL_NOT_OVER" });
  // What the cluster manager reports: failed 20 minutes in, connected again 20 minutes later.
  await app.clusters.downtime.observe(rentalId.toString(), "running", started * 1000);
  await app.clusters.downtime.observe(rentalId.toString(), "failed", (started + 1200) * 1000);
  await app.clusters.downtime.observe(rentalId.toString(), "ready", (started + 2400) * 1000);
  thirdDown = rentalId;
  await fx.travel(3600);
  // ethers answers a repeated "latest block" from a 250 ms cache: let the orchestrator see the new block.
  await new Promise((r) => setTimeout(r, 300));

  const res = await app.inject({ url: `/api/market/downtime/${rentalId}` });
  t.equal(res.statusCode, 200, res.body);
  const statement = res.json() as { downtimeSeconds: number; servedSeconds: number; signature: string; arbiter: string };
  t.match(statement, { rentalId: rentalId.toString(), arbiter, downtimeSeconds: 1200, servedSeconds: 3600 });
  const before = (await renter.duck.getFunction("balanceOf")(renter.wallet.address)) as bigint;
  await sendTx(renter.marketplace, "settleDowntime", [rentalId, statement.downtimeSeconds, statement.signature]);
  const after = (await renter.duck.getFunction("balanceOf")(renter.wallet.address)) as bigint;
  t.equal(after - before, PRICE / 3n, "a third of the rent back");
  const record = await renter.marketplace.getFunction("getRecord")(m1);
  t.equal(record.downtimeSeconds, 1200n, "the machine's record shows the downtime");
});

t.test("a renter that ends early settles the arbiter's statement in the same breath (rent end)", async (t) => {
  await sendTx(renter.duck, "approve", [marketplace, PRICE]);
  const receipt = await sendTx(renter.marketplace, "rentMachineWithArbiter", [m1, 1, 0n, "ssh-ed25519 AAAA", app.evaluator.address]);
  const rentalId = renter.marketplace.interface.parseLog(receipt.logs.find((l) => l.address.toLowerCase() === marketplace.toLowerCase())!)!.args.rentalId as bigint;
  await sendTx(provider1.marketplace, "acknowledgeRental", [rentalId]);
  const started = Number((await renter.marketplace.getFunction("getRental")(rentalId)).startedAt);
  await app.clusters.downtime.observe(rentalId.toString(), "failed", (started + 600) * 1000);
  await fx.travel(1800);
  const ended = await endRental(renter.marketplace, rentalId);
  const endedAt = Number((await renter.marketplace.getFunction("getRental")(rentalId)).endedAt);
  await new Promise((r) => setTimeout(r, 300)); // past ethers' 250 ms cache of the latest block
  const settled = await settleDowntime(renter.marketplace, rentalId, url);
  const down = endedAt - started - 600;
  t.equal(settled?.downtimeSeconds, down, "down from the failure until the end");
  t.equal(settled?.refund, (PRICE * BigInt(down)) / 3600n, "the down share of the rent");
  t.equal(ended.refund + ended.earned, PRICE);
  t.equal(await settleDowntime(renter.marketplace, rentalId, url), undefined, "nothing left to settle");
  await t.rejects(settleDowntime(renter.marketplace, 1n, url), { code: "NOT_ARBITER", message: /not this orchestrator/ });
});

t.test("a restarted orchestrator keeps the liveness records and the downtime it measured", async (t) => {
  const records = (await app.inject({ url: "/api/market/liveness" })).json().records;
  t.ok(records.length > 0, "it holds records");
  await app.close();
  const { app: again } = await testApp(t, { evaluatorKey, dataDir, chain: chainOptions });
  t.same((await again.inject({ url: "/api/market/liveness" })).json().records, records, "the same records after the restart");
  const statement = (await again.inject({ url: `/api/market/downtime/${thirdDown}` })).json();
  t.match(statement, { rentalId: thirdDown.toString(), downtimeSeconds: 1200, servedSeconds: 3600 }, "the same downtime after the restart");
});
