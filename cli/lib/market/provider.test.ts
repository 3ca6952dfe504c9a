import t from "tap";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Wallet, parseUnits } from "ethers";
import { connectContracts } from "../../../protocol/chain/contracts.js";
import { cliRunner, fixCommand } from "../../testkit/runCli.js";
import { sendTx } from "../chain/tx.js";
import { SshSession } from "../../../orchestrator/cluster/sshClient.js";
import { listRentalKeys } from "./authorizedKeys.js";
import { MARKET_FIXES, getRentalInfo, readMarket } from "./marketplace.js";
import { ProviderAgent, type ProviderEvents } from "./provider.js";
import { cancelRental, endRental, listRentals, rentMachines } from "./renter.js";
import { rentalGates } from "./sessions.js";
import { detectSpecs } from "../../../protocol/market/specs.js";
import { rentalFolder } from "./gate.js";
import { SshGateway } from "./gateway.js";
import { startSshd } from "./sshd.js";
import { ensureKeyPair } from "../../../protocol/market/sshKeys.js";
import { gateFromSources, marketFixture, writeWorkerEntry } from "./testkit.js";

const dir = mkdtempSync(join(tmpdir(), "qm-provider-"));
const fx = await marketFixture(dir, ["requester"]);
t.teardown(() => fx.stop());
const sshd = await startSshd();
t.teardown(() => sshd.stop());
const gate = await gateFromSources(dir, writeWorkerEntry(dir));
const renterKey = await ensureKeyPair(join(dir, "renter", "id_ed25519"));
const pub = readFileSync(renterKey.publicKeyFile, "utf8");
const renter = await fx.as("requester");
const prov = await fx.as("provider1");
const specs = await detectSpecs({ runNvidiaSmi: async () => "" });
const endpoint = `${sshd.user}@${sshd.host}:${sshd.port}`;
const DUCK = 10n ** 18n;

function agent(extra: Partial<ConstructorParameters<typeof ProviderAgent>[0]> = {}) {
  const a = new ProviderAgent({
    marketplace: prov.marketplace,
    provider: fx.provider,
    authorizedKeysFile: sshd.authorizedKeysFile,
    rentalsRoot: join(dir, "rentals"),
    gate,
    ...extra,
  });
  const events: Array<{ name: keyof ProviderEvents; e: unknown }> = [];
  for (const name of ["listed", "declined", "unlisted", "rented", "keyInstalled", "acknowledged", "keyRemoved", "withdrawn", "error"] as const) {
    a.on(name, (e) => events.push({ name, e }));
  }
  return { a, events, names: () => events.map((x) => x.name) };
}

const rent = (count: number, hours: number, extra: { maxPrice?: bigint; key?: string } = {}) =>
  rentMachines({ marketplace: renter.marketplace, duck: renter.duck }, fx.provider, renter.wallet.address, fx.fromBlock, {
    count,
    hours,
    sshPublicKey: extra.key ?? pub,
    filter: { maxPrice: extra.maxPrice },
  });

