import t from "tap";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Wallet } from "ethers";
import pg from "pg";
import { loadMnist, subset, writeIdx } from "../../native/data.js";
import { OrchestratorClient } from "../../orchestrator/client.js";
import { replayRound } from "../../orchestrator/index.js";
import { BlobStore } from "../../orchestrator/store/blobs.js";
import { PostgresRepository } from "../../orchestrator/store/postgres.js";
import { connectContracts, contractAt } from "../../protocol/chain/contracts.js";
import { devAccount } from "../lib/chain/accounts.js";
import { faucet } from "../lib/chain/wallet.js";
import type { ContributorEvent } from "../lib/contribute/events.js";
import { runContributor } from "../lib/contribute/runner.js";
import { spawnCli, type CliChild } from "../lib/demo/processes.js";
import { createJob } from "../lib/job/create.js";
import { planJob } from "../lib/job/params.js";
import { TINY_SPEC } from "./network.js";
import { postgresNetwork } from "./postgresNetwork.js";

// Three `quackmesh serve` processes on one real PostgreSQL and one shared folder, contributors
// spread over two of them; killed with SIGKILL in the middle of the job: first the instance
// holding a round's lock while it closes that round, then the chain reader.
const net = await postgresNetwork(t, "qm-serve-shared-");
if (!net) process.exit(0);
const { dir, pgServer, chain, provider, settings, deployment } = net;
const url = await pgServer.createDatabase("shared");
const shared = join(dir, "shared");
const evaluator = Wallet.createRandom();
const env = {
  QUACKMESH_DEPLOYMENTS: settings.deploymentsDir, QUACKMESH_HOME: join(dir, "home"), QUACKMESH_RPC_URL: chain.url, QUACKMESH_NETWORK: "local",
  QUACKMESH_PRIVATE_KEY: "", QUACKMESH_DATABASE_URL: url, QUACKMESH_EVALUATOR_KEY: evaluator.privateKey,
};

interface Instance {
  name: string;
  child: CliChild;
  url: string;
  /** Whether it said last that it reads the chain. */
  reads: boolean;
  /** Whether it said last that it manages the clusters. */
  manages: boolean;
  killed: boolean;
}

/** Every round:closed line, from every instance: "job:round" and who said it. */
const closes: Array<{ key: string; by: string }> = [];

async function startInstance(name: string): Promise<Instance> {
  let onReady: (url: string) => void = () => undefined;
  const ready = new Promise<string>((resolve) => (onReady = resolve));
  const inst = { name, reads: false, manages: false, killed: false } as Instance;
  inst.child = spawnCli(["serve", "--port", "0", "--poll", "100", "--data-dir", shared, "--json"], {
    name,
    env,
    onStdout: (l) => {
      if (process.env.QM_DEBUG) process.stderr.write(`[${name}] ${l.slice(0, 300)}\n`);
      if (l.includes('"event":"ready"')) onReady(String(JSON.parse(l).url));
      if (l.includes('"event":"round:closed"')) closes.push({ key: `${JSON.parse(l).jobId}:${JSON.parse(l).round}`, by: name });
      const m = /"chainReader":(true|false)/.exec(l);
      if (m) inst.reads = m[1] === "true";
      const c = /"clusterManager":(true|false)/.exec(l);
      if (c) inst.manages = c[1] === "true";
    },
  });
  t.teardown(() => inst.child.stop());
  inst.url = await ready;
  return inst;
}

async function kill(inst: Instance): Promise<void> {
  inst.killed = true;
  process.kill(inst.child.pid, "SIGKILL");
  await inst.child.exited;
}

/**
 * What a load balancer in front of the instances does for a client: requests go to `first`
 * until it stops answering, then to the next live instance. Signatures cover the path, not the host.
 */
