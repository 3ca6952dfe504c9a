import t from "tap";
import { execFile } from "node:child_process";
import { mkdir, stat, writeFile } from "node:fs/promises";
import { Wallet } from "ethers";
import { join } from "node:path";
import { createServer, type AddressInfo } from "node:net";
import { decodeSafetensors, encodeSafetensors } from "../../native/safetensors.js";
import { OrchestratorClient } from "../../orchestrator/client.js";
import { formatAmount } from "../../protocol/chain/units.js";
import { devAccount } from "../lib/chain/accounts.js";
import { cliEntry } from "../lib/demo/processes.js";
import { startTestNetwork } from "./network.js";
import { fixCommand } from "../testkit/runCli.js";

// Issue 16's requester findings, reproduced through the built CLI on a real chain and orchestrator
// (npm run build:ts first): settings that cannot complete, stopping a job early, rentals that keep
// charging, the local chain's clock, rounds counted one way, a default export name, one's own jobs.
const net = await startTestNetwork(t.teardown);
const validation = await net.dataDir("validation", 50_000, 500);
const shard = await net.dataDir("shard", 0, 2000);
const base = ["--rpc", net.chain.url, "--orchestrator", net.server.url];
const DUCK = 10n ** 18n;

type Run = { code: number; stdout: string; stderr: string; lines: Array<Record<string, unknown>> };
function quackmesh(args: string[], cwd?: string): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [cliEntry(), ...args], { env: { ...process.env, ...net.env }, cwd }, (err, stdout, stderr) => {
      const lines = stdout.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Record<string, unknown>);
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr, lines });
    });
  });
}
const errorOf = (r: Run) => JSON.parse(r.stderr.trim().split("\n").at(-1)!) as { error: string; message: string; fix?: string };
const createArgs = (over: Record<string, string> = {}) =>
  Object.entries({ "--model": net.specFile, "--validation": validation, "--reward": "30", "--rounds": "3", "--min-updates": "1", "--threshold": "0.5", "--seed": "1", ...over }).flat();
const duckOf = async (address: string) => (await net.contracts.duck.getFunction("balanceOf")(address)) as bigint;
const requester = net.requester.address;

/** A URL nothing listens on: a port taken from the system, then given back. */
async function closedPortUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return `http://127.0.0.1:${port}`;
}

