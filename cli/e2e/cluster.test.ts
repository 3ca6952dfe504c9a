// A cluster job end to end: a Hardhat chain, the orchestrator listening on 127.0.0.1:0 with its
// chain listener and cluster service, three providers (a real sshd each, real provider agents),
// and the requester's `quackmesh job create --cluster 3` (built CLI: npm run build:ts first).
// The workers are `quackmesh worker` processes started through each provider's embedded SSH
// gateway; they train MNIST shards; one provider's gateway dies mid-job and the cluster goes on
// without it. The rentals name the orchestrator as arbiter: ending them settles its downtime
// statement (`rent end` for the live machines, `job finish` for the dead one's rental, `job abort`
// for a second job's), and the renter gets the dead machine's down time back pro rata (the
// providers are staked, so a provider that already withdrew pays it from its stake).
import t, { type Test } from "tap";
import { execFile, spawn } from "node:child_process";
import { readFileSync, readdirSync, readlinkSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Wallet, parseUnits } from "ethers";
import { Network } from "../../native/index.js";
import { loadMnist, writeIdx } from "../../native/data.js";
import { decodeSafetensors } from "../../native/safetensors.js";
import type { ModelSpec } from "../../native/types.js";
import { OrchestratorClient, type ClusterReply } from "../../orchestrator/client.js";
import { devAccount } from "../lib/chain/accounts.js";
import { connectContracts } from "../../protocol/chain/contracts.js";
import { formatAmount } from "../../protocol/chain/units.js";
import { cliEntry } from "../lib/demo/processes.js";
import { getRentalInfo } from "../lib/market/marketplace.js";
import { startHeartbeats } from "../lib/market/liveness.js";
import { faucet } from "../lib/chain/wallet.js";
import { ProviderAgent } from "../lib/market/provider.js";
import { detectSpecs } from "../../protocol/market/specs.js";
import { SshGateway } from "../lib/market/gateway.js";
import { startTestNetwork } from "./network.js";
import { runClusterInference } from "../lib/infer/cluster.js";
import { inferOnCluster } from "../lib/infer/clusterCommand.js";
import { endRental, rentMachines, waitForAcks } from "../lib/market/renter.js";
import { ensureKeyPair, formatPublicKey } from "../../protocol/market/sshKeys.js";
import { makeOutput } from "../lib/output.js";

const started = Date.now();
const net = await startTestNetwork(t.teardown);
const DUCK = 10n ** 18n;
const ROUNDS = 8;
const spec: ModelSpec = {
  input: [784],
  layers: [
    { type: "dense", units: 128, activation: "relu" },
    { type: "dense", units: 10, activation: "none" },
  ],
  loss: "cross-entropy",
  normalize: { mean: 0.1307, std: 0.3081 },
};
const specFile = join(net.dir, "mlp.json");
await writeFile(specFile, JSON.stringify(spec));
const train = await net.dataDir("train", 0, 18_000);
const validation = await net.dataDir("validation", 50_000, 2000);
const client = new OrchestratorClient(net.server.url);
const duckOf = async (address: string) => (await net.contracts.duck.getFunction("balanceOf")(address)) as bigint;
const marketplace = net.contracts.marketplace;

// Three providers: an embedded gateway each (announcing its host key), an agent polling the chain
// that trusts the orchestrator as arbiter, a stake of 10 DUCK, and signed liveness records.
const specs = await detectSpecs({ runNvidiaSmi: async () => "" });
const STAKE = 10n * DUCK;
const arbiter = (await client.info()).evaluator;
const livenessTarget = { url: net.server.url, chainId: net.chain.chainId, marketplace: await marketplace.getAddress() };
const providers: Array<{ name: string; address: string; sshd: SshGateway & { user: string }; agent: ProviderAgent; root: string }> = [];
for (const [i, name] of ["provider1", "provider2", "provider3"].entries()) {
  const root = join(net.dir, name);
  const gateway = await SshGateway.start({ hostKeyFile: join(net.dir, `${name}-host-key`, "ssh_host_ed25519_key"), rentalsRoot: root, workerEntry: cliEntry() });
  const sshd = Object.assign(gateway, { user: "quackmesh", stop: () => gateway.close() });
  t.teardown(() => sshd.stop());
  const wallet = new Wallet(devAccount(name).privateKey, net.provider);
  const c = await connectContracts({ network: "local", rpc: net.chain.url, deploymentsDir: join(net.dir, "deployments") }, wallet);
  const agent = new ProviderAgent({ marketplace: c.marketplace, duck: c.duck, provider: net.provider, access: gateway, rentalsRoot: root, pollMs: 200, arbiters: [arbiter] });
  agent.on("error", ({ error }) => t.comment(`${name}: ${error.code} ${error.message}`));
  t.teardown(() => agent.stop());
  await faucet(net.contracts, net.provider, wallet.address, { duck: STAKE, eth: 0n });
  const machineId = await agent.listMachine({ ...specs, hostKey: sshd.hostKeyFingerprint }, BigInt(3 + i) * DUCK, `${sshd.user}@${sshd.host}:${sshd.port}`, 5, { stake: STAKE });
  agent.start();
  const stopBeats = startHeartbeats(livenessTarget, wallet, machineId, { intervalMs: 5000 });
  t.teardown(() => stopBeats());
  providers.push({ name, address: wallet.address, sshd, agent, root });
}

