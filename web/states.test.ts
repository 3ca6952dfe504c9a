import t from "tap";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startServer, type RunningServer } from "../orchestrator/server.js";
import { randomWallet } from "../orchestrator/testing/fixtures.js";
import { PHONE, chromiumOrSkip, watchPage } from "./testing/browser.js";

// Empty, error and unreachable states of the dashboard, in headless Chromium, against an
// orchestrator with nothing in it (no chain needed for that).
const browser = await chromiumOrSkip();
if (typeof browser === "string") {
  console.log(`# skipping the dashboard state tests: ${browser}`);
  t.plan(0, browser);
} else {
  t.teardown(() => browser.close());
  const dataDir = await mkdtemp(join(tmpdir(), "qm-states-"));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const evaluatorKey = randomWallet().privateKey;
  const chain = { chainId: 31337, trainingPool: randomWallet().address };
  const start = (port = 0, dashboardDir?: string): Promise<RunningServer> => startServer({ dataDir, port, evaluatorKey, chain, dashboardDir });

  t.test("an orchestrator with nothing yet: every page says so and how to start, none is blank", async (t) => {
    const server = await start();
    t.teardown(() => server.close());
    const w = await watchPage(browser, server.url);
    await w.page.goto(`${server.url}/`);
    await w.page.getByText("No jobs yet.").waitFor();
    await w.page.getByText("No contract events seen yet.").waitFor();
    t.match(await w.page.locator("[data-state=empty]").first().innerText(), /quackmesh job create/, "the empty overview names the command that creates a job");
    await w.shot("empty-overview");
    await w.page.getByRole("link", { name: "Marketplace" }).click();
    await w.page.getByText("No machines listed.").waitFor();
    await w.page.getByText("No rentals yet.").waitFor();
    t.equal(new URL(w.page.url()).pathname, "/market", "client-side navigation with its own URL");
    await w.shot("empty-market");
    await w.page.goto(`${server.url}/transactions`);
    await w.page.getByText("No contract events seen yet.").waitFor();
    await w.page.goto(`${server.url}/job/99`);
    await w.page.getByText("This orchestrator has no job 99.").waitFor();
    await w.page.goto(`${server.url}/address/${randomWallet().address}`);
    await w.page.getByText("Nothing seen for this address yet.").waitFor();
    const phone = await watchPage(browser, server.url, PHONE);
    await phone.page.goto(`${server.url}/`);
    await phone.page.getByText("No jobs yet.").waitFor();
    t.ok((await phone.page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)) <= 0, "fits a phone's width");
    await phone.shot("empty-overview-phone");
    t.same([...w.problems, ...phone.problems], []);
  });

  t.test("errors: a bad filter shows the API's refusal; an unreachable API shows a banner that goes once it is back", async (t) => {
    let server = await start();
    const port = server.port;
    t.teardown(() => server.close());
    const w = await watchPage(browser, server.url);
    await w.page.goto(`${server.url}/transactions?address=0x12`);
    t.match(await w.page.locator("[data-state=error]").innerText(), /is not an address/, "a malformed address is named, nothing is asked");
    await w.page.goto(`${server.url}/transactions?kind=Not-A-Kind`);
    const problem = w.page.locator("[data-state=error]");
    await problem.waitFor();
    t.equal(await problem.getAttribute("data-code"), "VALIDATION_FAILED", "the API's code is shown");
    await w.shot("error-filter");

    await w.page.goto(`${server.url}/`);
    await w.page.getByText("No jobs yet.").waitFor();
    await server.close();
    const banner = w.page.getByTestId("unreachable");
    await banner.waitFor({ timeout: 10_000 });
    t.match(await banner.innerText(), /not answering/);
    t.ok(await w.page.getByText("No jobs yet.").isVisible(), "what was loaded stays on screen");
    await w.shot("unreachable");
    server = await start(port);
    await banner.waitFor({ state: "detached", timeout: 10_000 });
    t.pass("the page reconnected by itself after the orchestrator restarted");
    t.same(w.problems, [], "no script error, no request outside the orchestrator");
  });

  t.test("a server without the built dashboard answers a page that says how to build it", async (t) => {
    const server = await start(0, join(dataDir, "no-dashboard-here"));
    t.teardown(() => server.close());
    const w = await watchPage(browser, server.url);
    const res = await w.page.goto(`${server.url}/`);
    t.equal(res?.status(), 503);
    t.match(await w.page.locator("body").innerText(), /The dashboard is not built[\s\S]*fix: run npm run build:web/);
  });
}