async function until<T>(what: string, fn: () => Promise<T | null | undefined | false>, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

t.test("finding 2: job create refuses settings that cannot complete, and --force only warns", async (t) => {
  const before = { duck: await duckOf(requester), jobs: (await net.contracts.trainingPool.getFunction("jobCount")()) as bigint };
  const cases = [
    { what: "a pool below rounds × round budget", over: { "--reward": "10", "--round-budget": "5", "--rounds": "5" }, message: /pool of 10 DUCK is less than 5 rounds × 5 DUCK = 25 DUCK/, fix: /--reward to 25/ },
    { what: "a threshold no round reaches", over: { "--threshold": "0.99" }, message: /initial model scores \d+\.\d % on the validation set/, fix: /--threshold to at most 0\.\d\d/ },
    { what: "a deadline shorter than the rounds", over: { "--deadline-hours": "0.01", "--round-deadline": "600" }, message: /deadline \(36 s\) is shorter than 3 rounds × the round deadline \(600 s\)/, fix: /--deadline-hours to at least 0\.5/ },
  ];
  for (const c of cases) {
    const r = await quackmesh(["job", "create", ...base, ...createArgs(c.over), "--json"]);
    t.equal(r.code, 1, `${c.what}: refused`);
    t.match(errorOf(r), { error: "BAD_ARGUMENT", message: c.message, fix: c.fix }, `${c.what}: says why and how to fix it`);
    t.match(errorOf(r).fix, /--force/, `${c.what}: names --force`);
  }
  t.same({ duck: await duckOf(requester), jobs: (await net.contracts.trainingPool.getFunction("jobCount")()) as bigint }, before, "nothing spent, no job");

  const forced = await quackmesh(["job", "create", ...base, ...createArgs({ "--threshold": "0.99", "--rounds": "1" }), "--force", "--json"]);
  t.equal(forced.code, 0, forced.stderr);
  t.match(forced.lines[0], { event: "warning", force: true, warning: /threshold 0\.99/ }, "--force creates the job with the warning first");
  t.match(forced.lines.at(-1), { event: "created" });
  const forcedId = String(forced.lines.at(-1)!.jobId);
  const early = await quackmesh(["job", "finish", forcedId, ...base, "--json"]);
  t.equal(early.code, 1, "finish refuses a job whose last round has not closed");
  t.match(errorOf(early), { error: "JOB_NOT_FINISHED", fix: new RegExp(`quackmesh job abort ${forcedId}`) }, "and names the way to stop it now");
  const cancel = await quackmesh(["job", "abort", forcedId, ...base, "--json"]);
  t.equal(cancel.code, 0, cancel.stderr);
  t.match(cancel.lines[0], { event: "aborted", rounds: 0, refund: "30000000000000000000", finished: true }, "an untouched job aborts with the whole pool back");
});

t.test("finding 6: the faucet hint names the wallet actually used, and running it is enough", async (t) => {
  const who = net.wallet("contributor3").address;
  const r = await quackmesh(["job", "create", ...base, ...createArgs({ "--reward": "5000" }), "--account", "contributor3", "--json"]);
  const e = errorOf(r);
  t.match(e, { error: "NOT_ENOUGH_DUCK", message: new RegExp(who) });
  const hint = /`quackmesh (wallet faucet [^`]+)`/.exec(e.fix ?? "");
  t.ok(hint, `the fix names a command: ${e.fix}`);
  t.match(hint![1], new RegExp(`--to ${who}`), "it funds contributor3, not the requester");
  const ran = await quackmesh([...hint![1].split(" "), "--rpc", net.chain.url, "--json"]);
  t.equal(ran.code, 0, ran.stderr);
  t.ok((await duckOf(who)) >= 5000n * DUCK, "after the hint, the wallet holds the pool");

  // A contributor whose key holds no ETH for the claims: the hint funds that key's address.
  const keyFile = join(net.dir, "fresh.key");
  const fresh = Wallet.createRandom();
  await writeFile(keyFile, fresh.privateKey);
  const broke = await quackmesh(["contribute", ...base, "--data", shard, "--job", String(await net.contracts.trainingPool.getFunction("jobCount")()), "--key", keyFile, "--json"]);
  t.match(errorOf(broke), { error: "NO_FUNDS", message: new RegExp(fresh.address), fix: new RegExp(`\`quackmesh wallet faucet --to ${fresh.address} --amount 0\``) });
  const gas = await quackmesh([...fixCommand(errorOf(broke).fix), "--rpc", net.chain.url, "--json"]);
  t.equal(gas.code, 0, gas.stderr);
  t.ok((await net.provider.getBalance(fresh.address)) > 0n, "after the hint, the contributor's own address has ETH for gas");
});