function quackmesh(args: string[]): Promise<{ code: number; stderr: string; lines: Array<Record<string, unknown>> }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [cliEntry(), ...args, "--rpc", net.chain.url, "--json"], { env: { ...process.env, ...net.env }, maxBuffer: 1 << 24 }, (err, stdout, stderr) => {
      const lines = stdout.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Record<string, unknown>);
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stderr, lines });
    });
  });
}

async function until<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 90_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`still waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Processes started for this test that outlive it: in its folder, or a gate/worker of its rentals. */
function leftovers(): number[] {
  const out: number[] = [];
  for (const d of readdirSync("/proc").filter((x) => /^\d+$/.test(x))) {
    try {
      const cmd = readFileSync(`/proc/${d}/cmdline`, "utf8");
      const cwd = readlinkSync(`/proc/${d}/cwd`);
      if (Number(d) !== process.pid && (cmd.includes(net.dir) || cwd.startsWith(net.dir))) out.push(Number(d));
    } catch {
      // gone, or not ours to read
    }
  }
  return out;
}

let jobId = 0;
let cluster: ClusterReply;
/** When provider3's gateway was stopped (unix seconds). */
let stoppedAt = 0;
const rentalOf = new Map<string, bigint>();
const figures: string[] = [];

t.test("job create --cluster refuses before spending anything", async (t) => {
  const me = net.requester.address;
  const snapshot = async () => ({ nonce: await net.provider.getTransactionCount(me), duck: await duckOf(me), jobs: await net.contracts.trainingPool.getFunction("jobCount")() });
  const before = await snapshot();
  const badTrain = join(net.dir, "bad-train.csv");
  await writeFile(badTrain, "1,0.5,0.5\n2,0.1,0.2\n3,0,0\n");
  const args = (over: Record<string, string | null>) =>
    Object.entries({ "--model": specFile, "--validation": validation, "--train": train, "--cluster": "3", "--hours": "2", "--seed": "1", ...over })
      .filter(([, v]) => v !== null)
      .flat() as string[];
  const cases: Array<[string, string[], string, RegExp]> = [
    ["no training data", args({ "--train": null }), "MISSING_OPTION", /--train/],
    ["--hours without --cluster", args({ "--cluster": null }), "BAD_ARGUMENT", /--hours applies only to a cluster job/],
    ["more machines than listed", args({ "--cluster": "4" }), "TOO_FEW_MACHINES", /Only 3 available machines match; the cluster needs 4/],
    ["a price cap two machines exceed", args({ "--max-price": "3.5" }), "TOO_FEW_MACHINES", /Only 1 available machine match/],
    ["a learning rate of 20", args({ "--lr": "20" }), "BAD_ARGUMENT", /--lr/],
    ["training data of another width", args({ "--train": badTrain }), "BAD_DATA", /Training data: .*2 features/],
    ["pool and rent above the balance", args({ "--hours": "5", "--reward": "990" }), "NOT_ENOUGH_DUCK", /need 1050 DUCK/],
  ];
  for (const [what, a, error, message] of cases) {
    const r = await quackmesh(["job", "create", "--orchestrator", net.server.url, ...a]);
    t.equal(r.code, 1, `${what}: exit code 1`);
    t.match(JSON.parse(r.stderr.trim().split("\n").at(-1)!), { error, message, fix: /\S/ }, `${what}: ${error}`);
  }
  t.same(await snapshot(), before, "no transaction, no DUCK moved, no job");
  t.same(await net.server.app.repo.listJobs(), [], "nothing reached the orchestrator");
});

t.test("job create --cluster 3 rents three machines and the orchestrator starts a worker on each", async (t) => {
  const requesterBefore = await duckOf(net.requester.address);
  const created = await quackmesh([
    "job", "create", "--orchestrator", net.server.url, "--model", specFile, "--validation", validation, "--train", train,
    "--cluster", "3", "--hours", "2", "--rounds", String(ROUNDS), "--epochs", "3", "--momentum", "0", "--threshold", "0.5", "--seed", "1", "--max-price", "10",
  ]);
  t.equal(created.code, 0, created.stderr);
  const last = created.lines.at(-1)!;
  t.match(last, { event: "cluster", rent: "24" });
  jobId = Number(last.jobId);
  t.same(created.lines.filter((l) => l.event === "rented").length, 3, "three rentals");
  t.same((last.machines as Array<{ status: string }>).map((m) => m.status), ["running", "running", "running"]);
  for (const m of last.machines as Array<{ rentalId: string; endpoint: string }>) rentalOf.set(m.endpoint, BigInt(m.rentalId));
  for (const id of rentalOf.values()) t.equal((await getRentalInfo(marketplace, id)).arbiter, arbiter, `rental ${id} names the orchestrator as arbiter`);
  t.equal(await duckOf(net.requester.address), requesterBefore - 1n * DUCK - 24n * DUCK, "1 DUCK pool + 2 h × (3 + 4 + 5) DUCK of rent");

  cluster = await client.cluster(jobId);
  t.match(cluster.cluster, { machines: 3, trainSamples: 18_000, keyFingerprint: /^SHA256:/, train: { epochs: 3, batchSize: 64, lr: 0.1, momentum: 0 } });
  t.same(cluster.machines.map((m) => `${m.host}:${m.port}`), providers.map((p) => `${p.sshd.host}:${p.sshd.port}`));
  t.same(cluster.machines.map((m) => m.shard).sort(), [0, 1, 2], "one shard each");
  for (const m of cluster.machines) {
    t.match(m, { status: "running", workerAddress: /^0x[0-9a-fA-F]{40}$/, workerVersion: cluster.orchestratorVersion, versionMatches: true, error: null });
    t.type(m.lastHeartbeat, "number");
  }
});

t.test("rounds close with the workers' updates; a provider's gateway dies: failed, the cluster goes on", async (t) => {
  const history = async () => (await client.getJob(jobId)).history;
  await until("round 2 to close", async () => (await history()).filter((r) => r.status === "closed").length >= 2);
  const workers = new Set(cluster.machines.map((m) => m.workerAddress));
  t.same((await history())[0].contributors.length, 3, "round 1 averaged all three machines");
  t.ok((await history())[0].contributors.every((c) => workers.has(c)), "every update came from a worker wallet the orchestrator made");

  const dying = providers[2];
  const dyingRental = cluster.machines.find((m) => m.port === dying.sshd.port)!;
  stoppedAt = Math.floor(Date.now() / 1000);
  await dying.sshd.stop();
  const failed = await until("the machine to be failed", async () => (await client.cluster(jobId)).machines.find((m) => m.rentalId === dyingRental.rentalId && m.status === "failed"));
  t.match(failed.error, /SSH_CONNECTION_LOST|WORKER_EXITED|HEARTBEAT_LOST/);

  const job = await until("the job to finish", async () => {
    const j = await client.getJob(jobId);
    return j.status === "finished" && j;
  }, 150_000);
  t.equal(job.history.length, ROUNDS);
  t.ok(job.history.some((r) => r.contributors.length === 2), "later rounds closed with the two live machines");
  t.notOk(job.history.some((r) => r.contributors.length === 0), "no round closed empty");
  const after = await until("the live workers to see the job finish", async () => {
    const c = await client.cluster(jobId);
    return c.machines.every((m) => m.status === "done" || m.status === "failed") && c;
  });
  t.same(after.machines.map((m) => m.status).sort(), ["done", "done", "failed"], "the live workers finished, exit code 0");

  const model = await client.getModel(jobId);
  if (model.notModified) throw new Error("unexpected 304");
  const test = await loadMnist("test");
  const final = await Network.fromWeights(spec, decodeSafetensors(model.bytes).tensors).evaluate(test);
  t.ok(final.accuracy >= 0.95, `final global model: ${(final.accuracy * 100).toFixed(2)} % on the 10 000 MNIST test images`);
  figures.push(
    `validation accuracy per round: ${job.history.map((r) => `${r.round}:${((r.accuracy ?? 0) * 100).toFixed(2)}%(${r.contributors.length})`).join(" ")}`,
    `final test accuracy: ${(final.accuracy * 100).toFixed(2)} %`,
  );
});

t.test("an address the orchestrator did not make is refused for a cluster job", async (t) => {
  const stranger = new OrchestratorClient(net.server.url, { signer: Wallet.createRandom() });
  await t.rejects(stranger.submitUpdate(jobId, 0, 10, Buffer.from("x")), { code: "NOT_CLUSTER_WORKER", details: { status: 403 } });
  const other = new OrchestratorClient(net.server.url, { signer: net.wallet("contributor1") });
  await t.rejects(other.uploadClusterKey({ jobId }, { privateKey: "x", machines: 1 }), { code: "NOT_REQUESTER" });
});

t.test("infer --training-cluster runs on the finished job's own live machines with the key the orchestrator holds", async (t) => {
  const rows = await loadMnist("test", { limit: 1500 });
  const dir = join(net.dir, "data", "mnist-test-1500");
  await writeIdx(dir, rows, "test");
  const live = (await client.cluster(jobId)).machines.filter((m) => m.status === "done").map((m) => String(m.rentalId));
  t.equal(live.length, 2, "two machines finished training; their rentals still run");
  const out = join(net.dir, "training-cluster.json");
  // No key file: the request carries none, the orchestrator uses the cluster's.
  const r = await runClusterInference({ jobId, input: dir, out, maxPayment: DUCK, machines: 0, hours: 1, partRows: 500, sshKeyFile: join(net.dir, "absent", "key"), trainingCluster: true }, net.deps());
  t.same(r.rentals.map((u) => u.rentalId).sort(), live.sort(), "the parts ran on the training cluster's live rentals");
  t.same(r.ended, [], "and they keep running");
  const model = await client.getModel(jobId);
  if (model.notModified) throw new Error("unexpected 304");
  const p = await Network.fromWeights(spec, decodeSafetensors(model.bytes).tensors).predict(rows.x, rows.count);
  const local = Array.from({ length: rows.count }, (_, r) => {
    const row = Array.from(p.subarray(r * 10, r * 10 + 10));
    return row.indexOf(Math.max(...row));
  });
  const written = (JSON.parse(readFileSync(out, "utf8")) as { predictions: Array<{ class: number }> }).predictions;
  t.same(written.map((q) => q.class), local, "the predictions of the job's model, in input order");
  await t.rejects(runClusterInference({ jobId: 999, input: dir, out, maxPayment: DUCK, machines: 0, hours: 1, partRows: 500, sshKeyFile: "", trainingCluster: true }, net.deps()), { code: "JOB_NOT_FOUND" });
});

/** The dead machine's rental (provider3's gateway stopped mid-job): left running for `job finish` to end and settle. */
const deadRental = () => rentalOf.get(`${providers[2].sshd.user}@${providers[2].sshd.host}:${providers[2].sshd.port}`)!;

/** The downtime part of an ended rental's line (rent end's and job finish's alike). */
type Downtime = { seconds: number; refund: string; fromStake: string; txHash: string } | null;

/**
 * Checks one ended rental of the first job against the chain: the refund of the unserved time, the
 * arbiter's statement settled with it (0 s for a live machine; for the dead one its down time back
 * pro rata, and a quarter of the stake left when down for more than half the time), the machine's
 * record, and what its provider withdrew. Returns what the renter got back, to the wei.
 */
async function checkEnded(t: Test, i: number, rentalId: bigint, line: { refund: bigint; downtime: Downtime }, providerBefore: bigint): Promise<bigint> {
  const p = providers[i];
  const r = await getRentalInfo(marketplace, rentalId);
  const total = BigInt(r.hours * 3600);
  const earned = (r.amount * BigInt(r.endedAt - r.startedAt)) / total;
  t.equal(r.status, "ended");
  t.equal(r.amount, BigInt(3 + i) * 2n * DUCK);
  t.equal(line.refund, r.amount - earned, `rental ${rentalId}: refund = amount − earned`);
  // The arbiter's statement was settled with the end: nothing for the live machines, the down time for the dead one.
  t.ok(line.downtime, `rental ${rentalId}: its arbiter's downtime statement was settled`);
  t.ok(r.settled, `rental ${rentalId}: settled on chain`);
  const down = BigInt(line.downtime!.seconds);
  const downRefund = (r.amount * down) / total;
  t.equal(line.downtime!.refund, formatAmount(downRefund), `rental ${rentalId}: ${down} s down refund ${formatAmount(downRefund)} DUCK, pro rata`);
  // What the settlement paid the renter: the down share, plus the stake's penalty when down for more than half the time.
  const settled = await duckTransfers(line.downtime!.txHash, net.requester.address);
  const record = await marketplace.getFunction("getRecord")(p.agent.machineId);
  if (i === 2) {
    const downFor = r.endedAt - stoppedAt;
    t.ok(down > 0n && down <= BigInt(downFor) && down >= BigInt(downFor - 30), `down ${down} s of the ${downFor} s since its gateway stopped`);
    t.ok(settled >= downRefund, `the renter was paid ${formatAmount(settled)} DUCK for it, at least the down share`);
    t.equal(record.downtimeSeconds, down, "the machine's on-chain record shows the downtime");
    // Its agent withdrew at the end, before or after the statement: what it kept is earned less the down share, the rest came from its stake.
    await until(`${p.name} to withdraw`, async () => p.agent.earnings() === earned || p.agent.earnings() === earned - downRefund);
    const stake = (await marketplace.getFunction("getMachine")(p.agent.machineId)).stake as bigint;
    const shortfall = p.agent.earnings() === earned ? downRefund : 0n;
    const served = BigInt(r.endedAt - r.startedAt);
    const penalty = 2n * down > served ? ((STAKE - shortfall) * 2500n) / 10_000n : 0n;
    t.equal(settled, downRefund + penalty, "the renter got the down share, and a quarter of the stake left when down for more than half the time");
    t.equal(STAKE - stake, shortfall + penalty, "the stake paid what the provider had withdrawn of the down share, and the penalty");
    t.equal(await duckOf(p.address), providerBefore + p.agent.earnings(), `${p.name} got what it withdrew`);
  } else {
    t.equal(down, 0n, `rental ${rentalId}: its machine was never down`);
    t.equal(record.downtimeSeconds, 0n);
    await until(`${p.name} to withdraw`, async () => p.agent.earnings() === earned);
    t.equal(await duckOf(p.address), providerBefore + earned, `${p.name} got exactly what rental ${rentalId} earned`);
  }
  figures.push(`${p.name}: rent ${formatAmount(r.amount)} DUCK, earned ${formatAmount(earned)} in ${r.endedAt - r.startedAt} s, refunded ${formatAmount(r.amount - earned)}, down ${down} s: ${formatAmount(settled)} DUCK back`);
  return r.amount - earned + settled;
}

