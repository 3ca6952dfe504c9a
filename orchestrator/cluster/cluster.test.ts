// Three real sshd processes as three providers' machines, a real Hardhat chain, real provider
// agents, the renter's logic and the cluster manager over real SSH.
import t from "tap";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseUnits } from "ethers";
import { listRentalKeys } from "../../cli/lib/market/authorizedKeys.js";
import { ProviderAgent } from "../../cli/lib/market/provider.js";
import { endRental, rentMachines, waitForAcks } from "../../cli/lib/market/renter.js";
import { detectSpecs } from "../../protocol/market/specs.js";
import { startSshd, type RunningSshd } from "../../cli/lib/market/sshd.js";
import { ensureKeyPair } from "../../protocol/market/sshKeys.js";
import { gateFromSources, marketFixture, writeWorkerEntry } from "../../cli/lib/market/testkit.js";
import { parseEndpoint } from "../../protocol/market/endpoint.js";
import { chainNow, getRentalInfo, queryChunked, toListing } from "../../cli/lib/market/marketplace.js";
import type { Contract, Provider } from "ethers";
import { ClusterManager, type ClusterEvents, type ClusterMachine } from "./manager.js";

const dir = mkdtempSync(join(tmpdir(), "qm-cluster-"));
const fx = await marketFixture(dir, ["requester"]);
t.teardown(() => fx.stop());
const gate = await gateFromSources(dir, writeWorkerEntry(dir));
const specs = await detectSpecs({ runNvidiaSmi: async () => "" });
const renter = await fx.as("requester");
const renterKey = await ensureKeyPair(join(dir, "renter", "id_ed25519"));
const stranger = await ensureKeyPair(join(dir, "stranger", "id_ed25519"));
const privateKey = readFileSync(renterKey.privateKeyFile);
const DUCK = 10n ** 18n;
const JOB = 7n;

const sshds: RunningSshd[] = [];
const agents: ProviderAgent[] = [];
for (const [i, name] of ["provider1", "provider2", "provider3"].entries()) {
  // authorized_keys outside sshd's own folder, so it outlives a restart of sshd.
  const sshd = await startSshd({ authorizedKeysFile: join(dir, `${name}.authorized_keys`) });
  t.teardown(() => sshd.stop());
  sshds.push(sshd);
  const c = await fx.as(name);
  const agent = new ProviderAgent({ marketplace: c.marketplace, provider: fx.provider, authorizedKeysFile: sshd.authorizedKeysFile, rentalsRoot: join(dir, name), gate, pollMs: 200 });
  agent.on("error", ({ error }) => t.comment(`${name}: ${error.code} ${error.message}`));
  t.teardown(() => agent.stop());
  agents.push(agent);
  await agent.listMachine(specs, parseUnits(String(3 + i), 18), `${sshd.user}@${sshd.host}:${sshd.port}`, 5);
  agent.start();
}

const rentals = await rentMachines({ marketplace: renter.marketplace, duck: renter.duck }, fx.provider, renter.wallet.address, fx.fromBlock, {
  count: 3,
  hours: 2,
  jobId: JOB,
  sshPublicKey: readFileSync(renterKey.publicKeyFile, "utf8"),
});
const acks = await waitForAcks(renter.marketplace, rentals.map((r) => r.rentalId), { timeoutMs: 60_000, pollMs: 100 });
/**
 * The machines rented for training job `jobId` that are still running (acknowledged and not
 * over), read from MachineRented events since `fromBlock` plus getRental, with each machine's
 * endpoint from its MachineListed event. Machines whose endpoint does not parse are left out
 * and returned in `skipped`.
 */
