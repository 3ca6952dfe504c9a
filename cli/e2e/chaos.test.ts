import t from "tap";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Wallet, type EventLog } from "ethers";
import { loadMnist, subset, writeIdx } from "../../native/data.js";
import { OrchestratorClient, type RoundRewardsReply } from "../../orchestrator/client.js";
import { connectContracts } from "../../protocol/chain/contracts.js";
import { makeProvider } from "../../protocol/chain/networks.js";
import { devAccount } from "../lib/chain/accounts.js";
import { deployAll } from "../lib/chain/deploy.js";
import { startLocalChain } from "../lib/chain/localChain.js";
import { faucet } from "../lib/chain/wallet.js";
import { spawnCli, type CliChild } from "../lib/demo/processes.js";
import { createJob } from "../lib/job/create.js";
import { planJob } from "../lib/job/params.js";
import { TINY_SPEC } from "./network.js";

// The chaos drill: a real chain, `quackmesh serve` and two `quackmesh contribute` processes (built
// CLI: npm run build:ts first) train a 3-round job while the orchestrator is killed -9 at seeded
// moments and restarted on its data dir, and one contributor is killed -9 between training and its
// attestation (its upload) and restarted. Afterwards no accepted update is lost and nothing is paid
// twice; then the chain restarts under the running orchestrator, which must say so.

const seed = Number(process.env.QUACKMESH_CHAOS_SEED || Math.floor(Math.random() * 2 ** 31));
t.comment(`chaos seed ${seed} (replay: QUACKMESH_CHAOS_SEED=${seed} npx tap cli/e2e/chaos.test.ts)`);

/** mulberry32: a small seeded generator, so a failing schedule can be replayed. */
function random(a: number): () => number {
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** GET /healthz until it answers `status` (or the process is gone). */
async function health(url: string, status: number, child: CliChild): Promise<{ error?: string; message?: string; fix?: string }> {
  let gone = false;
  void child.exited.then(() => (gone = true));
  for (;;) {
    if (gone) throw new Error(`the orchestrator exited: ${child.stderrTail()}`);
    try {
      const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2000) });
      if (res.status === status) return (await res.json()) as { error?: string };
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
}

const ROUNDS = 3;
const DUCK = 10n ** 18n;