t.test("findings 1, 2, 7, 10: abort keeps the round in progress, refunds the rest at once, ends the job's rentals", async (t) => {
  const created = await quackmesh(["job", "create", ...base, ...createArgs({ "--round-deadline": "15" }), "--json"]);
  t.equal(created.code, 0, created.stderr);
  const jobId = Number(created.lines.at(-1)!.jobId);
  t.match(created.lines.find((l) => l.event === "activated"), { currentRound: 0, rounds: 3 }, "rounds count from 0: round 0 is the first");

  // The job's rentals: one acknowledged (ended for its refund), one the provider never acknowledged
  // (named as still running). Made first, so that round 1 is still open when the abort comes.
  const market = net.contracts.marketplace;
  const provider = net.wallet("provider1");
  const listArgs = market.interface.getFunction("listMachine")!.inputs.length === 4 ? [1000] : [];
  await (await market.connect(provider).getFunction("listMachine")('{"cpuCores":2}', DUCK, "worker@127.0.0.1:22", ...listArgs)).wait();
  await (await market.connect(provider).getFunction("listMachine")('{"cpuCores":2}', DUCK, "worker@127.0.0.1:23", ...listArgs)).wait();
  const machineIds = [1n, 2n];
  await (await net.contracts.duck.getFunction("approve")(await market.getAddress(), 10n * DUCK)).wait();
  for (const m of machineIds) await (await market.getFunction("rentMachine")(m, 2, jobId, "ssh-ed25519 AAAA test")).wait();
  await (await market.connect(provider).getFunction("acknowledgeRental")(1n)).wait();

  // Round 0: a real contributor trains, is paid its share by contribution and claims it.
  const contributor = devAccount("contributor1").address;
  const c0 = await duckOf(contributor);
  const contributed = await quackmesh(["contribute", ...base, "--data", shard, "--job", String(jobId), "--account", "contributor1", "--rounds", "1", "--json"]);
  t.equal(contributed.code, 0, contributed.stderr);
  t.match(contributed.lines.find((l) => l.event === "rewarded"), { round: 0, amount: "10000000000000000000" });
  t.equal(await duckOf(contributor), c0 + 10n * DUCK);

  // Round 1 is in progress: an update is accepted (the global model plus noise: a receipt, no
  // contribution, so the round stays open until its deadline).
  const client = new OrchestratorClient(net.server.url, { signer: net.wallet("contributor2") });
  const model = await client.getModel(jobId);
  if ("notModified" in model && model.notModified) throw new Error("unexpected 304");
  const { tensors } = decodeSafetensors((model as { bytes: Buffer }).bytes);
  tensors[0].data[0] += 1e-4;
  await client.submitUpdate(jobId, 1, 100, encodeSafetensors(tensors, { format: "pt" }));

  const before = await duckOf(requester);
  const aborted = await quackmesh(["job", "abort", String(jobId), ...base, "--json"]);
  t.equal(aborted.code, 0, aborted.stderr);
  const a = aborted.lines.find((l) => l.event === "aborted")!;
  t.match(a, { jobId, rounds: 2, refund: "10000000000000000000", reserved: "10000000000000000000", finished: false }, "ends after round 1; one round budget kept for it, the rest back now");
  const ended = aborted.lines.find((l) => l.event === "rental-ended")!;
  t.match(ended, { rentalId: "1" }, "the acknowledged rental is ended");
  const rentalRefund = BigInt(ended.refund as string);
  t.equal(rentalRefund + BigInt(ended.earned as string), 2n * DUCK, "its escrow split: the unserved part back, the served seconds to the provider");
  t.ok(rentalRefund > (19n * DUCK) / 10n, "most of it comes back");
  t.match(aborted.lines.find((l) => l.event === "rentals-running"), { rentals: [{ rentalId: "2", status: "pending" }] }, "the unacknowledged rental is named as still running");
  t.equal(await duckOf(requester), before + 10n * DUCK + rentalRefund, "pool refund and rental refund arrived");
  const kept = (await net.server.app.repo.getJob(jobId))!;
  t.equal(kept.settings.rounds, 2, "the orchestrator closes no round after round 1");

  // Round 1 closes at its deadline with its one accepted update; it pays nothing (no contribution).
  await until("round 1 to close", async () => (await net.server.app.repo.getJob(jobId))?.status === "finished", 40_000);
  const finished = await quackmesh(["job", "finish", String(jobId), ...base, "--json"]);
  t.equal(finished.code, 0, finished.stderr);
  t.match(finished.lines[0], { jobId, refund: "10000000000000000000" }, "the unused reserve comes back at finish");
  t.equal(await duckOf(requester), before + 20n * DUCK + rentalRefund, "requester: 20 of the pool back, contributor kept its 10");

  const dir = join(net.dir, "exports");
  await mkdir(dir, { recursive: true });
  const exported = await quackmesh(["job", "export", String(jobId), ...base.slice(2), "--json"], dir);
  t.equal(exported.code, 0, exported.stderr);
  t.match(exported.lines[0], { round: 1, status: "finished" }, "the final model is round 1's (rounds count from 0)");
  t.ok((await stat(join(dir, `job-${jobId}-round-1.safetensors`))).size > 0, "written to ./job-<id>-round-<r>.safetensors by default");

  const mine = await quackmesh(["job", "list", ...base, "--mine", "--json"]);
  t.equal(mine.code, 0, mine.stderr);
  const row = (mine.lines[0].jobs as Array<Record<string, unknown>>).find((j) => j.jobId === jobId);
  t.match(row, { roundsDone: 2, rounds: 2, poolLeft: "0", currentRound: 1 }, "job list: rounds done, pool left on chain");
  const theirs = await quackmesh(["job", "list", ...base, "--mine", "--account", "contributor1", "--json"]);
  t.same(theirs.lines[0].jobs, [], "--mine lists only the wallet's own jobs");

  // Finding 10: everyone's own view, from chain events.
  const asRequester = await quackmesh(["history", "--rpc", net.chain.url, "--json"]);
  t.equal(asRequester.code, 0, asRequester.stderr);
  const h = asRequester.lines[0] as Record<string, Array<Record<string, unknown>>>;
  t.match(h.jobsCreated.find((j) => j.jobId === jobId), { pool: String(30n * DUCK), rounds: 2, status: "finished", refunded: String(20n * DUCK) }, "history: the job, its abort and what came back");
  t.match(h.rentalsMade, [
    { rentalId: "1", jobId, hours: 2, escrowed: String(2n * DUCK), refund: String(rentalRefund), cost: String(2n * DUCK - rentalRefund), status: "ended" },
    { rentalId: "2", jobId, status: "running", cost: null },
  ], "history: the real cost and refund of each rental");
  const rentList = await quackmesh(["rent", "list", "--rpc", net.chain.url, "--json"]);
  const listed = rentList.lines[0].rentals as Array<Record<string, unknown>>;
  t.match(listed.find((r) => r.rentalId === "1"), { amount: "2", cost: formatAmount(2n * DUCK - rentalRefund), refund: formatAmount(rentalRefund) }, "rent list: the real cost and refund of an ended rental");
  t.match(listed.find((r) => r.rentalId === "2"), { cost: null, refund: "0" }, "rent list: a running rental has no cost yet");
  const asContributor = await quackmesh(["history", "--rpc", net.chain.url, "--account", "contributor1", "--json"]);
  t.match((asContributor.lines[0].updates as Array<Record<string, unknown>>).find((u) => u.jobId === jobId), { round: 0, accuracyBps: Number, claimed: String(10n * DUCK), txHash: /^0x/ }, "history: the update sent and what it earned");
  const asProvider = await quackmesh(["history", "--rpc", net.chain.url, "--account", "provider1", "--json"]);
  t.match(asProvider.lines[0].rentalsServed, [{ rentalId: "1", status: "ended", earned: ended.earned }, { rentalId: "2", status: "running", earned: "0" }], "history: the rentals served and their earnings");
});