async function clusterOfJob(
  marketplace: Contract,
  provider: Provider,
  fromBlock: number,
  jobId: bigint,
): Promise<{ machines: ClusterMachine[]; skipped: Array<{ rentalId: string; endpoint: string }> }> {
  const latest = await provider.getBlockNumber();
  const now = await chainNow(provider);
  const rented = (await queryChunked(marketplace, "MachineRented", [], fromBlock, latest)).filter((l) => (l.args.jobId as bigint) === jobId);
  const machines: ClusterMachine[] = [];
  const skipped: Array<{ rentalId: string; endpoint: string }> = [];
  for (const log of rented) {
    const rentalId = log.args.rentalId as bigint;
    const info = await getRentalInfo(marketplace, rentalId);
    if (info.status !== "active" || now >= info.endsAt) continue;
    const [listed] = await queryChunked(marketplace, "MachineListed", [info.machineId], fromBlock, latest);
    if (!listed) continue;
    const listing = toListing(listed);
    try {
      const ep = parseEndpoint(listing.endpoint, "The listed endpoint");
      machines.push({ rentalId, machineId: info.machineId, host: ep.host, port: ep.port, provider: listing.provider, ...(ep.user ? { username: ep.user } : {}) });
    } catch {
      skipped.push({ rentalId: rentalId.toString(), endpoint: listing.endpoint });
    }
  }
  return { machines, skipped };
}

const cluster = await clusterOfJob(renter.marketplace, fx.provider, fx.fromBlock, JOB);
const known = join(dir, "known_hosts.json");
const shard = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 31) % 251));
const shardHash = createHash("sha256").update(shard).digest("hex");

/** Processes whose command line mentions `text` (Linux /proc). */
function processesWith(text: string): number[] {
  const out: number[] = [];
  for (const d of readdirSync("/proc").filter((x) => /^\d+$/.test(x))) {
    try {
      if (readFileSync(`/proc/${d}/cmdline`, "utf8").includes(text)) out.push(Number(d));
    } catch {
      // gone
    }
  }
  return out;
}

async function until(check: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`still waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function waitFor<K extends keyof ClusterEvents>(m: ClusterManager, event: K, rentalId: string): Promise<ClusterEvents[K]> {
  return new Promise((resolve) => {
    const on = (e: ClusterEvents[K]) => {
      if ((e as { rentalId: string }).rentalId === rentalId) {
        m.removeListener(event, on);
        resolve(e);
      }
    };
    m.on(event, on);
  });
}

t.test("three machines rented in one go, cheapest first, all acknowledged; the job's cluster comes from the chain", async (t) => {
  t.same(rentals.map((r) => r.amount), [6n * DUCK, 8n * DUCK, 10n * DUCK]);
  t.same(acks.pending, []);
  t.equal(acks.acknowledged.length, 3);
  t.same(cluster.skipped, []);
  t.same(
    cluster.machines.map((m) => `${m.username}@${m.host}:${m.port}`),
    sshds.map((s) => `${s.user}@${s.host}:${s.port}`),
  );
  for (const [i, sshd] of sshds.entries()) t.equal(listRentalKeys(sshd.authorizedKeysFile)[0]?.rentalId, rentals[i].rentalId.toString(), `key ${i + 1} installed`);
});

t.test("connect, upload a shard, run the worker through the gate, follow heartbeats to done", async (t) => {
  const m = new ClusterManager({ privateKey, knownHosts: known });
  t.teardown(() => m.close());
  for (const machine of cluster.machines) m.add(machine);
  const statuses = await m.connectAll();
  t.same(statuses.map((s) => s.status), ["ready", "ready", "ready"]);
  t.same(statuses.map((s) => s.hostKeyFingerprint), sshds.map((s) => s.hostKeyFingerprint), "host keys pinned");
  await m.uploadAll([{ source: shard, remote: "shard.bin" }]);
  for (const [i, r] of rentals.entries()) t.same(readFileSync(join(dir, `provider${i + 1}`, `rental-${r.rentalId}`, "shard.bin")), shard, `shard in rental ${r.rentalId}'s folder`);

  const beats: string[] = [];
  m.on("message", (e) => e.message.event === "heartbeat" && beats.push(e.rentalId));
  const done = Promise.all(rentals.map((r) => waitFor(m, "done", r.rentalId.toString())));
  await m.startAll(() => ["--hash", "shard.bin", "--beats", "3"]);
  const results = await done;
  t.same(results.map((r) => r.result?.sha256), [shardHash, shardHash, shardHash], "each worker read the shard from its own folder");
  t.equal(beats.length, 9, "3 heartbeats from each of 3 workers");
  for (const s of m.status()) {
    t.equal(s.status, "done");
    t.type(s.lastHeartbeat, "number");
  }

  const shell = await m.run(rentals[0].rentalId, "bash -c id");
  t.equal(shell.code, 1);
  t.match(shell.stderr, /refused/);
  await t.rejects(m.startWorker(rentals[0].rentalId, ["--data", "/etc/passwd"]), { code: "BAD_WORKER_ARG" });
  await t.rejects(m.upload(rentals[0].rentalId, shard, "../escape.bin"), { code: "BAD_REMOTE_PATH" });
});