t.test("the renter ends the live machines' rentals: exact refunds, no down time, providers withdraw what was earned", async (t) => {
  let refunds = 0n;
  const requesterBefore = await duckOf(net.requester.address);
  for (const [i, p] of providers.slice(0, 2).entries()) {
    const before = await duckOf(p.address);
    const rentalId = rentalOf.get(`${p.sshd.user}@${p.sshd.host}:${p.sshd.port}`)!;
    const ended = await quackmesh(["rent", "--orchestrator", net.server.url, "end", String(rentalId)]);
    t.equal(ended.code, 0, ended.stderr);
    const line = ended.lines.at(-1)! as { refund: string; downtime: Downtime };
    refunds += await checkEnded(t, i, rentalId, { refund: parseUnits(line.refund, 18), downtime: line.downtime }, before);
  }
  t.equal(await duckOf(net.requester.address), requesterBefore + refunds, "the requester got every refund, to the wei");
});

/** DUCK the marketplace sent `to` in transaction `txHash`. */
async function duckTransfers(txHash: string, to: string): Promise<bigint> {
  const receipt = await net.provider.getTransactionReceipt(txHash);
  const duck = net.contracts.duck;
  const market = (await marketplace.getAddress()).toLowerCase();
  let sum = 0n;
  for (const log of receipt!.logs) {
    if (log.address.toLowerCase() !== (await duck.getAddress()).toLowerCase()) continue;
    const ev = duck.interface.parseLog(log);
    if (ev?.name === "Transfer" && String(ev.args.from).toLowerCase() === market && String(ev.args.to).toLowerCase() === to.toLowerCase()) sum += ev.args.value as bigint;
  }
  return sum;
}