t.test("chaos drill: orchestrator kill -9 at seeded moments, a contributor killed mid-upload, then a chain restart under the orchestrator", async (t) => {
  const rnd = random(seed);
  const began = Date.now();
  const phase = (what: string) => t.comment(`${what} at ${((Date.now() - began) / 1000).toFixed(1)} s`);
  const dir = await mkdtemp(join(tmpdir(), "qm-chaos-"));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const chain = await startLocalChain({ port: 0 });
  t.teardown(() => chain.stop());
  const provider = makeProvider(chain.url, chain.chainId);
  t.teardown(() => provider.destroy());
  const settings = { network: "local", rpc: chain.url, deploymentsDir: join(dir, "deployments"), duckToken: undefined };
  await deployAll(settings, new Wallet(devAccount("operator").privateKey, provider));
  const requester = new Wallet(devAccount("requester").privateKey, provider);
  const contracts = await connectContracts(settings, requester);
  await faucet(contracts, provider, requester.address, { duck: 1000n * DUCK, eth: 0n });

  const train = await loadMnist("train");
  const folder = async (name: string, from: number, count: number) => {
    const out = join(dir, "data", name);
    await writeIdx(out, subset(train, Array.from({ length: count }, (_, i) => from + i)), "train");
    return out;
  };
  const specFile = join(dir, "tiny.json");
  await writeFile(specFile, JSON.stringify(TINY_SPEC));
  const validation = await folder("validation", 50_000, 300);
  const people = await Promise.all(
    ["contributor1", "contributor2"].map(async (account, i) => ({ account, address: devAccount(account).address, data: await folder(account, i * 800, 800), home: join(dir, `home-${account}`) })),
  );

  // The orchestrator: `quackmesh serve` on a fixed port, so that a restarted one is where contributors look.
  const env = { QUACKMESH_DEPLOYMENTS: settings.deploymentsDir, QUACKMESH_HOME: join(dir, "home"), QUACKMESH_PRIVATE_KEY: "", QUACKMESH_NETWORK: "", QUACKMESH_RPC_URL: "" };
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const log: string[] = [];
  let orchestrator!: CliChild;
  const startOrchestrator = async () => {
    orchestrator = spawnCli(["serve", "--port", String(port), "--data-dir", join(dir, "orchestrator"), "--rpc", chain.url, "--poll", "100", "--json"], {
      name: "serve",
      env,
      onStdout: (line) => log.push(line),
    });
    await health(url, 200, orchestrator);
  };
  await startOrchestrator();
  t.teardown(() => orchestrator.stop());

  const plan = await planJob({
    model: specFile, validation, reward: "100", roundBudget: "30", flatPerUpdate: "1", rounds: String(ROUNDS), minUpdates: "2", threshold: "0", seed: "3", roundDeadline: "8", force: true,
  });
  phase("chain, contracts and orchestrator up");
  const job = await createJob(plan, { signer: requester, provider, contracts, chainId: chain.chainId, client: new OrchestratorClient(url, { signer: requester }) }, { pollMs: 100 });

  // The schedule, drawn from the seed: the orchestrator dies after the n-th update trained or
  // attested (two kills, 0-400 ms later); one contributor dies as soon as it trained one round.
  const marks = ROUNDS * people.length * 2;
  const kills = [1 + Math.floor(rnd() * (marks - 2)), 1 + Math.floor(rnd() * (marks - 2))].sort((a, b) => a - b).map((at) => ({ at, delayMs: Math.floor(rnd() * 400) }));
  const victim = people[Math.floor(rnd() * people.length)];
  const victimRound = Math.floor(rnd() * ROUNDS);
  t.comment(`schedule: orchestrator killed after marks ${kills.map((k) => `${k.at}+${k.delayMs}ms`).join(", ")}; ${victim.account} killed after training round ${victimRound}`);

  let chaos: Promise<void> = Promise.resolve();
  const act = (what: string, fn: () => Promise<void>) => {
    chaos = chaos.then(fn).then(
      () => void t.comment(what),
      (err: unknown) => void t.fail(`${what}: ${String(err)}`),
    );
  };
  const killOrchestrator = async () => {
    process.kill(orchestrator.pid, "SIGKILL");
    await orchestrator.exited;
    await startOrchestrator();
  };

  const attested: Array<{ address: string; round: number; updateHash: string }> = [];
  const exits: Array<Promise<{ code: number | null; signal: NodeJS.Signals | null }>> = [];
  let mark = 0;
  let victimKilled = false;
  const contributors: CliChild[] = [];
  const tails = new Map<CliChild, string[]>();
  t.teardown(() => Promise.all(contributors.map((c) => c.stop())));
  const startContributor = (p: (typeof people)[number]): CliChild => {
    const child: CliChild = spawnCli(
      ["contribute", "--data", p.data, "--job", String(job.jobId), "--rpc", chain.url, "--orchestrator", url, "--account", p.account, "--json"],
      {
        name: p.account,
        env: { ...env, QUACKMESH_HOME: p.home },
        onStdout: (line) => {
          tails.set(child, [...(tails.get(child) ?? []), line].slice(-4));
          let e: { event?: string; round?: number; updateHash?: string };
          try {
            e = JSON.parse(line);
          } catch {
            return;
          }
          if (e.event === "attested") attested.push({ address: p.address, round: e.round!, updateHash: e.updateHash! });
          // Its first round from victimRound on (a round may close at its deadline before a slow start).
          if (e.event === "trained" && p === victim && e.round! >= victimRound && !victimKilled) {
            victimKilled = true;
            // Straight after training: the update is being sent, or about to be.
            process.kill(child.pid, "SIGKILL");
            act(`${p.account} killed -9 after training round ${e.round}, and restarted`, async () => {
              await child.exited;
              startContributor(p);
            });
            return;
          }
          if (e.event === "trained" || e.event === "attested") {
            mark++;
            for (const k of kills) if (k.at === mark) act(`orchestrator killed -9 at mark ${mark} (+${k.delayMs} ms), and restarted`, () => sleep(k.delayMs).then(killOrchestrator));
          }
        },
      },
    );
    contributors.push(child);
    exits.push(child.exited);
    // Exit status 3 means "transient: the same command may succeed later as it is"; a supervisor
    // runs it again. (contribute waits for an orchestrator that is down; this is the supervisor's
    // side, should a run still give up.)
    void child.exited.then((e) => {
      if (e.code === 3) act(`${p.account} exited 3 (${child.stderrTail().slice(0, 120)}), run again`, async () => void startContributor(p));
    });
    return child;
  };
  for (const p of people) startContributor(p);
  // Wait for every contributor run, including the reruns the chaos adds while waiting; a run stuck
  // for minutes fails the drill with what each run said last, instead of hanging the suite.
  const all = (async () => {
    for (let seen = -1; seen < exits.length; ) {
      seen = exits.length;
      await Promise.all(exits);
      await chaos;
    }
  })();
  let timer: NodeJS.Timeout | undefined;
  const stuck = await Promise.race([all.then(() => false), new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), 150_000)))]);
  clearTimeout(timer);
  if (stuck) {
    const said = contributors.map((c) => `${c.name} (pid ${c.pid}): ${(tails.get(c) ?? []).join(" | ")}`).join("\n");
    t.fail(`contributors did not finish (seed ${seed}); their last lines:\n${said}`);
    return;
  }
  phase("job done");
  const last = people.map((p) => contributors.filter((c) => c.name === p.account).at(-1)!);
  for (const c of last) t.same(await c.exited, { code: 0, signal: null }, `${c.name}'s last run finished the job: ${c.stderrTail()}`);
  t.ok(victimKilled, `${victim.account} was killed mid-round`);

  // No accepted update lost: every attestation a contributor received is in its round's record.
  const client = new OrchestratorClient(url);
  const done = await client.getJob(job.jobId);
  t.equal(done.status, "finished");
  t.equal(done.history.length, ROUNDS);
  const rewards: RoundRewardsReply[] = [];
  for (let round = 0; round < ROUNDS; round++) rewards.push(await client.roundRewards(job.jobId, round));
  const lost = attested.filter((a) => !rewards[a.round].updates.some((u) => u.contributor === a.address && u.updateHash === a.updateHash));
  t.same(lost, [], `all ${attested.length} attested updates are in their rounds`);

  // Nothing paid twice: on chain, one receipt and one claim per contributor and round, each claim
  // what the commitment owes, and the pool holds exactly what was not paid out.
  const pool = contracts.trainingPool;
  const logs = async (name: string) => (await pool.queryFilter(pool.filters[name](job.jobId))) as EventLog[];
  const [submitted, flat, committed, claimed] = await Promise.all([logs("UpdateSubmitted"), logs("RewardDistributed"), logs("RoundCommitted"), logs("RewardClaimed")]);
  const once = (keys: string[]) => keys.length === new Set(keys).size;
  t.ok(once(submitted.map((e) => `${e.args.round}:${e.args.contributor}`)), "no update receipt was paid twice");
  t.ok(once(claimed.map((e) => `${e.args.round}:${e.args.contributor}`)), "no reward was claimed twice");
  // A round commits when someone is owed (a contributor sends it before claiming).
  t.ok(once(committed.map((e) => String(e.args.round))), "each round committed at most once");
  for (const e of committed) t.equal(e.args.total as bigint, BigInt(rewards[Number(e.args.round)].total), `round ${e.args.round}: committed with the orchestrator's total`);
  t.same(rewards.filter((r) => BigInt(r.total) > 0n).map((r) => r.round), committed.map((e) => Number(e.args.round)).sort(), "every round that owes anything is committed");
  for (const e of claimed) {
    const owed = rewards[Number(e.args.round)].updates.find((u) => u.contributor === e.args.contributor)?.amount;
    t.equal(e.args.amount as bigint, BigInt(owed ?? -1), `round ${e.args.round}: ${e.args.contributor} claimed what it is owed`);
  }
  const owedTotal = rewards.reduce((s, r) => s + r.updates.reduce((x, u) => x + BigInt(u.amount), 0n), 0n);
  const claimedTotal = claimed.reduce((s, e) => s + (e.args.amount as bigint), 0n);
  t.equal(claimedTotal, owedTotal, "every contributor settled what the commitments owe it (nothing left behind after the kills)");
  const flatTotal = flat.reduce((s, e) => s + (e.args.amount as bigint), 0n);
  t.equal(flatTotal, BigInt(submitted.length) * DUCK, "the flat part was paid once per receipt");
  const held = (await contracts.duck.getFunction("balanceOf")(await pool.getAddress())) as bigint;
  t.equal(held, 100n * DUCK - flatTotal - claimedTotal, "the pool holds the reward minus what was paid, to the wei");

  // The chain restarts under the running orchestrator: /healthz and the log say so, with the fix.
  await chain.stop();
  const restarted = await startLocalChain({ port: chain.port });
  t.teardown(() => restarted.stop());
  const reset = await health(url, 503, orchestrator);
  phase("chain reset reported");
  t.match(reset, { error: "CHAIN_RESET", message: /restarted or replaced/, fix: /fresh --data-dir/ });
  while (!log.some((l) => l.includes("chain reset"))) await sleep(50);
  const line = JSON.parse(log.find((l) => l.includes("chain reset") && l.includes('"level"'))!) as { code?: string; fix?: string };
  t.match(line, { code: "CHAIN_RESET", fix: /fresh --data-dir/ }, "the log names the code and the fix");
});
