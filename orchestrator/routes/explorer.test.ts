import t from "tap";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startServer } from "../server.js";
import type { ChainEventRecord } from "../store/repository.js";
import { randomWallet, testApp } from "../testing/fixtures.js";
import type { AddressReply, EventsReply, ListingsReply, OverviewReply, RentalsReply } from "./explorer-schemas.js";

// The explorer routes read what the chain listener stored: here the store is given events the
// way the listener records them (per source, with the cursor), and the routes fold them.
const D = 10n ** 18n;
const provider = randomWallet().address;
const renter = randomWallet().address;
const alice = randomWallet().address;
const bob = randomWallet().address;
const requester = randomWallet().address;
const now = Math.floor(Date.now() / 1000);
let n = 0;
const ev = (source: string, name: string, block: number, args: ChainEventRecord["args"]): ChainEventRecord => ({
  txHash: "0x" + (++n).toString(16).padStart(64, "0"),
  logIndex: n % 3,
  blockNumber: block,
  source,
  name,
  args,
});
const specs = JSON.stringify({ v: 1, cpu: "EPYC", cores: 16, ramMiB: 65536, gpus: [{ name: "H200", memoryMiB: 143771 }], bench: 7.5, os: "linux", arch: "x64" });
const market = [
  ev("ComputeMarketplace", "MachineListed", 10, { machineId: "1", provider, pricePerHour: (5n * D).toString(), maxHours: 0, specs, endpoint: "10.0.0.1:22" }),
  ev("ComputeMarketplace", "MachineListed", 11, { machineId: "2", provider, pricePerHour: (2n * D).toString(), maxHours: 4, specs: "not json", endpoint: "10.0.0.2:22" }),
  ev("ComputeMarketplace", "MachineRented", 12, { rentalId: "1", machineId: "1", renter, jobId: "0", numHours: 2, amount: (10n * D).toString(), sshPublicKey: "ssh-ed25519 AAAA" }),
  ev("ComputeMarketplace", "RentalAcknowledged", 13, { rentalId: "1", startedAt: String(now - 1800) }),
  ev("ComputeMarketplace", "MachineRented", 14, { rentalId: "2", machineId: "2", renter, jobId: "3", numHours: 1, amount: (2n * D).toString(), sshPublicKey: "ssh-ed25519 BBBB" }),
  ev("ComputeMarketplace", "RentalAcknowledged", 14, { rentalId: "2", startedAt: String(now - 7200) }),
  ev("ComputeMarketplace", "RentalEnded", 15, { rentalId: "2", refund: "0", earned: (2n * D).toString() }),
  ev("ComputeMarketplace", "MachineUnlisted", 16, { machineId: "2" }),
];
const training = [
  ev("TrainingPool", "TrainingJobCreated", 20, { jobId: "7", requester, modelHash: "0x" + "ab".repeat(32), totalRewardPool: (100n * D).toString(), roundBudget: (30n * D).toString() }),
  ev("TrainingPool", "UpdateSubmitted", 21, { jobId: "7", round: 0, contributor: alice, updateHash: "0x" + "01".repeat(32), accuracyBps: 9000, numSamples: "100" }),
  ev("TrainingPool", "RewardDistributed", 21, { jobId: "7", contributor: alice, amount: (1n * D).toString() }),
  ev("TrainingPool", "RoundCommitted", 22, { jobId: "7", round: 0, total: (29n * D).toString() }),
  ev("TrainingPool", "RewardClaimed", 23, { jobId: "7", round: 0, contributor: alice, amount: (20n * D).toString() }),
  ev("TrainingPool", "RewardClaimed", 24, { jobId: "7", round: 0, contributor: bob, amount: (9n * D).toString() }),
  ev("TrainingPool", "TrainingJobFinished", 30, { jobId: "7", refund: (70n * D).toString() }),
];