t.test("job finish returns the pool nobody was paid from, ends the dead machine's rental and settles its down time", async (t) => {
  const before = await duckOf(net.requester.address);
  const providerBefore = await duckOf(providers[2].address);
  const finished = await quackmesh(["job", "finish", String(jobId), "--orchestrator", net.server.url]);
  t.equal(finished.code, 0, finished.stderr);
  t.match(finished.lines[0], { jobId, refund: String(1n * DUCK), how: "proof" }, "the 1 DUCK pool came back whole");
  const ended = finished.lines.filter((l) => l.event === "rental-ended");
  t.same(ended.map((l) => l.rentalId), [String(deadRental())], "the one rental of the job still running is ended");
  const left = finished.lines.filter((l) => l.event === "rentals-unsettled" || l.event === "rentals-running");
  t.same(left, [], "nothing left to settle or running");
  const back = await checkEnded(t, 2, deadRental(), { refund: BigInt(ended[0].refund as string), downtime: ended[0].downtime as Downtime }, providerBefore);
  t.equal(await duckOf(net.requester.address), before + 1n * DUCK + back, "the requester got the pool, the unserved rent and the down time back, to the wei");
});
t.test("rent --job ID --train gives an existing job a cluster", async (t) => {
  const created = await quackmesh([
    "job", "create", "--orchestrator", net.server.url, "--model", specFile, "--validation", validation,
    "--reward", "10", "--rounds", "2", "--min-updates", "2", "--threshold", "0.5", "--seed", "2",
  ]);
  t.equal(created.code, 0, created.stderr);
  const second = Number(created.lines.at(-1)!.jobId);
  const rented = await quackmesh(["rent", "--count", "2", "--hours", "1", "--job", String(second), "--train", train, "--orchestrator", net.server.url, "--max-price", "4"]);
  t.equal(rented.code, 0, rented.stderr);
  const last = rented.lines.at(-1)!;
  t.match(last, { event: "cluster", jobId: second, rent: "7" });
  t.same((last.machines as Array<{ status: string }>).map((m) => m.status), ["running", "running"]);
  const job = await until("the second job to finish", async () => {
    const j = await client.getJob(second);
    return j.status === "finished" && j;
  });
  const workers = new Set((await client.cluster(second)).machines.map((m) => m.workerAddress));
  t.same(job.history.map((r) => r.contributors.filter((c) => workers.has(c)).length), [2, 2], "both rounds trained by the two rented machines");

  // The job's rentals follow it: job abort ends both and settles their arbiter's statements (never down: 0 s).
  const before = await duckOf(net.requester.address);
  const aborted = await quackmesh(["job", "abort", String(second), "--orchestrator", net.server.url]);
  t.equal(aborted.code, 0, aborted.stderr);
  const ended = aborted.lines.filter((l) => l.event === "rental-ended");
  t.same(ended.map((l) => l.rentalId).sort(), (last.machines as Array<{ rentalId: string }>).map((m) => m.rentalId).sort(), "both rentals ended by the abort");
  let back = BigInt(aborted.lines.find((l) => l.event === "aborted")!.refund as string);
  for (const l of ended) {
    const r = await getRentalInfo(marketplace, BigInt(l.rentalId as string));
    const earned = (r.amount * BigInt(r.endedAt - r.startedAt)) / BigInt(r.hours * 3600);
    t.equal(BigInt(l.refund as string), r.amount - earned, `rental ${r.rentalId}: refund = amount − earned`);
    t.match(l.downtime, { seconds: 0, refund: "0", fromStake: "0" }, `rental ${r.rentalId}: its arbiter's statement settled, 0 s down`);
    t.ok(r.settled && r.status === "ended", `rental ${r.rentalId}: ended and settled on chain`);
    back += r.amount - earned;
  }
  t.equal(await duckOf(net.requester.address), before + back, "the requester got the abort's refund and the unserved rent, to the wei");
});