t.test("findings 2, 4 and 9: a job no update reaches is reported stalled; the local chain's clock follows the wall clock; a job cancelled on chain stops on the orchestrator", async (t) => {
  const created = await quackmesh(["job", "create", ...base, ...createArgs({ "--rounds": "1", "--deadline-hours": "0.001", "--round-deadline": "2" }), "--json"]);
  t.equal(created.code, 0, created.stderr);
  const jobId = Number(created.lines.at(-1)!.jobId);
  const deadline = Number(created.lines.at(-1)!.deadline);
  // Issue 11: a rental of the job naming the orchestrator as arbiter, its machine down from its
  // second second on (what the cluster manager would report), for cancel to end and settle.
  const market = net.contracts.marketplace;
  await (await net.contracts.duck.getFunction("approve")(await market.getAddress(), DUCK)).wait();
  const rentTx = await (await market.getFunction("rentMachineWithArbiter")(1n, 1, jobId, "ssh-ed25519 AAAA test", net.server.app.evaluator.address)).wait();
  const rentalId = market.interface.parseLog(rentTx!.logs.find((l) => l.address.toLowerCase() === rentTx!.to!.toLowerCase())!)!.args.rentalId as bigint;
  await (await market.connect(net.wallet("provider1")).getFunction("acknowledgeRental")(rentalId)).wait();
  const startedAt = Number((await market.getFunction("getRental")(rentalId)).startedAt);
  await net.server.app.clusters.downtime.observe(String(rentalId), "failed", (startedAt + 1) * 1000);
  let extended = 0;
  let finishedAt: number | undefined;
  const onExtended = (e: { jobId: number }) => {
    if (e.jobId === jobId && finishedAt !== undefined) extended++;
  };
  t.teardown(net.server.app.events.on("round:extended", onExtended));
  // Its round cannot close (no update came): job status, job list and history say so, with the fix.
  await until("round 0's deadline to pass without updates", async () => ((await net.server.app.repo.getRound(jobId, 0))?.extensions ?? 0) > 0);
  const status = await quackmesh(["job", "status", String(jobId), ...base, "--json"]);
  t.match(status.lines[0].orchestrator, { progress: { state: "stalled", reason: "no-updates", round: 0, message: /Round 0 has had no update/, fix: new RegExp(`quackmesh job abort ${jobId}`) } }, "job status --json: stalled, why, the fix");
  const text = await quackmesh(["job", "status", String(jobId), ...base]);
  t.match(text.stdout, new RegExp(`progress    stalled \\(no-updates\\): Round 0 has had no update[^\\n]*\\n  fix         .*quackmesh job abort ${jobId}`), "job status: the same in words");
  const list = await quackmesh(["job", "list", ...base]);
  t.match(list.stdout, new RegExp(`\\n\\s+${jobId}  stalled `), "job list: the status column says stalled");
  const hist = await quackmesh(["history", ...base, "--json"]);
  t.match((hist.lines[0].jobsCreated as Array<Record<string, unknown>>).find((j) => j.jobId === jobId), { status: "running", progress: { state: "stalled", reason: "no-updates" } }, "history: the running job is stalled");
  // No transaction happens meanwhile: only the wall clock passes the deadline.
  await until("the wall clock to pass the deadline", async () => Date.now() / 1000 > deadline + 1, 30_000);
  const before = await duckOf(requester);
  // The orchestrator does not answer at the URL cancel is given: cancel works all the same.
  const gone = await closedPortUrl();
  const cancelled = await quackmesh(["job", "cancel", String(jobId), "--rpc", net.chain.url, "--orchestrator", gone, "--json"]);
  t.equal(cancelled.code, 0, cancelled.stderr);
  t.match(cancelled.lines[0], { jobId, how: "deadline", refund: "30000000000000000000" });
  const rental = await market.getFunction("getRental")(rentalId);
  const rentalRefund = (rental.amount as bigint) - ((rental.amount as bigint) * (rental.endedAt - rental.startedAt)) / 3600n;
  t.match(cancelled.lines.find((l) => l.event === "rental-ended"), { rentalId: String(rentalId), refund: String(rentalRefund), downtime: null, unsettled: { code: "ORCHESTRATOR_UNREACHABLE" } }, "the job's rental is ended for its refund");
  t.equal(await duckOf(requester), before + 30n * DUCK + rentalRefund, "the pool and the unserved rent came back");
  t.notOk(rental.settled, "its downtime is not settled");
  const unsettled = cancelled.lines.find((l) => l.event === "rentals-unsettled")!;
  t.match(unsettled, { rentals: [{ rentalId: String(rentalId), code: "ORCHESTRATOR_UNREACHABLE", settleBy: Number(rental.endedAt) + Number(await market.getFunction("disputeWindow")()) }], command: `quackmesh rent settle ${rentalId} --orchestrator ${gone}` }, "and named with the command that settles it");
  // That command settles it once the orchestrator answers (here at its own address): the down time back, to the wei.
  const settle = fixCommand(`\`${unsettled.command as string}\``).map((w) => (w === gone ? net.server.url : w));
  const beforeSettle = await duckOf(requester);
  const settled = await quackmesh([...settle, "--rpc", net.chain.url, "--json"]);
  t.equal(settled.code, 0, settled.stderr);
  const down = rental.endedAt - rental.startedAt - 1n;
  t.match(settled.lines[0], { event: "settled", rentalId: String(rentalId), downtimeSeconds: Number(down) });
  t.equal(await duckOf(requester), beforeSettle + ((rental.amount as bigint) * down) / 3600n, `${down} s down: that share of the rent back`);
  t.equal((await market.getFunction("getRecord")(1n)).downtimeSeconds, down, "the machine's record shows it");
  const job = await until("the orchestrator to stop the job", async () => {
    const j = await net.server.app.repo.getJob(jobId);
    return j?.status === "finished" ? j : null;
  });
  finishedAt = Date.now();
  t.equal(job.status, "finished", "the orchestrator ends a job finished on chain");
  await new Promise((r) => setTimeout(r, 2500));
  t.equal(extended, 0, "and extends none of its rounds afterwards");
});

// Last, as it moves the node's clock ahead of the wall clock for good.
t.test("finding 4 for rentals: rent cancel brings the local chain's clock up first, then refunds a never-acknowledged rental in full", async (t) => {
  // Rental 2 (above) was never acknowledged; its window passes on the node's clock, no block mined since.
  const market = net.contracts.marketplace;
  await net.provider.send("evm_increaseTime", [Number(await market.getFunction("ackWindow")()) + 5]);
  const [blockBefore, duckBefore] = [await net.provider.getBlockNumber(), await duckOf(requester)];
  const cancelled = await quackmesh(["rent", "cancel", "2", "--rpc", net.chain.url, "--json"]);
  t.equal(cancelled.code, 0, cancelled.stderr);
  t.match(cancelled.lines[0], { event: "cancelled", rentalId: "2", refund: formatAmount(2n * DUCK) });
  t.equal(await net.provider.getBlockNumber(), blockBefore + 2, "an empty block to bring the clock up, then the cancel");
  t.equal(await duckOf(requester), duckBefore + 2n * DUCK, "the whole escrow back");
});