t.test("events: newest first, paged by cursor to the end, filtered by address (any case) and kind", async (t) => {
  const { app } = await testApp(t);
  await app.repo.recordChainEvents("ComputeMarketplace", 16, market);
  await app.repo.recordChainEvents("TrainingPool", 30, training);
  const all = [...market, ...training].sort((a, b) => b.blockNumber - a.blockNumber || b.logIndex - a.logIndex);

  const seen: string[] = [];
  let url = "/api/events?limit=4";
  for (let pages = 0; pages < 10; pages++) {
    const page = (await app.inject(url)).json<EventsReply>();
    seen.push(...page.events.map((e) => e.txHash));
    t.ok(page.events.length <= 4);
    if (!page.next) break;
    url = `/api/events?limit=4&before=${page.next}`;
  }
  t.same(seen, all.map((e) => e.txHash), "every event once, newest first, across pages");

  const mine = (await app.inject(`/api/events?address=${alice.toLowerCase()}`)).json<EventsReply>();
  t.same(mine.events.map((e) => e.name), ["RewardClaimed", "RewardDistributed", "UpdateSubmitted"], "events naming alice, whatever the case asked");
  t.same(mine.events[0].args, training[4].args, "arguments as stored");
  const kinds = (await app.inject("/api/events?kind=RewardClaimed,RewardDistributed")).json<EventsReply>();
  t.same(kinds.events.map((e) => e.name), ["RewardClaimed", "RewardClaimed", "RewardDistributed"]);
  t.same((await app.inject(`/api/events?kind=RewardClaimed&address=${bob}`)).json<EventsReply>().events.length, 1, "both filters at once");
  t.same((await app.inject(`/api/events?address=${randomWallet().address}`)).json<EventsReply>(), { events: [], next: null }, "an unknown address: an empty page");

  for (const bad of ["limit=0", "limit=201", "before=12", "before=a-b", "address=0x123", `address=${alice}%25`, "kind=Reward%25", "color=red"]) {
    const r = await app.inject(`/api/events?${bad}`);
    t.equal(r.statusCode, 400, `${bad} is refused`);
    t.equal(r.json().error, "VALIDATION_FAILED");
  }
});

t.test("marketplace: listings and rentals folded from the events, with specs, status, accrual and paging", async (t) => {
  const { app } = await testApp(t);
  await app.repo.recordChainEvents("ComputeMarketplace", 16, market);
  const listings = (await app.inject("/api/market/listings")).json<ListingsReply>();
  t.equal(listings.total, 2);
  t.match(listings.listings, [
    { machineId: 2, status: "unlisted", specsValid: false, cores: 0, rentalsServed: 1, earned: (2n * D).toString(), maxHours: 4 },
    { machineId: 1, status: "rented", specsValid: true, cores: 16, ramMiB: 65536, gpus: [{ name: "H200", memoryMiB: 143771 }], bench: 7.5, pricePerHour: (5n * D).toString(), rentalsServed: 1, provider },
  ]);
  // Rental 1: 10 DUCK for 2 h, acknowledged 30 min ago → a quarter earned so far (the contract's rule).
  const earned = BigInt(listings.listings[1].earned);
  t.ok(earned >= (10n * D * 1800n) / 7200n && earned <= (10n * D * 1830n) / 7200n, `accrued ${earned} wei ≈ 2.5 DUCK`);

  const rentals = (await app.inject("/api/market/rentals")).json<RentalsReply>();
  t.match(rentals.rentals, [
    { rentalId: 2, status: "ended", earned: (2n * D).toString(), refunded: "0", jobId: 3, provider },
    { rentalId: 1, status: "active", hours: 2, escrow: (10n * D).toString(), startedAt: now - 1800, renter },
  ]);
  const page = (await app.inject("/api/market/rentals?limit=1&offset=1")).json<RentalsReply>();
  t.same([page.total, page.rentals.map((r) => r.rentalId)], [2, [1]], "offset paging");
  t.equal((await app.inject(`/api/market/listings?address=${randomWallet().address}`)).json<ListingsReply>().total, 0);
  t.equal((await app.inject("/api/market/listings?offset=-1")).statusCode, 400);
});

t.test("address and overview: what each role paid, earned and spent; an empty store gives zeros, not errors", async (t) => {
  const { app } = await testApp(t);
  const empty = (await app.inject("/api/overview")).json<OverviewReply>();
  t.match(empty, { jobs: { active: 0, finished: 0 }, paidToContributors: "0", providersEarned: "0", machines: { listed: 0, rented: 0 }, latest: [], chainId: 31337 });
  t.match((await app.inject(`/api/address/${alice}`)).json<AddressReply>(), { contributor: { updates: [], received: "0" }, provider: { machines: [] }, requester: { jobs: [], spent: "0" } });

  await app.repo.recordChainEvents("ComputeMarketplace", 16, market);
  await app.repo.recordChainEvents("TrainingPool", 30, training);
  const a = (await app.inject(`/api/address/${alice.toLowerCase()}`)).json<AddressReply>();
  t.equal(a.address, alice, "checksummed");
  t.equal(a.contributor.received, (21n * D).toString(), "alice: her claim plus her flat part");
  const r = (await app.inject(`/api/address/${requester}`)).json<AddressReply>();
  t.match(r.requester.jobs, [{ jobId: 7, pool: (100n * D).toString(), committed: (29n * D).toString(), paid: (30n * D).toString(), flat: (1n * D).toString(), refund: (70n * D).toString(), left: "0" }]);
  t.equal(r.requester.spent, (30n * D).toString(), "pool − refund");
  const p = (await app.inject(`/api/address/${provider}`)).json<AddressReply>();
  t.equal(p.provider.machines.length, 2);
  const rt = (await app.inject(`/api/address/${renter}`)).json<AddressReply>();
  t.equal(rt.requester.rentSpent, (12n * D).toString(), "rent escrowed, nothing refunded");

  const o = (await app.inject("/api/overview")).json<OverviewReply>();
  t.equal(o.paidToContributors, (30n * D).toString(), "claims and flat parts");
  t.same(o.machines, { listed: 1, rented: 1 });
  t.equal(o.latest.length, 10);
  t.equal(o.latest[0].name, "TrainingJobFinished");
  t.equal((await app.inject("/api/address/0x12")).statusCode, 400);
  t.equal((await app.inject("/api/job/99/report")).json().error, "JOB_NOT_FOUND");
});