// ---- inference on rented machines (infer --cluster), on the finished job's model ----

/** provider3's gateway died above: it comes back on a new gateway and agent, listed afresh. */
async function reviveProvider3(): Promise<void> {
  const old = providers[2];
  await old.agent.stop();
  const gateway = await SshGateway.start({ hostKeyFile: join(net.dir, `${old.name}-host-key`, "ssh_host_ed25519_key"), rentalsRoot: old.root, workerEntry: cliEntry() });
  const sshd = Object.assign(gateway, { user: "quackmesh", stop: () => gateway.close() });
  t.teardown(() => sshd.stop());
  const wallet = new Wallet(devAccount(old.name).privateKey, net.provider);
  const c = await connectContracts({ network: "local", rpc: net.chain.url, deploymentsDir: join(net.dir, "deployments") }, wallet);
  const agent = new ProviderAgent({ marketplace: c.marketplace, provider: net.provider, access: gateway, rentalsRoot: old.root, pollMs: 200 });
  t.teardown(() => agent.stop());
  await agent.listMachine({ ...specs, hostKey: sshd.hostKeyFingerprint }, 5n * DUCK, `${sshd.user}@${sshd.host}:${sshd.port}`, 5);
  agent.start();
  providers[2] = { ...old, sshd, agent };
}

