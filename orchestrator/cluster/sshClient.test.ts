import t from "tap";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startSshd } from "../../cli/lib/market/sshd.js";
import { addRentalKey, removeRentalKey } from "../../cli/lib/market/authorizedKeys.js";
import { forcedCommand } from "../../cli/lib/market/gateLaunch.js";
import { ensureKeyPair } from "../../protocol/market/sshKeys.js";
import { gateFromSources, writeWorkerEntry } from "../../cli/lib/market/testkit.js";
import { KnownHosts } from "./knownHosts.js";
import { SshSession } from "./sshClient.js";

const dir = mkdtempSync(join(tmpdir(), "qm-sshc-"));
const launch = await gateFromSources(dir, writeWorkerEntry(dir));
const root = join(dir, "rentals");
const renter = await ensureKeyPair(join(dir, "renter", "id_ed25519"));
const stranger = await ensureKeyPair(join(dir, "stranger", "id_ed25519"));
const akFile = join(dir, "authorized_keys");
const sshd = await startSshd({ authorizedKeysFile: akFile });
t.teardown(() => sshd.stop());
addRentalKey(akFile, 1, readFileSync(renter.publicKeyFile, "utf8"), forcedCommand(launch, 1, root));
const privateKey = readFileSync(renter.privateKeyFile);
const target = { host: sshd.host, port: sshd.port, username: sshd.user, privateKey };
const known = new KnownHosts(join(dir, "known_hosts.json"));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

t.test("the renter's key connects; the host key is pinned on first use", async (t) => {
  const s = await SshSession.open(target, { knownHosts: known });
  t.teardown(() => s.close());
  t.equal(s.hostKeyFingerprint, sshd.hostKeyFingerprint);
  t.equal(known.get(sshd.host, sshd.port), sshd.hostKeyFingerprint);
  t.same(JSON.parse(readFileSync(join(dir, "known_hosts.json"), "utf8")), { [`${sshd.host}:${sshd.port}`]: sshd.hostKeyFingerprint });
});

t.test("SFTP lands in the rental's folder; the worker runs there; a shell is refused", async (t) => {
  const s = await SshSession.open(target, { knownHosts: known });
  t.teardown(() => s.close());
  t.equal(await s.remoteHome(), join(root, "rental-1"));
  await s.upload(Buffer.from("shard bytes\n"), "shard.bin");
  t.equal(readFileSync(join(root, "rental-1", "shard.bin"), "utf8"), "shard bytes\n");
  t.equal((await s.download("shard.bin")).toString(), "shard bytes\n");

  const version = await s.run("quackmesh worker --version");
  t.equal(version.code, 0, version.stderr);
  t.equal(version.stdout, `quackmesh-worker 0.1.0 rental 1 cwd ${join(root, "rental-1")}`);

  const shell = await s.run("bash -c id");
  t.equal(shell.code, 1);
  t.match(shell.stderr, /refused: 'bash -c id' is not allowed/);
  t.equal(shell.stdout, "", "id never ran");
  const passwd = await s.run("cat /etc/passwd");
  t.equal(passwd.code, 1);
  t.notMatch(passwd.stdout, /root:/);
});

t.test("a key that is not installed is refused by sshd", async (t) => {
  await t.rejects(SshSession.open({ ...target, privateKey: readFileSync(stranger.privateKeyFile) }, { knownHosts: known }), { code: "SSH_AUTH_REFUSED" });
});

t.test("a removed rental key no longer logs in", async (t) => {
  addRentalKey(akFile, 2, readFileSync(stranger.publicKeyFile, "utf8"), forcedCommand(launch, 2, root));
  const s = await SshSession.open({ ...target, privateKey: readFileSync(stranger.privateKeyFile) }, { knownHosts: known });
  s.close();
  t.equal(removeRentalKey(akFile, 2), true);
  await t.rejects(SshSession.open({ ...target, privateKey: readFileSync(stranger.privateKeyFile) }, { knownHosts: known }), { code: "SSH_AUTH_REFUSED" });
});

t.test("a garbage private key is a clear error", async (t) => {
  await t.rejects(SshSession.open({ ...target, privateKey: "not a key" }), { code: "INVALID_SSH_KEY" });
});

t.test("a new host key on the same endpoint is refused; a stopped sshd leaves nothing behind", async (t) => {
  await sshd.stop();
  t.notOk(alive(sshd.pid), "sshd is gone after stop()");
  t.notOk(existsSync(sshd.dir), "its temp folder is removed");
  await t.rejects(SshSession.open(target, { knownHosts: known }), { code: "SSH_UNREACHABLE" });

  const impostor = await startSshd({ authorizedKeysFile: akFile, port: sshd.port });
  t.teardown(() => impostor.stop());
  t.not(impostor.hostKeyFingerprint, sshd.hostKeyFingerprint);
  await t.rejects(SshSession.open(target, { knownHosts: known }), {
    code: "HOST_KEY_CHANGED",
    details: { expected: sshd.hostKeyFingerprint, offered: impostor.hostKeyFingerprint },
  });
  const reloaded = new KnownHosts(join(dir, "known_hosts.json"));
  await t.rejects(SshSession.open(target, { knownHosts: reloaded }), { code: "HOST_KEY_CHANGED" }, "the pin survives a restart");
  await t.rejects(SshSession.open({ ...target, hostKeyFingerprint: sshd.hostKeyFingerprint }), { code: "HOST_KEY_CHANGED" }, "an announced key is enforced too");
  const s = await SshSession.open({ ...target, hostKeyFingerprint: impostor.hostKeyFingerprint });
  s.close();
});
