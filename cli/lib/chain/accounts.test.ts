import t from "tap";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { devAccount, devAccounts, parsePrivateKey, resolveSigner } from "./accounts.js";

// Hardhat's documented first accounts for the public test mnemonic.
const HARDHAT_0 = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";
const HARDHAT_1 = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
const KEY_1 = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";

t.test("dev accounts derive Hardhat's keys and answer to names, aliases and indexes", async (t) => {
  t.equal(devAccount("operator").address, HARDHAT_0);
  t.equal(devAccount("deployer").address, HARDHAT_0);
  t.equal(devAccount(1).address, HARDHAT_1);
  t.equal(devAccount("1").privateKey, KEY_1);
  t.equal(devAccount("Requester").index, 1);
  t.equal(devAccount("contributor1").index, 6);
  t.equal(devAccount("account15").name, "account15");
  const all = devAccounts();
  t.equal(all.length, 20);
  t.equal(new Set(all.map((a) => a.address)).size, 20, "all distinct");
  t.throws(() => devAccount("nobody"), { code: "UNKNOWN_ACCOUNT", message: /nobody/ });
  t.throws(() => devAccount(20), { code: "UNKNOWN_ACCOUNT" });
});

t.test("private keys are checked", async (t) => {
  t.equal(parsePrivateKey(`  ${KEY_1.slice(2)}\n`, "x"), KEY_1, "0x optional, whitespace trimmed");
  t.throws(() => parsePrivateKey("0x1234", "Key file k"), { code: "BAD_KEY", message: /Key file k/ });
  t.throws(() => parsePrivateKey("0x" + "0".repeat(64), "k"), { code: "BAD_KEY" });
  t.throws(() => parsePrivateKey("0x" + "f".repeat(64), "k"), { code: "BAD_KEY", message: /range/ });
});

t.test("resolveSigner: --key file, env key, dev default locally, error elsewhere", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "qm-keys-"));
  const keyFile = join(dir, "key");
  writeFileSync(keyFile, KEY_1 + "\n");
  const local = { network: "local" };
  t.equal(resolveSigner(local, null, { key: keyFile }).address, HARDHAT_1);
  t.equal(resolveSigner({ ...local, privateKey: KEY_1 }, null).address, HARDHAT_1);
  t.equal(resolveSigner(local, null).address, HARDHAT_0, "operator by default");
  t.equal(resolveSigner(local, null, { defaultAccount: "requester" }).address, HARDHAT_1);
  t.equal(resolveSigner({ ...local, privateKey: devAccount(5).privateKey }, null, { account: "requester" }).address, HARDHAT_1, "--account wins over env");

  const bad = join(dir, "bad");
  writeFileSync(bad, "hello");
  t.throws(() => resolveSigner(local, null, { key: bad }), { code: "BAD_KEY", message: new RegExp(bad) });
  t.throws(() => resolveSigner(local, null, { key: join(dir, "missing") }), { code: "KEY_FILE_UNREADABLE" });
  t.throws(() => resolveSigner({ network: "duckchain" }, null), { code: "NO_KEY", message: /duckchain/ });
  t.throws(() => resolveSigner({ network: "duckchain-testnet" }, null, { account: "requester" }), { code: "DEV_ACCOUNT_REMOTE" });
  t.equal(resolveSigner({ network: "duckchain", privateKey: KEY_1 }, null).address, HARDHAT_1);
});
