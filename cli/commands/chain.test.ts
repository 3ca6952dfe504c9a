import t from "tap";
import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

// Runs the built CLI (npm run build:ts first), as a user would.
const root = fileURLToPath(new URL("../..", import.meta.url));
const cli = join(root, "dist", "cli", "index.js");
const env = { ...process.env, QUACKMESH_HOME: mkdtempSync(join(tmpdir(), "qm-home-")) };

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function gone(pid: number): Promise<boolean> {
  for (let i = 0; i < 100 && alive(pid); i++) await new Promise((r) => setTimeout(r, 100));
  return !alive(pid);
}

/** Start `quackmesh chain --port 0 --json` and read its 'ready' line. */
async function startCli() {
  const child = spawn(process.execPath, [cli, "chain", "--port", "0", "--json"], { cwd: root, env, stdio: ["ignore", "pipe", "pipe"] });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const exit = new Promise<{ code: number | null; signal: string | null }>((r) => child.once("exit", (code, signal) => r({ code, signal })));
  const first = await lines.next();
  const ready = JSON.parse(String(first.value)) as { event: string; url: string; pid: number; accounts: Array<{ name: string; address: string; privateKey: string; eth: string }> };
  return { child, lines, exit, ready };
}

t.test("quackmesh chain prints its URL and accounts, serves JSON-RPC, and stops its node on SIGINT", async (t) => {
  const { child, lines, exit, ready } = await startCli();
  t.teardown(() => {
    if (alive(ready.pid)) process.kill(-ready.pid, "SIGKILL");
  });
  t.equal(ready.event, "ready");
  t.match(ready.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  t.equal(ready.accounts.length, 20);
  t.match(ready.accounts[0], { name: "operator", address: "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266", eth: "10000" });
  const res = await fetch(ready.url, { method: "POST", headers: { "content-type": "application/json" }, body: '{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}' });
  t.same(await res.json(), { jsonrpc: "2.0", id: 1, result: "0x7a69" });
  t.ok(alive(ready.pid), "hardhat node runs");

  child.kill("SIGINT");
  const stopped = JSON.parse(String((await lines.next()).value));
  t.match(stopped, { event: "stopped", signal: "SIGINT", url: ready.url });
  t.same(await exit, { code: 0, signal: null }, "CLI exits cleanly");
  t.notOk(alive(ready.pid), "hardhat node is gone");
});

t.test("when the CLI is killed outright, its node still dies (no orphan)", async (t) => {
  const { child, exit, ready } = await startCli();
  t.teardown(() => {
    if (alive(ready.pid)) process.kill(-ready.pid, "SIGKILL");
  });
  child.kill("SIGKILL");
  await exit;
  t.ok(await gone(ready.pid), "hardhat node exited after its parent was killed");
});

t.test("a busy port is a clear error and exit code 1", async (t) => {
  const { child, exit, ready } = await startCli();
  t.teardown(async () => {
    child.kill("SIGTERM");
    await exit;
  });
  const port = new URL(ready.url).port;
  const second = spawn(process.execPath, [cli, "chain", "--port", port, "--json"], { cwd: root, env, stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  second.stderr.on("data", (d) => (stderr += d));
  const code = await new Promise((r) => second.once("exit", r));
  t.equal(code, 1);
  t.match(JSON.parse(stderr.trim()), { error: "PORT_BUSY", message: new RegExp(`Port ${port}`), fix: /--port/ });
});