/** The DUCK InferencePool sent to each address in a transaction (its Transfer logs). */
async function poolTransfers(txHash: string): Promise<Map<string, bigint>> {
  const receipt = await net.provider.getTransactionReceipt(txHash);
  const pool = (await net.contracts.inferencePool.getAddress()).toLowerCase();
  const duck = net.contracts.duck;
  const out = new Map<string, bigint>();
  for (const log of receipt!.logs) {
    const ev = log.address.toLowerCase() === (await duck.getAddress()).toLowerCase() ? duck.interface.parseLog(log) : null;
    if (ev?.name === "Transfer" && String(ev.args.from).toLowerCase() === pool) out.set(String(ev.args.to).toLowerCase(), (out.get(String(ev.args.to).toLowerCase()) ?? 0n) + (ev.args.value as bigint));
  }
  return out;
}

type Line = Record<string, unknown>;
const predictionsOf = (file: string) => (JSON.parse(readFileSync(file, "utf8")) as { predictions: unknown[] }).predictions;

/**
 * The orchestrator signed the statement (the inference job names it); each rental's line is its
 * compute at its price; the last line is the orchestrator's minimum fee; the chain paid exactly it.
 */
async function checkPayments(t: Test, lines: Line[], done: Line): Promise<void> {
  const settled = lines.find((l) => l.event === "settled")!;
  const rentals = done.rentals as Array<{ rentalId: string; provider: string; rows: number; computeMs: number; amount: string; pricePerHour: string }>;
  t.equal(rentals.reduce((n, r) => n + r.rows, 0), 10_000, "every row paid for once");
  for (const r of rentals) {
    const price = BigInt(r.pricePerHour);
    t.equal(BigInt(r.amount), (BigInt(r.computeMs) * price + 3_599_999n) / 3_600_000n, `rental ${r.rentalId}: ${r.computeMs} ms at ${formatAmount(price)} DUCK/h = ${formatAmount(BigInt(r.amount))} DUCK`);
  }
  const info = await client.inferenceInfo();
  const job = await net.contracts.inferencePool.getFunction("getInferenceJob")(done.inferenceJobId);
  t.equal(String(job.orchestrator), info.orchestrator, "the inference job names the orchestrator, whose signature settled it");
  t.equal(done.orchestrator, info.orchestrator);
  const providers = settled.providers as string[];
  const amounts = (settled.amounts as string[]).map(BigInt);
  t.same(providers.slice(0, -1).map((a) => a.toLowerCase()).sort(), [...new Set(rentals.map((r) => r.provider.toLowerCase()))].sort(), "one statement line per provider");
  t.same([providers.at(-1), amounts.at(-1)], [info.payout, BigInt(info.minimumFee)], "then the orchestrator's minimum fee");
  const paid = await poolTransfers(String(settled.txHash));
  for (const [i, address] of providers.entries()) {
    const owed = i < providers.length - 1 ? rentals.filter((r) => r.provider.toLowerCase() === address.toLowerCase()).reduce((s, r) => s + BigInt(r.amount), 0n) : amounts[i];
    t.equal(amounts[i], owed, `${address}: its line is the sum of its rentals`);
    t.equal(paid.get(address.toLowerCase()) ?? 0n, amounts[i], `${address} received exactly its line of the statement`);
  }
  t.equal(job.paid as bigint, amounts.reduce((s, a) => s + a, 0n), "InferencePool paid the statement's total");
  t.equal(paid.get(net.requester.address.toLowerCase()), (job.maxPayment as bigint) - (job.paid as bigint), "the rest of the escrow came back to the requester");
  for (const e of lines.filter((l) => l.event === "ended")) t.equal(((await getRentalInfo(marketplace, BigInt((e.rental as Line).rentalId as string))).status), "ended", `rental ${(e.rental as Line).rentalId} ended for its refund`);
}

