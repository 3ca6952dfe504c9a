import t from "tap";
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { JsonRpcProvider, Network, NonceManager, Wallet } from "ethers";
import { startLocalChain } from "../lib/chain/localChain.js";
import { deployAll } from "../lib/chain/deploy.js";
import { devAccount } from "../lib/chain/accounts.js";

// Runs the built CLI (npm run build:ts first), as a user would.
const root = fileURLToPath(new URL("../..", import.meta.url));
const cli = join(root, "dist", "cli", "index.js");

t.test("quackmesh serve: JSON ready line with evaluator and contracts, serves the API, records the evaluator, stops on SIGTERM", async (t) => {
  const chain = await startLocalChain({ port: 0 });
  t.teardown(() => chain.stop());
  const home = await mkdtemp(join(tmpdir(), "qm-serve-"));
  t.teardown(() => rm(home, { recursive: true, force: true }));
  const deploymentsDir = join(home, "deployments");
  const provider = new JsonRpcProvider(chain.url, Network.from(31337), { staticNetwork: true });
  t.teardown(() => provider.destroy());
  const deployment = await deployAll({ network: "local", rpc: chain.url, deploymentsDir }, new NonceManager(new Wallet(devAccount("operator").privateKey, provider)));

  const env = { ...process.env, QUACKMESH_HOME: home, QUACKMESH_DEPLOYMENTS: deploymentsDir, QUACKMESH_EVALUATOR_KEY: "" };
  const dataDir = join(home, "orch");
  const child = spawn(process.execPath, [cli, "serve", "--port", "0", "--rpc", chain.url, "--data-dir", dataDir, "--json"], { cwd: root, env, stdio: ["ignore", "pipe", "pipe"] });
  const exit = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  t.teardown(() => child.kill("SIGKILL"));
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  let ready: { event: string; url: string; evaluator: string; keySource: string; chainId: number; contracts: Record<string, string> } | undefined;
  let sawLog = false;
  while (!ready) {
    const next = await lines.next();
    if (next.done) throw new Error("serve exited before it was ready");
    const obj = JSON.parse(String(next.value));
    if (obj.event === "ready") ready = obj;
    else if (typeof obj.level === "number") sawLog = true;
  }
  t.match(ready.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  t.equal(ready.keySource, "generated");
  t.equal(ready.chainId, 31337);
  t.equal(ready.contracts.TrainingPool, deployment.contracts.TrainingPool);
  t.equal((await stat(join(dataDir, "evaluator.key"))).mode & 0o777, 0o600, "the generated key is private");

  const info = (await (await fetch(ready.url + "/api/info")).json()) as { evaluator: string; contracts: Record<string, string> };
  t.equal(info.evaluator, ready.evaluator);
  t.equal(info.contracts.ComputeMarketplace, deployment.contracts.ComputeMarketplace);
  const file = JSON.parse(await readFile(join(deploymentsDir, "local.json"), "utf8")) as { evaluator?: string };
  t.equal(file.evaluator, ready.evaluator, "the deployment file names the evaluator");
  await fetch(ready.url + "/healthz");

  child.kill("SIGTERM");
  let stopped = false;
  for (;;) {
    const next = await lines.next();
    if (next.done) break;
    const obj = JSON.parse(String(next.value));
    if (obj.event === "stopped") stopped = true;
    else if (typeof obj.level === "number") sawLog = true;
  }
  t.ok(stopped, "a 'stopped' line at the end");
  t.ok(sawLog, "structured pino logs in --json mode");
  t.equal(await exit, 0);
});

t.test("quackmesh serve without a deployment says how to fix it", async (t) => {
  const chain = await startLocalChain({ port: 0 });
  t.teardown(() => chain.stop());
  const home = await mkdtemp(join(tmpdir(), "qm-serve-"));
  t.teardown(() => rm(home, { recursive: true, force: true }));
  const env = { ...process.env, QUACKMESH_HOME: home, QUACKMESH_DEPLOYMENTS: join(home, "none") };
  const child = spawn(process.execPath, [cli, "serve", "--port", "0", "--rpc", chain.url, "--json"], { cwd: root, env, stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((r) => child.once("exit", (c) => r(c)));
  t.equal(code, 1);
  const err = JSON.parse(stderr.trim().split("\n").at(-1)!);
  t.equal(err.error, "NO_DEPLOYMENT");
  t.match(err.fix, /quackmesh deploy/);
});