t.test("a key the provider never installed is refused: the machine is failed", async (t) => {
  const m = new ClusterManager({ privateKey: readFileSync(stranger.privateKeyFile), knownHosts: known });
  t.teardown(() => m.close());
  m.add(cluster.machines[0]);
  t.equal(await m.connect(rentals[0].rentalId), false);
  t.match(m.status()[0], { status: "failed", error: { code: "SSH_AUTH_REFUSED" } });
});

t.test("a worker that stops sending heartbeats is failed", async (t) => {
  const m = new ClusterManager({ privateKey, knownHosts: known, heartbeatTimeoutMs: 1000 });
  t.teardown(() => m.close());
  m.add(cluster.machines[0]);
  await m.connect(rentals[0].rentalId);
  const failed = waitFor(m, "failed", rentals[0].rentalId.toString());
  await m.startWorker(rentals[0].rentalId, ["--beats", "1", "--hold"]);
  t.equal((await failed).error.code, "HEARTBEAT_LOST");
  t.match(m.status()[0], { status: "failed", error: { code: "HEARTBEAT_LOST" } });
  await until(() => processesWith(join(dir, "worker-entry.mjs")).length === 0, "the hung worker to be ended");
  t.same(processesWith(join(dir, "gate.mjs")), [], "the gate ended with its session");
});

t.test("a machine whose sshd dies is failed; the renter ends the rental and gets the unserved part back", async (t) => {
  const m = new ClusterManager({ privateKey, knownHosts: known, keepaliveMs: 500 });
  t.teardown(() => m.close());
  m.add(cluster.machines[1]);
  const id = rentals[1].rentalId;
  await m.connect(id);
  await m.startWorker(id, ["--beats", "100000"]);
  const failed = waitFor(m, "failed", id.toString());
  await sshds[1].stop();
  t.match((await failed).error.code, /^SSH_CONNECTION_LOST$/);
  t.equal(await m.connect(id), false, "reconnecting fails too");
  t.match(m.status()[0], { status: "failed", error: { code: "SSH_UNREACHABLE" } });

  const before = (await renter.duck.getFunction("balanceOf")(renter.wallet.address)) as bigint;
  const ended = await endRental(renter.marketplace, id);
  t.ok(ended.refund > 7n * DUCK, "nearly all of the 8 DUCK escrow comes back");
  t.equal(ended.refund + ended.earned, 8n * DUCK);
  t.equal((await renter.duck.getFunction("balanceOf")(renter.wallet.address)) as bigint, before + ended.refund);
});

t.test("a machine that shows a new host key is refused", async (t) => {
  const old = sshds[2];
  await old.stop();
  const impostor = await startSshd({ port: old.port, authorizedKeysFile: old.authorizedKeysFile });
  t.teardown(() => impostor.stop());
  const m = new ClusterManager({ privateKey, knownHosts: known });
  t.teardown(() => m.close());
  m.add(cluster.machines[2]);
  t.equal(await m.connect(rentals[2].rentalId), false);
  t.match(m.status()[0], { status: "failed", error: { code: "HOST_KEY_CHANGED" }, hostKeyFingerprint: old.hostKeyFingerprint });
});

t.test("every key is removed once the rentals end or run out", async (t) => {
  await fx.travel(2 * 3600 + 1);
  for (const a of agents) await a.poll();
  for (const sshd of sshds) t.same(listRentalKeys(sshd.authorizedKeysFile), [], `no rental key left in ${sshd.authorizedKeysFile}`);
  t.same(agents.map((a) => a.rentals()[0].status), ["expired", "ended", "expired"]);
  t.equal(agents[0].earnings(), 6n * DUCK, "provider 1 earned the full rent");
  t.notOk(existsSync(join(dir, "provider1", `rental-${rentals[0].rentalId}`)), "rental folder removed");
  await until(() => processesWith(join(dir, "gate.mjs")).length === 0, "every gate to end with its session");
  t.same(processesWith(join(dir, "worker-entry.mjs")), [], "no worker left running");
});