t.test("list → rent → key installed and acknowledged → time runs out → key removed, rent withdrawn", async (t) => {
  const { a, events, names } = agent();
  t.teardown(() => a.stop());
  const machineId = await a.listMachine(specs, parseUnits("5", 18), endpoint, 4);
  const market = await readMarket(renter.marketplace, fx.provider, fx.fromBlock);
  const listed = market.find((m) => m.machineId === machineId)!;
  t.equal(listed.status, "available");
  t.equal(listed.endpoint, endpoint);
  t.equal(listed.specs.cores, specs.cores);
  t.equal(listed.maxHours, 4);

  const before = (await renter.duck.getFunction("balanceOf")(renter.wallet.address)) as bigint;
  const [rental] = await rent(1, 2);
  t.equal(rental.machineId, machineId);
  t.equal(rental.amount, 10n * DUCK, "2 h × 5 DUCK escrowed");
  t.equal((await renter.duck.getFunction("balanceOf")(renter.wallet.address)) as bigint, before - 10n * DUCK);
  t.equal((await readMarket(renter.marketplace, fx.provider, fx.fromBlock)).find((m) => m.machineId === machineId)!.status, "rented");

  await a.poll();
  t.same(names(), ["listed", "rented", "keyInstalled", "acknowledged"]);
  const info = await getRentalInfo(renter.marketplace, rental.rentalId);
  t.equal(info.status, "active");
  t.same(listRentalKeys(sshd.authorizedKeysFile).map((k) => k.rentalId), [rental.rentalId.toString()]);
  t.ok(existsSync(join(dir, "rentals", `rental-${rental.rentalId}`)), "rental folder made");
  const s = await SshSession.open({ host: sshd.host, port: sshd.port, username: sshd.user, privateKey: readFileSync(renterKey.privateKeyFile) });
  t.equal((await s.run("quackmesh worker --version")).code, 0);
  s.close();

  const mine = await listRentals(renter.marketplace, fx.provider, renter.wallet.address, fx.fromBlock);
  t.equal(mine[0].rentalId, rental.rentalId);
  t.equal(mine[0].endpoint, endpoint);
  t.equal(mine[0].status, "active");

  await fx.travel(2 * 3600 + 1);
  await a.poll();
  t.same(names().slice(4), ["keyRemoved", "withdrawn"]);
  t.same(events[4].e, { rentalId: rental.rentalId, reason: "expired" });
  t.equal((events[5].e as ProviderEvents["withdrawn"]).amount, 10n * DUCK, "the whole rent once the time ran out");
  t.equal(a.earnings(), 10n * DUCK);
  t.same(listRentalKeys(sshd.authorizedKeysFile), [], "key gone");
  t.notOk(existsSync(join(dir, "rentals", `rental-${rental.rentalId}`)), "the renter's folder is removed");
  await t.rejects(
    SshSession.open({ host: sshd.host, port: sshd.port, username: sshd.user, privateKey: readFileSync(renterKey.privateKeyFile) }),
    { code: "SSH_AUTH_REFUSED" },
  );
  t.equal((await readMarket(renter.marketplace, fx.provider, fx.fromBlock)).find((m) => m.machineId === machineId)!.status, "available", "free again");

  await a.stop();
  t.equal(names().at(-1), "unlisted");
  t.equal((await readMarket(renter.marketplace, fx.provider, fx.fromBlock)).find((m) => m.machineId === machineId)!.status, "unlisted");
});

t.test("refusals: beyond maxHours, already rented, unlisted, too few matches, too little DUCK", async (t) => {
  const { a } = agent();
  t.teardown(() => a.stop());
  const machineId = await a.listMachine(specs, parseUnits("3", 18), endpoint, 2);
  await t.rejects(rent(1, 3), { code: "TOO_FEW_MACHINES", message: /Only 0 available machines match \(of 1 listed, 1 available\); 1 requested/ });
  await t.rejects(sendTx(renter.marketplace, "rentMachine", [machineId, 3, 0, pub], { fixes: MARKET_FIXES }), {
    code: "TX_REVERTED",
    details: { error: "InvalidHours", args: { machineId: machineId.toString(), numHours: "3", maxHours: "2" } },
  });
  const [rental] = await rent(1, 1);
  await t.rejects(sendTx(renter.marketplace, "rentMachine", [machineId, 1, 0, pub], { fixes: MARKET_FIXES }), {
    code: "TX_REVERTED",
    message: /MachineBusy/,
    details: { error: "MachineBusy", args: { machineId: machineId.toString(), rentalId: rental.rentalId.toString() } },
  });
  await t.rejects(rent(1, 1), { code: "TOO_FEW_MACHINES", details: { matched: 0 } });
  await a.poll();
  await a.stop();
  await t.rejects(sendTx(renter.marketplace, "rentMachine", [machineId, 1, 0, pub], { fixes: MARKET_FIXES }), {
    details: { error: "MachineNotListed" },
    fix: /unlisted/,
  });

  const { a: rich } = agent();
  t.teardown(() => rich.stop());
  await rich.listMachine(specs, parseUnits("900", 18), endpoint, 0);
  const balance = (await renter.duck.getFunction("balanceOf")(renter.wallet.address)) as bigint;
  const nonce = await fx.provider.getTransactionCount(renter.wallet.address);
  await t.rejects(rent(1, 2), { code: "NOT_ENOUGH_DUCK", details: { have: balance.toString(), need: (1800n * DUCK).toString() } });
  t.equal(await fx.provider.getTransactionCount(renter.wallet.address), nonce, "nothing was sent");
  await t.rejects(rent(1, 1, { key: `command="bash" ${pub}` }), { code: "BAD_SSH_KEY" });
  await t.rejects(rent(0, 1), { code: "BAD_ARGUMENT" });
  await t.rejects(rent(1, 0), { code: "BAD_ARGUMENT" });
});