t.test("the stream: hello with retry, live events forwarded, internal ones not, ended when the server closes", async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), "qm-stream-"));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const server = await startServer({ dataDir, port: 0, evaluatorKey: randomWallet().privateKey, chain: { chainId: 31337, trainingPool: randomWallet().address } });
  t.teardown(() => server.close());
  const res = await fetch(`${server.url}/api/stream`);
  t.equal(res.headers.get("content-type"), "text/event-stream; charset=utf-8");
  const reader = res.body!.getReader();
  let text = "";
  const until = async (pattern: RegExp) => {
    while (!pattern.test(text)) {
      const { value, done } = await reader.read();
      if (done) return false;
      text += new TextDecoder().decode(value);
    }
    return true;
  };
  await until(/event: hello/);
  t.match(text, /^retry: 1000\n/);
  server.app.events.emit("chain:error", { source: "TrainingPool", error: "secret rpc url" });
  server.app.events.emit("chain:polled", { source: "TrainingPool", toBlock: 5, events: 0 });
  server.app.events.emit("round:closed", { jobId: 4, round: 2, accuracy: 0.9, loss: 0.3, contributors: 2, modelHash: "0xabc", ms: 10, paid: "5" });
  await until(/event: round:closed\ndata: (.*)\n\n/);
  t.same(JSON.parse(/event: round:closed\ndata: (.*)\n/.exec(text)![1]), { jobId: 4, round: 2, accuracy: 0.9, loss: 0.3, contributors: 2, modelHash: "0xabc", ms: 10, paid: "5" });
  t.notMatch(text, /chain:error|secret|chain:polled/, "errors and empty polls are not sent");
  await server.close();
  t.notOk(await until(/never/), "the stream ends when the orchestrator closes");
});

t.test("the dashboard files: pages answer index.html with a CSP, assets by exact name only, a clear page when not built", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "qm-web-"));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await mkdir(join(dir, "assets"));
  await writeFile(join(dir, "index.html"), "<!doctype html><title>QuackMesh</title>");
  await writeFile(join(dir, "assets", "main-ABC.js"), "console.log(1)");
  await writeFile(join(dir, "secret.txt"), "no");
  const { app } = await testApp(t, { dashboardDir: dir });
  for (const path of ["/", "/job/3", "/market", "/transactions", `/address/${alice}`]) {
    const r = await app.inject(path);
    t.equal(r.statusCode, 200, path);
    t.equal(r.body, "<!doctype html><title>QuackMesh</title>");
    t.match(r.headers["content-security-policy"], /default-src 'self'/);
  }
  const js = await app.inject("/assets/main-ABC.js");
  t.equal(js.headers["content-type"], "text/javascript; charset=utf-8");
  t.match(js.headers["cache-control"], /immutable/);
  for (const path of ["/assets/..%2Fsecret.txt", "/assets/%2e%2e%2findex.html", "/assets/missing.js", "/secret.txt"]) t.equal((await app.inject(path)).statusCode, 404, `${path}: 404`);
  t.equal((await app.inject("/api/nothing")).json().error, "NOT_FOUND", "the API keeps its JSON 404");
  t.equal((await app.inject("/docs/json")).statusCode, 200, "docs still at /docs");

  const bare = await testApp(t, { dashboardDir: join(dir, "missing") });
  const page = await bare.app.inject("/");
  t.equal(page.statusCode, 503);
  t.match(page.headers["content-type"], /text\/html/);
  t.match(page.body, /fix: run <code>npm run build:web<\/code>/);
  t.equal((await bare.app.inject("/api/overview")).statusCode, 200, "the API works without the dashboard");
});
