// The path-escape attempts of gateway.test.ts, against the `--sshd` mode (a real OpenSSH server,
// the renter's key forced through the gate). The gate confines commands, but sftp-server's -d
// only sets the start folder: this file records what a renter can read there, which README's
// provider section states. If these reads ever fail, the mode became confined: update README.
import t from "tap";
import { mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import ssh2, { Client, type SFTPWrapper } from "ssh2";
import { addRentalKey } from "./authorizedKeys.js";
import { forcedCommand } from "./gateLaunch.js";
import { startSshd } from "./sshd.js";
import { gateFromSources, writeWorkerEntry } from "./testkit.js";
import { generateSshKeyPair } from "../../../protocol/market/sshKeys.js";

const { utils } = ssh2;
const dir = mkdtempSync(join(tmpdir(), "qm-sshd-escape-"));
const sshd = await startSshd();
t.teardown(() => sshd.stop());
const gate = await gateFromSources(dir, writeWorkerEntry(dir));
const root = join(dir, "rentals");
const pair = generateSshKeyPair();
addRentalKey(sshd.authorizedKeysFile, 3n, pair.public, forcedCommand(gate, 3n, root));
const secret = join(dir, "provider-wallet.key");
writeFileSync(secret, "0xprovider-secret\n", { mode: 0o600 });

const client = await new Promise<Client>((resolve, reject) => {
  const c = new Client();
  c.once("ready", () => resolve(c)).once("error", reject);
  c.connect({ host: sshd.host, port: sshd.port, username: sshd.user, privateKey: pair.private, readyTimeout: 10_000 });
});
t.teardown(() => client.end());
const sftp = await new Promise<SFTPWrapper>((resolve, reject) => client.sftp((err, s) => (err ? reject(err) : resolve(s))));
const read = (path: string) => new Promise<string>((resolve, reject) => sftp.readFile(path, (err: Error | undefined, data: Buffer) => (err ? reject(err) : resolve(data.toString()))));

t.test("--sshd mode: the gate still refuses commands other than the worker", async (t) => {
  const out = await new Promise<string>((resolve, reject) =>
    client.exec("cat /etc/passwd", (err, ch) => {
      if (err) return reject(err);
      let text = "";
      ch.on("data", (d: Buffer) => (text += d));
      ch.stderr.on("data", (d: Buffer) => (text += d));
      ch.on("close", () => resolve(text));
    }),
  );
  t.match(out, /refused: 'cat \/etc\/passwd' is not allowed/);
});

t.test("--sshd mode: SFTP is NOT confined to the rental's folder (README says so)", async (t) => {
  const folder = join(root, "rental-3");
  t.equal(await new Promise<string>((resolve, reject) => sftp.realpath(".", (err, p) => (err ? reject(err) : resolve(p)))), folder, "it starts in the rental's folder");
  t.match(await read("/etc/passwd"), /^root:/m, "an absolute path outside is readable");
  t.match(await read("../../provider-wallet.key"), /provider-secret/, "`..` climbs out of the rental's folder to the provider's files");
  symlinkSync(secret, join(folder, "link"));
  t.match(await read("link"), /provider-secret/, "a symlink pointing out is followed");
});
