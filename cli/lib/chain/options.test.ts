import t from "tap";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Command } from "commander";
import { addChainOptions, openChain, settingsFrom } from "./options.js";
import { startLocalChain, freePort } from "./localChain.js";
import { devAccount } from "./accounts.js";

t.test("addChainOptions adds the same flags everywhere", async (t) => {
  const cmd = addChainOptions(new Command("x"), { defaultAccount: "requester" });
  const flags = cmd.options.map((o) => o.long);
  t.same(flags, ["--network", "--rpc", "--key", "--account", "--json"]);
  cmd.exitOverride().action(() => {});
  cmd.parse(["--network", "duckchain", "--rpc", "http://h:1", "--key", "k", "--account", "provider1", "--json"], { from: "user" });
  t.same(cmd.opts(), { network: "duckchain", rpc: "http://h:1", key: "k", account: "provider1", json: true });
  t.match(cmd.helpInformation(), /default requester/);
});

t.test("settingsFrom: flags win over env, env over the config file", async (t) => {
  const home = mkdtempSync(join(tmpdir(), "qm-home-"));
  writeFileSync(join(home, "config.json"), JSON.stringify({ network: "duckchain", duckToken: "0xfile" }));
  const env = { QUACKMESH_HOME: home, QUACKMESH_RPC_URL: "http://env:1" };
  const s = settingsFrom({}, env);
  t.equal(s.network, "duckchain");
  t.equal(s.rpc, "http://env:1");
  t.equal(s.duckToken, "0xfile");
  const s2 = settingsFrom({ network: "local", rpc: "http://flag:2", duckToken: "0xflag" }, env);
  t.same([s2.network, s2.rpc, s2.duckToken], ["local", "http://flag:2", "0xflag"]);
});

t.test("openChain connects, picks the signer, and reports an unreachable chain", async (t) => {
  const chain = await startLocalChain({ port: 0 });
  t.teardown(() => chain.stop());
  const env = { QUACKMESH_HOME: mkdtempSync(join(tmpdir(), "qm-home-")), QUACKMESH_DEPLOYMENTS: mkdtempSync(join(tmpdir(), "qm-dep-")) };
  const ctx = await openChain({ rpc: chain.url }, { defaultAccount: "requester", env });
  t.teardown(() => ctx.close());
  t.equal(ctx.network.name, "local");
  t.equal(ctx.signer.address, devAccount("requester").address);
  t.equal(await ctx.provider.getBalance(ctx.signer.address), 10_000n * 10n ** 18n);
  await t.rejects(ctx.contracts(), { code: "NO_DEPLOYMENT" });

  const other = await openChain({ rpc: chain.url, account: "7" }, { env });
  t.equal(other.signer.address, devAccount(7).address);
  other.close();

  const port = await freePort();
  await t.rejects(openChain({ rpc: `http://127.0.0.1:${port}` }, { env, timeoutMs: 1000 }), { code: "RPC_UNREACHABLE" });
});
