// The gateway driven by the chain: a provider agent on a real Hardhat node lets a rental's key in
// when it is rented; `rent end` (endRental) refuses the key and closes the session open on it.
// Renter side: OpenSSH's `ssh` and ssh2's client.
import t from "tap";
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseUnits } from "ethers";
import ssh2, { Client } from "ssh2";
import { SshGateway } from "./gateway.js";
import { ProviderAgent } from "./provider.js";
import { endRental, rentMachines } from "./renter.js";
import { detectSpecs } from "../../../protocol/market/specs.js";
import { marketFixture, writeWorkerEntry } from "./testkit.js";
import { generateSshKeyPair } from "../../../protocol/market/sshKeys.js";

const { utils } = ssh2;
const dir = mkdtempSync(join(tmpdir(), "qm-gateway-rental-"));
const fx = await marketFixture(dir, ["requester"]);
t.teardown(() => fx.stop());
const gateway = await SshGateway.start({ hostKeyFile: join(dir, "host-key"), rentalsRoot: join(dir, "rentals"), workerEntry: writeWorkerEntry(dir) });
t.teardown(() => gateway.close());
const pair = generateSshKeyPair("renter");
const keyFile = join(dir, "renter-key");
writeFileSync(keyFile, pair.private, { mode: 0o600 });
const known = join(dir, "known_hosts");
writeFileSync(known, `[${gateway.host}]:${gateway.port} ${gateway.hostKey.publicKey}\n`);
const renter = await fx.as("requester");
const prov = await fx.as("provider1");

const sshArgs = (...command: string[]) => [
  "-F", "/dev/null", "-i", keyFile, "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none", "-o", "BatchMode=yes",
  "-o", "StrictHostKeyChecking=yes", "-o", `UserKnownHostsFile=${known}`, "-o", "LogLevel=ERROR", "-p", String(gateway.port), `quackmesh@${gateway.host}`, ...command,
];

t.test("rented: the key works; rent end: the key is refused and the open sessions close", async (t) => {
  const agent = new ProviderAgent({ marketplace: prov.marketplace, provider: fx.provider, access: gateway, rentalsRoot: join(dir, "rentals") });
  t.teardown(() => agent.stop());
  await agent.listMachine({ ...(await detectSpecs({ runNvidiaSmi: async () => "" })), hostKey: gateway.hostKeyFingerprint }, parseUnits("1", 18), `quackmesh@${gateway.host}:${gateway.port}`, 0);
  t.same(gateway.granted(), [], "no key before a rental");
  const [rental] = await rentMachines({ marketplace: renter.marketplace, duck: renter.duck }, fx.provider, renter.wallet.address, fx.fromBlock, { count: 1, hours: 2, sshPublicKey: pair.public, filter: {} });
  await agent.poll();
  t.same(gateway.granted(), [rental.rentalId.toString()], "the rental's key is let in");

  // Two open sessions on the rental: OpenSSH running a worker that holds on, and an ssh2 SFTP one.
  const ssh = spawn("ssh", sshArgs("quackmesh", "worker", "--beats", "1", "--hold"), { stdio: ["pipe", "pipe", "pipe"] });
  const sshExit = new Promise<number | null>((resolve) => ssh.once("exit", (code) => resolve(code)));
  await new Promise<void>((resolve) => ssh.stdout!.once("data", () => resolve()));
  const client = await new Promise<Client>((resolve, reject) => {
    const c = new Client();
    c.once("ready", () => resolve(c)).once("error", reject);
    c.connect({ host: gateway.host, port: gateway.port, username: "quackmesh", privateKey: pair.private });
  });
  const clientClosed = new Promise<void>((resolve) => client.once("close", () => resolve()));
  await new Promise<void>((resolve, reject) => client.sftp((err) => (err ? reject(err) : resolve())));
  t.equal(gateway.connectionsOf(rental.rentalId), 2);

  await endRental(renter.marketplace, rental.rentalId);
  await agent.poll();
  t.not(await sshExit, 0, "the OpenSSH session running the worker was closed");
  await clientClosed;
  t.pass("the ssh2 SFTP session was closed");
  t.same(gateway.granted(), [], "no key is let in any more");
  const again = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
    const p = spawn("ssh", sshArgs("quackmesh", "worker", "--version"));
    let stderr = "";
    p.stderr.on("data", (d: Buffer) => (stderr += d));
    p.once("exit", (code) => resolve({ code, stderr }));
  });
  t.equal(again.code, 255);
  t.match(again.stderr, /Permission denied \(publickey\)/, "the ended rental's key is refused");
});