t.test("a stake the wallet cannot pay: the fix is the faucet command for that very wallet, and running it is enough", async (t) => {
  const poor = new Wallet(Wallet.createRandom().privateKey, fx.provider);
  const contracts = await connectContracts(fx.settings, poor);
  const a = new ProviderAgent({ marketplace: contracts.marketplace, duck: contracts.duck, provider: fx.provider, authorizedKeysFile: sshd.authorizedKeysFile, rentalsRoot: join(dir, "rentals-poor"), gate });
  t.teardown(() => a.stop());
  const err = await a.listMachine(specs, DUCK, endpoint, 2, { stake: 5n * DUCK }).then(() => null, (e: { code: string; fix?: string }) => e);
  t.match(err, { code: "NOT_ENOUGH_DUCK", fix: new RegExp(`\`quackmesh wallet faucet --to ${poor.address} --amount 5\``) });
  const ran = await cliRunner({ deploymentsDir: fx.settings.deploymentsDir }).run([...fixCommand(err?.fix), "--rpc", fx.chain.url, "--json"]);
  t.equal(ran.code, 0, ran.stderr);
  t.equal(await contracts.duck.getFunction("balanceOf")(poor.address), 5n * DUCK, "the wallet that came short got what it lacked");
  t.ok((await a.listMachine(specs, DUCK, endpoint, 2, { stake: 5n * DUCK })) > 0n, "and now lists with its stake");
});

t.test("the renter ends early: refund of the unserved part, key removed, earned part withdrawn", async (t) => {
  const { a, names } = agent();
  t.teardown(() => a.stop());
  await a.listMachine(specs, parseUnits("1", 18), endpoint, 0);
  const [rental] = await rent(1, 10);
  await a.poll();
  t.equal(names().at(-1), "acknowledged");
  await fx.travel(3600);
  const ended = await endRental(renter.marketplace, rental.rentalId);
  t.equal(ended.refund + ended.earned, 10n * DUCK, "refund and earned add up to the escrow");
  t.ok(ended.refund >= 8n * DUCK && ended.refund < 9n * DUCK, "about 9 of 10 hours come back");
  await a.poll();
  t.same(names().slice(-2), ["keyRemoved", "withdrawn"]);
  t.equal(a.earnings(), ended.earned);
  t.equal(a.rentals()[0].status, "ended");
  t.same(listRentalKeys(sshd.authorizedKeysFile), []);
  await t.rejects(endRental(renter.marketplace, rental.rentalId), { details: { error: "InvalidRentalStatus" } });
});

