import t from "tap";
import { cliRunner } from "../testkit/runCli.js";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startLocalChain, freePort } from "../lib/chain/localChain.js";
import { devAccount } from "../lib/chain/accounts.js";

// Runs the built CLI (npm run build:ts first) against a real local chain.
const { deploymentsDir: deployments, run } = cliRunner();
const lastLine = (text: string) => JSON.parse(text.trim().split("\n").at(-1)!);

const chain = await startLocalChain({ port: 0 });
t.teardown(() => chain.stop());

t.test("deploy --json deploys, writes the file, refuses a second time, replaces with --force", async (t) => {
  const first = await run(["deploy", "--rpc", chain.url, "--json"]);
  t.equal(first.code, 0, first.stderr);
  const result = lastLine(first.stdout);
  t.match(result, { event: "deployment", network: "local", chainId: 31337, deployer: devAccount("operator").address, duckTokenDeployed: true });
  const file = JSON.parse(readFileSync(join(deployments, "local.json"), "utf8"));
  t.same(file.contracts, result.contracts);
  t.equal(first.stdout.trim().split("\n").length, 5, "four 'deployed' lines and the result");

  const again = await run(["deploy", "--rpc", chain.url, "--json"]);
  t.equal(again.code, 1);
  t.match(JSON.parse(again.stderr), { error: "DEPLOYMENT_EXISTS", fix: /--force/ });

  const forced = await run(["deploy", "--rpc", chain.url, "--force", "--ack-window", "120", "--account", "requester"]);
  t.equal(forced.code, 0, forced.stderr);
  t.match(forced.stdout, /Replacing the live deployment/);
  const replaced = JSON.parse(readFileSync(join(deployments, "local.json"), "utf8"));
  t.equal(replaced.ackWindowSeconds, 120);
  t.equal(replaced.deployer, devAccount("requester").address);
  t.not(replaced.contracts.TrainingPool, file.contracts.TrainingPool);
});

t.test("bad input is a clear error: unreachable RPC, malformed key, $DUCK missing off the local chain", async (t) => {
  const port = await freePort();
  const down = await run(["deploy", "--rpc", `http://127.0.0.1:${port}`, "--json"]);
  t.equal(down.code, 3, "an unreachable chain is transient: exit 3");
  t.match(JSON.parse(down.stderr), { error: "RPC_UNREACHABLE", message: new RegExp(`127\\.0\\.0\\.1:${port}`), fix: /quackmesh chain/ });

  const keyFile = join(mkdtempSync(join(tmpdir(), "qm-key-")), "deployer.key");
  writeFileSync(keyFile, "not a key\n");
  const badKey = await run(["deploy", "--rpc", chain.url, "--key", keyFile]);
  t.equal(badKey.code, 1);
  t.match(badKey.stderr, /error: Key file .*deployer\.key does not hold a private key/);
  t.match(badKey.stderr, /fix: /);

  const badWindow = await run(["deploy", "--rpc", chain.url, "--ack-window", "soon", "--force", "--json"]);
  t.match(JSON.parse(badWindow.stderr), { error: "BAD_ARGUMENT" });

  const noKey = await run(["deploy", "--network", "duckchain-testnet", "--json"]);
  // Not reachable from here: the probe fails first, with its own clear error (transient: exit 3).
  const noKeyError = JSON.parse(noKey.stderr) as { error: string };
  t.match(noKeyError, { error: /RPC_UNREACHABLE|NO_KEY/ });
  t.equal(noKey.code, noKeyError.error === "RPC_UNREACHABLE" ? 3 : 1);
});

t.test("--help explains and gives examples", async (t) => {
  const help = await run(["deploy", "--help"]);
  t.equal(help.code, 0);
  for (const flag of ["--network", "--rpc", "--key", "--duck-token", "--force", "--json", "Examples:"]) t.match(help.stdout, flag);
});
