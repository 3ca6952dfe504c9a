import t from "tap";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { Interface, keccak256, toUtf8Bytes, type EventLog } from "ethers";
import { OrchestratorClient } from "../orchestrator/client.js";
import { contractAt, loadArtifact } from "../protocol/chain/contracts.js";
import { specsToString } from "../protocol/market/specs.js";
import { packageRoot } from "../protocol/package.js";
import { sendTx } from "../cli/lib/chain/tx.js";
import { faucet } from "../cli/lib/chain/wallet.js";
import { spawnCli } from "../cli/lib/demo/processes.js";
import { createJob } from "../cli/lib/job/create.js";
import { planJob } from "../cli/lib/job/params.js";
import { startTestNetwork } from "../cli/e2e/network.js";
import { duck } from "./src/format.js";
import { PHONE, chromiumOrSkip, marks, watchPage } from "./testing/browser.js";

// The dashboard as a person sees it: headless Chromium against a live orchestrator on a real
// local chain, with a listed machine and a real 2-contributor, 3-round job (built CLI and
// dashboard: npm run build first).
const browser = await chromiumOrSkip();
if (typeof browser === "string") {
  console.log(`# skipping the dashboard browser test: ${browser}`);
  t.plan(0, browser);
} else {
  t.teardown(() => browser.close());
  if (!existsSync(join(packageRoot(), "dist", "web", "index.html"))) throw new Error("The dashboard is not built; fix: npm run build:web");

  const net = await startTestNetwork(t.teardown);
  const origin = net.server.url;
  const DUCK = 10n ** 18n;

  // A provider lists a machine with a stake of 7 DUCK, straight on the contract.
  const provider = net.wallet("provider1");
  const market = contractAt("ComputeMarketplace", net.deployment.contracts.ComputeMarketplace, provider);
  const specs = { v: 1 as const, cpu: "Test CPU", cores: 8, ramMiB: 16384, gpus: [{ name: "NVIDIA H200", memoryMiB: 143771 }], bench: 42, os: "linux", arch: "x64" };
  await faucet(net.contracts, net.provider, provider.address, { duck: 7n * DUCK, eth: 0n });
  await sendTx(net.contracts.duck.connect(provider) as typeof net.contracts.duck, "approve", [market.target, 7n * DUCK]);
  const listed = await sendTx(market, "listStakedMachine", [keccak256(toUtf8Bytes("dashboard-machine")), specsToString(specs), 5n * DUCK, "127.0.0.1:2222", 0, 7n * DUCK]);
  const machineId = Number(new Interface(loadArtifact("ComputeMarketplace").abi).parseLog(listed.logs.find((l) => l.address === market.target)!)!.args.machineId);

  const validation = await net.dataDir("validation", 50_000, 1000);
  const shards = [await net.dataDir("a", 0, 3000), await net.dataDir("b", 3000, 3000)];
  const plan = await planJob({ model: net.specFile, validation, reward: "100", roundBudget: "30", rounds: "3", minUpdates: "2", threshold: "0.5", seed: "3" });
  const job = await createJob(plan, net.deps(), { pollMs: 100 });
  const api = new OrchestratorClient(origin);

  t.test("the job page follows a live job: one chart point per closed round with the API's accuracies, without reload", async (t) => {
    const w = await watchPage(browser, origin);
    await w.page.goto(`${origin}/job/${job.jobId}`);
    await w.page.getByText("No round has closed yet.").waitFor();
    await w.page.evaluate(() => ((window as unknown as { notReloaded: boolean }).notReloaded = true));

    const people = ["contributor1", "contributor2"];
    const children = people.map((account, i) =>
      spawnCli(["contribute", "--data", shards[i], "--job", String(job.jobId), "--rpc", net.chain.url, "--orchestrator", origin, "--account", account, "--json"], { name: account, env: net.env }),
    );
    t.teardown(() => Promise.all(children.map((c) => c.stop())));
    const chart = w.page.getByTestId("accuracy-chart");
    await w.page.waitForFunction(() => document.querySelector("[data-testid=accuracy-chart]")?.getAttribute("data-rounds") === "0", null, { timeout: 120_000 });
    t.pass("round 0 appeared on the open page");
    const exits = await Promise.all(children.map((c) => c.exited));
    exits.forEach((e, i) => t.same(e, { code: 0, signal: null }, `${people[i]} exited cleanly: ${children[i].stderrTail()}`));

    const done = await api.getJob(job.jobId);
    t.equal(done.status, "finished");
    await w.page.waitForFunction(() => document.querySelector("[data-testid=accuracy-chart]")?.getAttribute("data-rounds") === "0,1,2", null, { timeout: 10_000 });
    t.ok(await w.page.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded === true), "the page was never reloaded");
    const shown = (await chart.getAttribute("data-accuracy"))!.split(",").map(Number);
    t.same(shown, done.history.map((r) => r.accuracy), "the chart plots exactly the accuracies the API reports, one point per closed round");
    t.equal(await w.page.locator("tr[data-round]").count(), 3, "one table row per round");
    t.match(await w.page.locator("tr[data-round='0']").innerText(), /closed/);
    t.equal(await w.page.locator("a[download]").getAttribute("href"), `/api/job/${job.jobId}/model`, "the model download link");

    // Latency: a round's close on the server (closedAt) to its mark on the page, same clock.
    const seen = await marks(w.page, `qm:round:${job.jobId}:`);
    const latencies = done.history.map((r) => {
      const m = seen.find((x) => x.name === `qm:round:${job.jobId}:${r.round}`);
      return m && r.closedAt !== null ? Math.round(m.epoch - r.closedAt) : null;
    });
    console.log(`# round closed → on the job page: ${latencies.map((l, i) => `round ${i} ${l ?? "?"} ms`).join(", ")}`);
    t.equal(latencies.filter((l) => l !== null).length, 3, "every round reached the open page by itself");
    await w.shot("job-desktop");
    t.same(w.problems, [], "no script errors, no request outside the orchestrator");
  });

  t.test("the transactions page lists one RewardClaimed per paid update with the chain's tx hashes", async (t) => {
    let paid = 0;
    for (let round = 0; round < 3; round++) paid += (await api.roundRewards(job.jobId, round)).updates.filter((u) => BigInt(u.amount) > 0n).length;
    const pool = contractAt("TrainingPool", net.deployment.contracts.TrainingPool, net.provider);
    const claims = await pool.queryFilter(pool.filters.RewardClaimed(job.jobId));
    t.equal(claims.length, paid, "the contributors claimed every paid update");
    const w = await watchPage(browser, origin);
    await w.page.goto(`${origin}/transactions?kind=RewardClaimed`);
    await w.page.waitForFunction((n) => document.querySelectorAll("tr[data-event=RewardClaimed]").length === n, paid, { timeout: 10_000 });
    const hashes = await w.page.locator("tr[data-event=RewardClaimed]").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-tx")));
    t.same([...hashes].sort(), claims.map((c) => c.transactionHash).sort(), "the page's tx hashes are the chain's");
    await w.shot("transactions-rewards");
    // InferencePool's events are stored and listed too: the requester escrows an inference job.
    const evaluator = (await api.info()).evaluator;
    await sendTx(net.contracts.duck, "approve", [net.deployment.contracts.InferencePool, DUCK]);
    const escrowed = await sendTx(net.contracts.inferencePool, "createInferenceJob", [(await api.getJob(job.jobId)).modelHash, DUCK, evaluator]);
    await w.page.goto(`${origin}/transactions?kind=InferenceJobCreated`);
    const inference = w.page.locator("tr[data-event=InferenceJobCreated]");
    await inference.waitFor();
    t.equal(await inference.getAttribute("data-tx"), escrowed.hash, "an InferencePool event with its tx hash");
    t.match(await inference.innerText(), /maxPayment\s+1 DUCK/);
    await w.page.goto(`${origin}/transactions`);
    await w.page.locator("tr[data-event=TrainingJobCreated]").first().waitFor();
    t.ok((await w.page.locator("tr[data-event=UpdateSubmitted]").count()) >= 6, "every submitted receipt is listed");
    await w.shot("transactions");
    // Filter by address through the form: the URL carries it, every row names that address.
    const who = net.wallet("contributor2").address;
    await w.page.locator("input[name=address]").fill(who.toLowerCase());
    await w.page.getByRole("button", { name: "filter" }).click();
    await w.page.waitForURL(/address=/);
    await w.page.waitForFunction(() => document.querySelectorAll("tr[data-event=TrainingJobCreated]").length === 0);
    const rows = await w.page.locator("tr[data-event]").evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll("[data-address]")].map((a) => a.getAttribute("data-address")!.toLowerCase())));
    t.ok(rows.length >= 6, `${rows.length} events of contributor2 (3 receipts, its claims)`);
    t.ok(rows.every((addresses) => addresses.includes(who.toLowerCase())), "each row names contributor2");
    t.same(w.problems, []);
  });

  t.test("the marketplace shows the listing with its price and specs; overview and address pages show the story", async (t) => {
    const w = await watchPage(browser, origin);
    await w.page.goto(`${origin}/market`);
    const row = w.page.locator(`tr[data-machine='${machineId}']`);
    await row.waitFor();
    const text = await row.innerText();
    t.match(text, /5 DUCK/, "price per hour");
    t.equal(await row.locator(".stake").innerText(), duck(((await market.getFunction("getMachine")(machineId)) as { stake: bigint }).stake), "the stake the contract holds (7 DUCK)");
    t.equal(await row.locator(".downtime").innerText(), "0 s", "no downtime settled");
    t.match(text, /NVIDIA H200/);
    t.match(text, /free/);
    t.match(await row.locator(".addr").getAttribute("title"), provider.address, "full provider address on hover");
    await w.shot("market");

    await w.page.goto(`${origin}/`);
    await w.page.getByTestId("jobs-finished").getByText("1").waitFor();
    t.equal(await w.page.getByTestId("chain-id").innerText(), String(net.chain.chainId));
    t.equal(await w.page.getByTestId("machines-listed").locator(".stat-value").innerText(), "1");
    const first = (await marks(w.page, "qm:first-data"))[0];
    console.log(`# first page with data (overview, fresh load): ${Math.round(first.at)} ms after navigation start`);
    await w.shot("overview-desktop");

    const contributor = net.wallet("contributor1").address;
    await w.page.goto(`${origin}/address/${contributor}`);
    const received = await w.page.getByTestId("received").locator(".stat-value").innerText();
    const claims = await net.contracts.trainingPool.queryFilter(net.contracts.trainingPool.filters.RewardClaimed(job.jobId, null, contributor));
    const sum = claims.reduce((s, e) => s + (e as EventLog).args.amount, 0n);
    t.ok(sum > 0n, "contributor1 was paid");
    t.equal(received, duck(sum), `the address page shows what it claimed on chain, with the unit (${received})`);
    await w.shot("address");
    t.same(w.problems, []);

    const phone = await watchPage(browser, origin, PHONE);
    await phone.page.goto(`${origin}/job/${job.jobId}`);
    await phone.page.getByTestId("accuracy-chart").waitFor();
    const overflow = await phone.page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    t.ok(overflow <= 0, `nothing sticks out sideways at phone width (${overflow} px): wide tables scroll in their own box`);
    await phone.shot("job-phone");
    t.same(phone.problems, []);
  });
}