t.test("a malformed key on chain is never installed or acknowledged: the provider declines, the renter gets everything back at once", async (t) => {
  const { a, events, names } = agent();
  t.teardown(() => a.stop());
  const machineId = await a.listMachine(specs, parseUnits("2", 18), endpoint, 0);
  await sendTx(renter.duck, "approve", [await renter.marketplace.getAddress(), 2n * DUCK]);
  const before = (await renter.duck.getFunction("balanceOf")(renter.wallet.address)) as bigint;
  const receipt = await sendTx(renter.marketplace, "rentMachine", [machineId, 1, 0, 'ssh-ed25519 AAAA",no-restrict']);
  const rentalId = renter.marketplace.interface.parseLog(receipt.logs.find((l) => renter.marketplace.interface.parseLog(l)?.name === "MachineRented")!)!.args.rentalId as bigint;
  await a.poll();
  t.same(names(), ["listed", "rented", "declined"], "declined rather than left to lapse (which would cost the stake)");
  t.match(events[2].e, { rentalId, reason: /SSH key cannot be installed/ });
  t.same(listRentalKeys(sshd.authorizedKeysFile), []);
  t.equal((await getRentalInfo(renter.marketplace, rentalId)).status, "cancelled");
  t.equal((await renter.duck.getFunction("balanceOf")(renter.wallet.address)) as bigint, before, "the whole rent came back");
  t.same((await prov.marketplace.getFunction("getRecord")(machineId)).toArray().map(String), ["0", "0", "0", "0"], "a decline is no miss on the record");
});

t.test("a rental naming an arbiter the provider does not trust is declined; a trusted one is served", async (t) => {
  const trusted = (await fx.as("operator")).wallet.address;
  const { a, names } = agent({ arbiters: [trusted] });
  t.teardown(() => a.stop());
  const machineId = await a.listMachine(specs, parseUnits("1", 18), endpoint, 0);
  const rentWith = async (arbiter: string) => {
    await sendTx(renter.duck, "approve", [await renter.marketplace.getAddress(), DUCK]);
    const receipt = await sendTx(renter.marketplace, "rentMachineWithArbiter", [machineId, 1, 0, pub, arbiter]);
    return renter.marketplace.interface.parseLog(receipt.logs.find((l) => renter.marketplace.interface.parseLog(l)?.name === "MachineRented")!)!.args.rentalId as bigint;
  };
  const selfArbiter = await rentWith(renter.wallet.address);
  await a.poll();
  t.equal((await getRentalInfo(renter.marketplace, selfArbiter)).status, "cancelled", "a renter naming itself as arbiter is turned down");
  const ok = await rentWith(trusted);
  await a.poll();
  t.equal((await getRentalInfo(renter.marketplace, ok)).status, "active");
  t.same(names().filter((n) => n === "declined" || n === "acknowledged"), ["declined", "acknowledged"]);
  await endRental(renter.marketplace, ok);
});

t.test("a restarted provider relists the same machine id under its key and serves a rental made while it was down", async (t) => {
  const key = "0x" + "ab".repeat(32);
  const first = agent();
  const machineId = await first.a.listMachine(specs, parseUnits("1", 18), endpoint, 0, { machineKey: key });
  await first.a.stop({ unlist: false });
  const [rental] = await rent(1, 1, { maxPrice: parseUnits("1", 18) });
  t.equal(rental.machineId, machineId);
  const second = agent({ fromBlock: fx.fromBlock });
  t.teardown(() => second.a.stop());
  t.equal(await second.a.listMachine(specs, parseUnits("1", 18), endpoint, 0, { machineKey: key }), machineId, "same id after the restart");
  t.match(second.events[0].e, { relisted: true });
  await second.a.poll();
  t.equal((await getRentalInfo(renter.marketplace, rental.rentalId)).status, "active", "the rental made meanwhile was acknowledged");
  await endRental(renter.marketplace, rental.rentalId);
});

t.test("a rental that ended while its provider was down (killed -9): the restarted provider removes the folder the last run left", async (t) => {
  const rentalsRoot = join(dir, "rentals-killed");
  const gateway = await SshGateway.start({ hostKeyFile: join(dir, "gateway-host-key"), rentalsRoot, workerEntry: writeWorkerEntry(dir) });
  t.teardown(() => gateway.close());
  const key = "0x" + "cd".repeat(32);
  // The killed run: it acknowledged the rental and made its folder, and never stopped.
  const killed = agent({ access: gateway, rentalsRoot, authorizedKeysFile: undefined, gate: undefined });
  const machineId = await killed.a.listMachine(specs, parseUnits("0.5", 18), endpoint, 0, { machineKey: key });
  const [rental] = await rent(1, 1, { maxPrice: parseUnits("0.5", 18) });
  t.equal(rental.machineId, machineId);
  await killed.a.poll();
  const folder = rentalFolder(rentalsRoot, rental.rentalId.toString());
  t.ok(existsSync(folder), "the killed run made the rental's folder");
  await endRental(renter.marketplace, rental.rentalId);
  const next = agent({ access: gateway, rentalsRoot, authorizedKeysFile: undefined, gate: undefined, fromBlock: fx.fromBlock });
  t.teardown(() => next.a.stop());
  t.equal(await next.a.listMachine(specs, parseUnits("0.5", 18), endpoint, 0, { machineKey: key }), machineId);
  await next.a.poll();
  t.notOk(existsSync(folder), "the ended rental's folder is gone");
});