const testDir = join(net.dir, "data", "mnist-test");

t.test("infer --cluster refuses before spending anything", async (t) => {
  await reviveProvider3();
  await writeIdx(testDir, await loadMnist("test"), "test");
  const me = net.requester.address;
  const snapshot = async () => ({ nonce: await net.provider.getTransactionCount(me), duck: await duckOf(me), inference: await net.contracts.inferencePool.getFunction("jobCount")() });
  const before = await snapshot();
  const narrow = join(net.dir, "narrow.csv");
  await writeFile(narrow, "0.5,0.5\n0.1,0.2\n");
  const flags = { job: String(jobId), input: testDir, out: join(net.dir, "never.json"), maxPayment: "1", partRows: "1000", hours: "1", orchestrator: net.server.url, rpc: net.chain.url, account: "requester" };
  const plan = { jobId, input: testDir, out: join(net.dir, "never.json"), maxPayment: DUCK, machines: 3, hours: 1, partRows: 1000, sshKeyFile: join(net.dir, "infer-key") };
  const cases: Array<[string, () => Promise<unknown>, string, RegExp]> = [
    ["--cluster with --rentals", () => inferOnCluster({ ...flags, cluster: "3", rentals: "1" }, makeOutput(true)), "BAD_ARGUMENT", /cannot be used together/],
    ["--resume with --cluster", () => inferOnCluster({ ...flags, cluster: "3", resume: "1" }, makeOutput(true)), "BAD_ARGUMENT", /--resume applies to inference on the orchestrator/],
    ["--part-rows 0", () => inferOnCluster({ ...flags, cluster: "3", partRows: "0" }, makeOutput(true)), "BAD_ARGUMENT", /--part-rows/],
    ["more machines than listed", () => runClusterInference({ ...plan, machines: 4 }, net.deps()), "TOO_FEW_MACHINES", /Only 3 available machines match; the inference needs 4/],
    ["a price cap two machines exceed", () => runClusterInference({ ...plan, maxPrice: (7n * DUCK) / 2n }, net.deps()), "TOO_FEW_MACHINES", /Only 1 available machine match/],
    ["an escrow above the balance", () => runClusterInference({ ...plan, maxPayment: 10_000n * DUCK }, net.deps()), "NOT_ENOUGH_DUCK", /the escrow \(10000\) and the rent \(12\)/],
    ["input of another width", () => runClusterInference({ ...plan, input: narrow }, net.deps()), "BAD_DATA", /2 columns, but the model takes 784/],
    ["a rental that does not exist", () => runClusterInference({ ...plan, machines: 0, rentals: [999n] }, net.deps()), "RENTAL_NOT_USABLE", /Rental 999 does not exist/],
    ["a rental that ended", () => runClusterInference({ ...plan, machines: 0, rentals: [1n] }, net.deps()), "RENTAL_NOT_USABLE", /Rental 1 is ended, not active/],
  ];
  for (const [what, run, code, message] of cases) await t.rejects(run(), { code, message, fix: /\S/ }, `${what}: ${code}`);
  t.same(await snapshot(), before, "no transaction, no DUCK moved, no inference job");
});

