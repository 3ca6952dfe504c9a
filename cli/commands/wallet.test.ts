import t from "tap";
import { cliRunner } from "../testkit/runCli.js";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseUnits } from "ethers";
import { startLocalChain } from "../lib/chain/localChain.js";
import { connectProvider } from "../../protocol/chain/networks.js";
import { devAccount, resolveSigner } from "../lib/chain/accounts.js";
import { deployAll } from "../lib/chain/deploy.js";

// Runs the built CLI (npm run build:ts first) against a real local chain.
const { deploymentsDir: deploymentsDir, run } = cliRunner();

const chain = await startLocalChain({ port: 0 });
t.teardown(() => chain.stop());
const settings = { network: "local", rpc: chain.url, deploymentsDir };
const conn = await connectProvider(settings);
t.teardown(() => conn.provider.destroy());

t.test("wallet address: dev accounts locally, a key file anywhere, no key off the local chain", async (t) => {
  const a = await run(["wallet", "address", "--account", "provider2", "--json"]);
  t.same(JSON.parse(a.stdout), { address: devAccount("provider2").address, network: "local" });
  const keyFile = join(mkdtempSync(join(tmpdir(), "qm-key-")), "k");
  writeFileSync(keyFile, devAccount(11).privateKey);
  const k = await run(["wallet", "address", "--key", keyFile, "--network", "duckchain"]);
  t.equal(k.stdout.trim(), devAccount(11).address);
  const none = await run(["wallet", "address", "--network", "duckchain", "--json"]);
  t.equal(none.code, 1);
  t.match(JSON.parse(none.stderr), { error: "NO_KEY", fix: /--key FILE/ });
});

t.test("before a deploy, balance shows ETH and no DUCK; the faucet needs a deployment", async (t) => {
  const b = await run(["wallet", "balance", "--rpc", chain.url, "--account", "requester", "--json"]);
  t.equal(b.code, 0, b.stderr);
  t.same(JSON.parse(b.stdout), { address: devAccount("requester").address, network: "local", eth: parseUnits("10000", 18).toString(), duck: null });
  const f = await run(["wallet", "faucet", "--rpc", chain.url, "--json"]);
  t.equal(f.code, 1);
  t.match(JSON.parse(f.stderr), { error: "NO_DEPLOYMENT" });
});

t.test("faucet changes the receiver's balances by exactly the amounts", async (t) => {
  await deployAll(settings, resolveSigner(settings, conn.provider, {}, conn.network));
  const to = devAccount("contributor2").address;
  const before = JSON.parse((await run(["wallet", "balance", to, "--rpc", chain.url, "--json"])).stdout);
  const f = await run(["wallet", "faucet", "--rpc", chain.url, "--to", to, "--amount", "42.5", "--eth", "0.25", "--json"]);
  t.equal(f.code, 0, f.stderr);
  const r = JSON.parse(f.stdout);
  t.equal(r.to, to);
  t.equal(r.minted, parseUnits("42.5", 18).toString());
  const after = JSON.parse((await run(["wallet", "balance", to, "--rpc", chain.url, "--json"])).stdout);
  t.equal(BigInt(after.duck) - BigInt(before.duck), parseUnits("42.5", 18));
  t.equal(BigInt(after.eth) - BigInt(before.eth), parseUnits("0.25", 18));
  t.same(r.balance, { eth: after.eth, duck: after.duck });

  const human = await run(["wallet", "balance", to, "--rpc", chain.url]);
  t.match(human.stdout, /DUCK\s+42\.5/);
});

t.test("faucet refuses bad input and other networks, changing nothing", async (t) => {
  const bad = await run(["wallet", "faucet", "--rpc", chain.url, "--amount", "-5", "--json"]);
  t.match(JSON.parse(bad.stderr), { error: "BAD_AMOUNT", message: /--amount '-5'/ });
  const badTo = await run(["wallet", "faucet", "--rpc", chain.url, "--to", "0x1234", "--json"]);
  t.match(JSON.parse(badTo.stderr), { error: "BAD_ADDRESS", message: /--to '0x1234'/ });
  const remote = await run(["wallet", "faucet", "--network", "duckchain", "--json"]);
  t.match(JSON.parse(remote.stderr), { error: "FAUCET_LOCAL_ONLY" });
});

t.test("--help of each wallet command gives examples", async (t) => {
  for (const sub of ["address", "balance", "faucet"]) {
    const help = await run(["wallet", sub, "--help"]);
    t.match(help.stdout, /Examples:/, sub);
    t.match(help.stdout, /--json/, sub);
  }
});