function failover(instances: Instance[], first: Instance): typeof fetch {
  let current = first;
  return async (input, init) => {
    for (let tries = 0; ; tries++) {
      try {
        return await fetch(String(input).replace(/^https?:\/\/[^/]+/, current.url), init);
      } catch (err) {
        const live = instances.filter((i) => !i.killed);
        if (tries >= instances.length || live.length === 0) throw err;
        current = live.includes(current) ? live[(live.indexOf(current) + 1) % live.length] : live[0];
      }
    }
  };
}

/** The `quackmesh serve` process holding the named lock now (its lock connection says its pid), or null. */
async function lockHolder(admin: pg.Client, instances: Instance[], name: string): Promise<Instance | null> {
  const { rows } = await admin.query<{ app: string }>(
    `SELECT a.application_name AS app FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
     WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 20813 AND l.objsubid = 2 AND l.objid::bigint = (hashtext($1)::bigint & 4294967295)`,
    [name],
  );
  const pid = Number(/^quackmesh-locks (\d+)$/.exec(rows[0]?.app ?? "")?.[1]);
  return instances.find((i) => i.child.pid === pid) ?? null;
}

async function until<T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false, ms = 60_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

t.test("three orchestrators, one PostgreSQL: the holder of a round lock and then the chain reader SIGKILLed; each round closed once, no update lost, everyone paid once", async (t) => {
  const instances = await Promise.all(["a", "b", "c"].map(startInstance));
  const reader = await until("a chain reader", () => instances.filter((i) => i.reads).length === 1 && instances.find((i) => i.reads));
  const others = instances.filter((i) => i !== reader);
  const manager = await until("a cluster manager", () => instances.find((i) => i.manages));
  t.equal(instances.filter((i) => i.manages).length, 1, `one instance manages the clusters (${manager.name})`);

  const requester = new Wallet(devAccount("requester").privateKey, provider);
  const contracts = await connectContracts(settings, requester);
  await faucet(contracts, provider, requester.address, { duck: 10n ** 21n, eth: 0n });
  const train = await loadMnist("train");
  const validation = join(dir, "data", "validation");
  await writeIdx(validation, subset(train, Array.from({ length: 500 }, (_, i) => 50_000 + i)), "train");
  const specFile = join(dir, "tiny.json");
  await writeFile(specFile, JSON.stringify(TINY_SPEC));
  const newJob = async (via: Instance, rounds: number) =>
    createJob(
      await planJob({ model: specFile, validation, reward: "60", roundBudget: "20", rounds: String(rounds), minUpdates: "2", roundDeadline: "6", threshold: "0.3", seed: "3" }),
      { signer: requester, provider, contracts, chainId: chain.chainId, client: new OrchestratorClient(via.url, { signer: requester }) },
      { pollMs: 100 },
    );
  // Uploaded to one instance, activated by the one reading the chain.
  const job = await newJob(others[0], 3);

  const repo = await PostgresRepository.open(url);
  t.teardown(() => repo.close());
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  t.teardown(() => admin.end());
  const people = [
    { account: "contributor1", via: others[0], from: 0 },
    { account: "contributor2", via: others[1], from: 2000 },
  ];
  const duck = async (a: string) => (await contracts.duck.getFunction("balanceOf")(a)) as bigint;
  const runs = people.map(async (p) => {
    const w = new Wallet(devAccount(p.account).privateKey, provider);
    const before = await duck(w.address);
    const events: ContributorEvent[] = [];
    for await (const e of runContributor({
      client: new OrchestratorClient(p.via.url, { signer: w, fetch: failover(instances, p.via) }),
      address: w.address,
      chain: { trainingPool: contractAt("TrainingPool", deployment.contracts.TrainingPool, w), duck: contracts.duck, provider },
      data: subset(train, Array.from({ length: 1500 }, (_, i) => p.from + i)),
      jobId: job.jobId,
      train: { holdout: 0 },
      submitOnChain: true,
      poll: { minMs: 100, maxMs: 300 },
    })) events.push(e);
    return { address: w.address, events, gained: (await duck(w.address)) - before };
  });

  await until("round 0 closed", async () => (await repo.getRound(job.jobId, 0))?.status === "closed");
  // Holding the job's row stops round 1's close at its last write, with its round lock held.
  await admin.query("BEGIN");
  await admin.query("SELECT job_id FROM jobs WHERE job_id = $1 FOR NO KEY UPDATE", [job.jobId]);
  const lock = `round:${job.jobId}:1`;
  const closer = await until("an instance closing round 1", () => lockHolder(admin, instances, lock));
  t.equal((await repo.getRound(job.jobId, 1))?.status, "closing", `${closer.name} holds ${lock} in the middle of closing it`);
  await kill(closer);
  // The killed instance's backend waits on the held row (PostgreSQL reads no socket while it
  // waits), so it keeps the round lock until the rollback; then its transaction dies with it.
  await admin.query("ROLLBACK");
  await until("round 1 closed", async () => (await repo.getRound(job.jobId, 1))?.status === "closed");
  const closed = closes.filter((c) => c.key === `${job.jobId}:1`);
  t.equal(closed.length, 1, "round 1 closed once");
  t.ok(closed[0].by !== closer.name && instances.some((i) => i.name === closed[0].by && !i.killed), `${closed[0].by} took ${lock} over from the SIGKILLed ${closer.name} and closed round 1`);

  // Then the chain reader of the day dies too; the last instance does everything.
  const lastReader = await until("a chain reader", () => instances.find((i) => i.reads && !i.killed));
  await kill(lastReader);
  const survivor = instances.find((i) => !i.killed)!;
  const results = await Promise.all(runs);
  await until(`${survivor.name} reading the chain`, () => survivor.reads);
  await until(`${survivor.name} managing the clusters`, () => survivor.manages);
  t.pass(`${survivor.name} reads the chain and manages the clusters after ${closer.name} and ${lastReader.name} died (the first manager was ${manager.name})`);
  // A job created after the kills is activated.
  const job2 = await newJob(survivor, 1);
  t.match(await repo.getJob(job2.jobId), { status: "active" }, "activated after the reader died");

  const rounds = await repo.listRounds(job.jobId);
  t.same(rounds.map((r) => r.status), ["closed", "closed", "closed"], "every round closed");
  t.same(closes.filter((c) => c.key.startsWith(`${job.jobId}:`)).map((c) => c.key).sort(), ["0", "1", "2"].map((r) => `${job.jobId}:${r}`), "each by one instance, once");
  t.match(await repo.getJob(job.jobId), { status: "finished", currentRound: 2 });
  const attested = results.flatMap((r) => r.events.filter((e) => e.event === "attested"));
  t.equal(attested.length, 6, "each contributor attested in each round");
  const accepted = await Promise.all(rounds.map((r) => repo.listUpdates(job.jobId, r.round, "accepted")));
  t.same(accepted.map((u) => u.length), [2, 2, 2], "no accepted update lost");
  for (const r of results) {
    const rewarded = r.events.filter((e): e is Extract<ContributorEvent, { event: "rewarded" }> => e.event === "rewarded");
    t.equal(new Set(rewarded.map((e) => e.round)).size, rewarded.length, `${r.address}: one payment per round at most`);
    t.equal(r.gained, rewarded.reduce((s, e) => s + e.amount, 0n), `${r.address}: paid exactly what the rounds owed, once`);
  }
  // Each round's model is what one orchestrator alone makes of the same updates, bit for bit.
  const blobs = new BlobStore(shared);
  await blobs.init();
  const jobRecord = (await repo.getJob(job.jobId))!;
  for (const r of rounds) {
    const replay = await replayRound({
      round: r.round,
      settings: jobRecord.settings,
      inputModel: await blobs.get(r.inputModelHash),
      updates: await Promise.all(r.rewards!.updates.map(async (u) => ({ ...u, bytes: await blobs.get(u.updateHash) }))),
    });
    t.equal(replay.modelHash, r.modelHash, `round ${r.round}: the same model`);
    t.equal(replay.updatesRoot, r.rewards!.updatesRoot, `round ${r.round}: the same updates root`);
  }
});
