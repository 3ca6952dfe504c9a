import t from "tap";
import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Wallet } from "ethers";
import { loadMnist, subset, writeIdx } from "../../native/data.js";
import { OrchestratorClient } from "../../orchestrator/client.js";
import { PostgresRepository } from "../../orchestrator/store/postgres.js";
import { connectContracts, contractAt } from "../../protocol/chain/contracts.js";
import { devAccount } from "../lib/chain/accounts.js";
import { faucet } from "../lib/chain/wallet.js";
import type { ContributorEvent } from "../lib/contribute/events.js";
import { runContributor } from "../lib/contribute/runner.js";
import { spawnCli } from "../lib/demo/processes.js";
import { createJob } from "../lib/job/create.js";
import { planJob } from "../lib/job/params.js";
import { TINY_SPEC } from "./network.js";
import { postgresNetwork } from "./postgresNetwork.js";

// `quackmesh serve --database postgres://…` (the built CLI) runs a job end to end: a Hardhat
// node, the contracts, a real PostgreSQL server, a contributor paid through TrainingPool.
const net = await postgresNetwork(t, "qm-serve-pg-");
if (!net) process.exit(0);
const { dir, pgServer, chain, provider, settings, deployment } = net;
const env = { QUACKMESH_DEPLOYMENTS: settings.deploymentsDir, QUACKMESH_HOME: join(dir, "home"), QUACKMESH_RPC_URL: chain.url, QUACKMESH_NETWORK: "local", QUACKMESH_PRIVATE_KEY: "" };

function serve(args: string[], extraEnv: NodeJS.ProcessEnv = {}) {
  const out: string[] = [];
  let onReady: (line: Record<string, unknown>) => void = () => undefined;
  const ready = new Promise<Record<string, unknown>>((resolve) => (onReady = resolve));
  const child = spawnCli(["serve", "--port", "0", "--poll", "100", "--json", ...args], {
    name: "serve",
    env: { ...env, ...extraEnv },
    onStdout: (l) => {
      out.push(l);
      if (l.includes('"event":"ready"')) onReady(JSON.parse(l));
    },
  });
  t.teardown(() => child.stop());
  return { child, ready, out };
}

t.test("a bad database URL or an unknown database: serve exits with the code and a fix, listening nowhere", async (t) => {
  for (const [url, code] of [["mysql://u@127.0.0.1/db", "BAD_DATABASE_URL"], [`postgres://postgres@127.0.0.1:${pgServer.port}/missing`, "DATABASE_REFUSED"]]) {
    const stderr: string[] = [];
    const child = spawnCli(["serve", "--port", "0", "--data-dir", join(dir, "bad"), "--database", url, "--json"], { name: "serve", env, onStderr: (l) => stderr.push(l) });
    const exit = await child.exited;
    t.equal(exit.code, 1, `${code}: refused`);
    t.match(JSON.parse(stderr.find((l) => l.startsWith("{")) ?? "{}"), { error: code, fix: /\S/ }, stderr.join("\n"));
  }
  t.notOk(existsSync(join(dir, "bad", "orchestrator.sqlite")), "no SQLite store was made instead");
});

t.test("serve --database runs a job end to end: activated, rounds closed, the contributor paid, all state in PostgreSQL", async (t) => {
  const url = await pgServer.createDatabase("e2e");
  const dataDir = join(dir, "orchestrator");
  // The URL through the environment, as an operator's unit file would give it.
  const { ready } = serve(["--data-dir", dataDir], { QUACKMESH_DATABASE_URL: url });
  const line = await ready;
  t.match(line, { store: `postgres postgres://postgres@127.0.0.1:${pgServer.port}/e2e` });
  const orchestrator = String(line.url);

  const requester = new Wallet(devAccount("requester").privateKey, provider);
  const contracts = await connectContracts(settings, requester);
  await faucet(contracts, provider, requester.address, { duck: 10n ** 21n, eth: 0n });
  const train = await loadMnist("train");
  const write = async (name: string, from: number, count: number) => {
    const out = join(dir, "data", name);
    await writeIdx(out, subset(train, Array.from({ length: count }, (_, i) => from + i)), "train");
    return out;
  };
  const validation = await write("validation", 50_000, 500);
  const specFile = join(dir, "tiny.json");
  await writeFile(specFile, JSON.stringify(TINY_SPEC));
  const plan = await planJob({ model: specFile, validation, reward: "20", roundBudget: "10", rounds: "2", minUpdates: "1", threshold: "0.3", seed: "3" });
  const job = await createJob(plan, { signer: requester, provider, contracts, chainId: chain.chainId, client: new OrchestratorClient(orchestrator, { signer: requester }) }, { pollMs: 100 });

  const alice = new Wallet(devAccount("contributor1").privateKey, provider);
  const data = subset(train, Array.from({ length: 2000 }, (_, i) => i));
  const events: ContributorEvent[] = [];
  for await (const e of runContributor({
    client: new OrchestratorClient(orchestrator, { signer: alice }),
    address: alice.address,
    chain: { trainingPool: contractAt("TrainingPool", deployment.contracts.TrainingPool, alice), duck: contracts.duck, provider },
    data,
    jobId: job.jobId,
    train: { holdout: 0 },
    submitOnChain: true,
    poll: { minMs: 100, maxMs: 300 },
  })) events.push(e);
  t.equal(events.filter((e) => e.event === "attested").length, 2, "an attested update each round");
  t.ok(events.some((e) => e.event === "rewarded"), "paid through TrainingPool");
  t.equal(events.at(-1)?.event, "finished");

  const repo = await PostgresRepository.open(url);
  t.teardown(() => repo.close());
  t.match(await repo.getJob(job.jobId), { status: "finished", currentRound: 1 });
  t.same((await repo.listRounds(job.jobId)).map((r) => r.status), ["closed", "closed"]);
  t.same(await repo.countUpdates(job.jobId), { accepted: 2, rejected: 0 });
  t.notOk(existsSync(join(dataDir, "orchestrator.sqlite")), "no SQLite store beside it");
});