t.test("infer --cluster 3, one provider killed mid-run: the predictions of infer on the orchestrator; each provider paid for what it returned", async (t) => {
  const base = ["infer", "--orchestrator", net.server.url, "--job", String(jobId), "--input", testDir];
  const alone = await quackmesh([...base, "--out", join(net.dir, "single.json")]);
  t.equal(alone.code, 0, alone.stderr);
  const single = predictionsOf(join(net.dir, "single.json"));
  t.equal(single.length, 10_000);

  const victim = providers[2];
  const started = Date.now();
  const args = [...base, "--cluster", "3", "--hours", "1", "--max-price", "10", "--max-payment", "1", "--part-rows", "1000", "--out", join(net.dir, "cluster.json")];
  const child = spawn(process.execPath, [cliEntry(), ...args, "--rpc", net.chain.url, "--json"], { env: { ...process.env, ...net.env } });
  t.teardown(() => void child.kill());
  let stdout = "";
  let stderr = "";
  // When each kind of progress line first arrived (seconds from the start), for the figures.
  const firstSeen = new Map<string, string>();
  child.stdout.on("data", (d: Buffer) => {
    stdout += d;
    for (const m of String(d).matchAll(/"event":"([a-z-]+)"/g)) if (!firstSeen.has(m[1])) firstSeen.set(m[1], ((Date.now() - started) / 1000).toFixed(1));
  });
  child.stderr.on("data", (d: Buffer) => (stderr += d));
  // The moment a second part lands in the victim's rental folder, its gateway dies: that part is
  // in flight (uploading or running), so it cannot have been returned.
  let killed = false;
  const seen = new Set<string>();
  const watch = setInterval(() => {
    for (const rental of readdirSync(victim.root).filter((d) => d.startsWith("rental-"))) {
      try {
        for (const n of readdirSync(join(victim.root, rental, "infer"))) if (/^part-\d+\.f32$/.test(n)) seen.add(n);
      } catch {
        // not made yet
      }
    }
    if (seen.size >= 2 && !killed) {
      killed = true;
      void victim.sshd.stop();
    }
  }, 2);
  const code = await new Promise<number>((resolve) => child.on("close", (c) => resolve(c ?? 1)));
  clearInterval(watch);
  t.equal(code, 0, stderr);
  t.ok(killed, "the victim's gateway was killed once its second part arrived");
  const lines = stdout.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Line);
  const done = lines.at(-1)!;
  t.match(done, { event: "done", count: 10_000, classes: 10 });
  t.same(predictionsOf(join(net.dir, "cluster.json")), single, "the same 10 000 predictions, probabilities and order as on the orchestrator");

  const rented = lines.filter((l) => l.event === "rented").map((l) => l.rental as Line);
  t.same(rented.map((r) => r.provider).sort(), providers.map((p) => p.address).sort(), "one rental on each provider");
  const victimRental = String(rented.find((r) => r.provider === victim.address)!.rentalId);
  const failed = lines.filter((l) => l.event === "machine-failed");
  t.match(failed, [{ rentalId: victimRental, requeued: Number }], "only the victim failed, with a part in flight");
  const redone = lines.find((l) => l.event === "part" && l.part === failed[0].requeued)!;
  t.not(redone.rentalId, victimRental, `part ${failed[0].requeued} was redone on rental ${redone.rentalId}`);
  const usage = { rentals: done.rentals as Array<{ rentalId: string; rows: number; computeMs: number }> };
  t.ok(usage.rentals.every((r) => r.rows > 0), `each machine answered parts: ${usage.rentals.map((r) => r.rows).join(" + ")} rows`);
  const returned = lines.filter((l) => l.event === "part" && l.rentalId === victimRental);
  t.equal(returned.length, 1, "the victim returned its first part only");
  const line = usage.rentals.find((r) => r.rentalId === victimRental)!;
  t.equal(line.rows, returned.reduce((n, l) => n + (l.rows as number), 0), "its statement line counts only the rows it returned");
  t.equal(line.computeMs, returned.reduce((n, l) => n + (l.computeMs as number), 0), "and only their compute time");
  t.equal(lines.filter((l) => l.event === "ended").length, 3, "the three rentals were ended for their refund, the victim's too");
  await checkPayments(t, lines, done);
  figures.push(
    `infer --cluster 3 (10 000 rows, one provider killed; CLI wall incl. renting and settling): ${((Date.now() - started) / 1000).toFixed(1)} s; ` +
      `rows per rental ${usage.rentals.map((r) => `${r.rentalId}:${r.rows}`).join(" ")}; part ${failed[0].requeued} redone on rental ${redone.rentalId} ` +
      `(the victim: ${String(failed[0].code)}); first seen at s: ${[...firstSeen].map(([e, at]) => `${e} ${at}`).join(", ")}`,
  );
});

t.test("infer --rentals runs on rentals the requester already has and leaves them running", async (t) => {
  const keyFile = join(net.dir, "own-rentals-key");
  const pair = await ensureKeyPair(keyFile);
  const rented = await rentMachines({ marketplace, duck: net.contracts.duck }, net.provider, net.requester.address, net.deployment.block, { count: 2, hours: 1, sshPublicKey: formatPublicKey(pair.publicKey), filter: { maxPrice: 4n * DUCK } });
  const ids = rented.map((r) => r.rentalId);
  const acks = await waitForAcks(marketplace, ids, { timeoutMs: 30_000 });
  t.same(acks.acknowledged, ids, "both acknowledged");
  const out = join(net.dir, "rentals.json");
  const r = await runClusterInference({ jobId, input: testDir, out, maxPayment: DUCK, machines: 0, hours: 1, rentals: ids, partRows: 2500, sshKeyFile: keyFile }, net.deps());
  t.same(r.rentals.map((u) => u.rentalId).sort(), ids.map(String).sort());
  t.ok(r.rentals.every((u) => u.rows > 0), `both rentals answered parts: ${r.rentals.map((u) => u.rows).join(" + ")} rows`);
  t.same(predictionsOf(out), predictionsOf(join(net.dir, "single.json")), "the same predictions as on the orchestrator");
  t.same(r.ended, [], "nothing ended");
  for (const id of ids) t.equal((await getRentalInfo(marketplace, id)).status, "active", `rental ${id} keeps running`);
  for (const id of ids) await endRental(marketplace, id);
});

t.test("nothing is left running", async (t) => {
  for (const p of providers) await p.agent.stop();
  for (const p of providers) await p.sshd.stop();
  await until("every gate and worker to end", async () => leftovers().length === 0, 20_000).catch(() => undefined);
  t.same(leftovers(), [], "no gateway worker of this test is left");
  for (const p of providers) t.same(readdirSync(p.root), [], `${p.name}'s rental folders are removed`);
  figures.push(`wall time ${((Date.now() - started) / 1000).toFixed(1)} s`);
  for (const f of figures) t.comment(f);
});