t.test("with OpenSSH's authorized_keys, a rental that ended while its provider was down loses its key at the restart", async (t) => {
  const rentalsRoot = join(dir, "rentals-killed-sshd");
  const key = "0x" + "ce".repeat(32);
  const killed = agent({ rentalsRoot });
  const machineId = await killed.a.listMachine(specs, parseUnits("0.5", 18), endpoint, 0, { machineKey: key });
  const [rental] = await rent(1, 1, { maxPrice: parseUnits("0.5", 18) });
  t.equal(rental.machineId, machineId);
  await killed.a.poll();
  const installed = () => listRentalKeys(sshd.authorizedKeysFile).map((k) => String(k.rentalId));
  t.ok(installed().includes(rental.rentalId.toString()), "the killed run installed the renter's key");
  await endRental(renter.marketplace, rental.rentalId);
  const next = agent({ rentalsRoot, fromBlock: fx.fromBlock });
  t.teardown(() => next.a.stop());
  t.equal(await next.a.listMachine(specs, parseUnits("0.5", 18), endpoint, 0, { machineKey: key }), machineId);
  await next.a.poll();
  t.notOk(installed().includes(rental.rentalId.toString()), "the ended rental's key is no longer in authorized_keys");
  t.notOk(existsSync(rentalFolder(rentalsRoot, rental.rentalId.toString())), "nor its folder");
});

t.test("stop() removes the keys of running rentals and unlists", async (t) => {
  const { a, names } = agent();
  await a.listMachine(specs, parseUnits("1", 18), endpoint, 0);
  const [rental] = await rent(1, 3);
  await a.poll();
  t.equal(listRentalKeys(sshd.authorizedKeysFile).length, 1);
  await fx.travel(1800);
  await a.stop();
  t.same(listRentalKeys(sshd.authorizedKeysFile), []);
  t.same(names().slice(-3), ["keyRemoved", "unlisted", "withdrawn"]);
  t.equal((await getRentalInfo(renter.marketplace, rental.rentalId)).status, "active", "the rental itself runs on; the renter may end it");
  const ended = await endRental(renter.marketplace, rental.rentalId);
  t.ok(ended.refund > 0n);
});

t.test("ending a rental also ends its open session: the gate and the worker stop", async (t) => {
  const { a, names } = agent();
  t.teardown(() => a.stop());
  await a.listMachine(specs, parseUnits("1", 18), endpoint, 0);
  const [rental] = await rent(1, 2);
  await a.poll();
  const s = await SshSession.open({ host: sshd.host, port: sshd.port, username: sshd.user, privateKey: readFileSync(renterKey.privateKeyFile) });
  t.teardown(() => s.close());
  const lines: string[] = [];
  const worker = await s.exec("quackmesh worker --beats 1 --hold", { stdoutLine: (l) => lines.push(l) });
  while (lines.length === 0) await new Promise((r) => setTimeout(r, 50));
  const root = join(dir, "rentals");
  t.equal(rentalGates(root, rental.rentalId).length, 1, "a gate runs for the session");
  await endRental(renter.marketplace, rental.rentalId);
  await a.poll();
  t.same(names().slice(-2), ["keyRemoved", "withdrawn"]);
  const ended = await worker.done;
  t.not(ended.code, 0, "the worker did not finish on its own");
  t.same(rentalGates(root, rental.rentalId), [], "no gate left for the rental");
});
