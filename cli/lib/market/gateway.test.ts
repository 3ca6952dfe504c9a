// The embedded gateway over real SSH connections: ssh2's client and OpenSSH's `ssh` and `sftp`
// (Debian openssh-client). What a renter may do works; everything else is refused.
import t from "tap";
import { execFile } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import ssh2, { Client } from "ssh2";
import { SshGateway, type GatewayEvent, type GatewayLimits } from "./gateway.js";
import { ensureHostKey } from "./gatewayHostKey.js";
import { writeWorkerEntry } from "./testkit.js";
import { generateSshKeyPair } from "../../../protocol/market/sshKeys.js";

const { utils } = ssh2;
const dir = mkdtempSync(join(tmpdir(), "qm-gateway-"));
const workerEntry = writeWorkerEntry(dir);
const root = join(dir, "rentals");

function keyPair(name: string): { privateFile: string; privateKey: string; publicKey: string } {
  const pair = generateSshKeyPair(name);
  const privateFile = join(dir, name);
  writeFileSync(privateFile, pair.private, { mode: 0o600 });
  return { privateFile, privateKey: pair.private, publicKey: pair.public };
}
const renter = keyPair("renter");
const other = keyPair("other");

async function gateway(limits: Partial<GatewayLimits> = {}) {
  const gw = await SshGateway.start({ hostKeyFile: join(dir, "host", "ssh_host_ed25519_key"), rentalsRoot: root, workerEntry, limits: { diskBytesPerRental: 64 * 1024, ...limits } });
  const events: GatewayEvent[] = [];
  gw.on("event", (e: GatewayEvent) => events.push(e));
  t.teardown(() => gw.close());
  return { gw, events };
}

/** An ssh2 client connection; rejects with the client's error. */
function connect(gw: SshGateway, privateKey: string, username = "quackmesh"): Promise<Client> {
  return new Promise((resolve, reject) => {
    const c = new Client();
    c.once("ready", () => resolve(c));
    c.once("error", reject);
    c.connect({ host: gw.host, port: gw.port, username, privateKey, readyTimeout: 10_000, hostVerifier: (key: Buffer) => utils.parseKey(gw.hostKey.publicKey) && Buffer.compare(key, Buffer.from(gw.hostKey.publicKey.split(" ")[1], "base64")) === 0 });
  });
}

function exec(c: Client, command: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) =>
    c.exec(command, (err, ch) => {
      if (err) return reject(err);
      let stdout = "";
      let stderr = "";
      let code: number | null = null;
      ch.on("data", (d: Buffer) => (stdout += d));
      ch.stderr.on("data", (d: Buffer) => (stderr += d));
      ch.on("exit", (c2: number | null) => (code = c2));
      ch.on("close", () => resolve({ code, stdout, stderr }));
    }),
  );
}

function sftpOf(c: Client): Promise<import("ssh2").SFTPWrapper> {
  return new Promise((resolve, reject) => c.sftp((err, s) => (err ? reject(err) : resolve(s))));
}
const call = <T>(fn: (cb: (err: Error | null | undefined, v?: T) => void) => void) => new Promise<T>((resolve, reject) => fn((err, v) => (err ? reject(err) : resolve(v as T))));

/** OpenSSH's client against the gateway, host key pinned from what the gateway announces. */
function openssh(gw: SshGateway, key: string, program: "ssh" | "sftp", args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const known = join(dir, `known_hosts-${gw.port}`);
  writeFileSync(known, `[${gw.host}]:${gw.port} ${gw.hostKey.publicKey}\n`);
  const common = ["-F", "/dev/null", "-i", key, "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", `UserKnownHostsFile=${known}`, "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=10"];
  const full = program === "ssh" ? [...common, "-p", String(gw.port), ...args] : [...common, "-P", String(gw.port), ...args];
  return new Promise((resolve) => {
    const child = execFile(program, full, { timeout: 20_000 }, (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
    if (input !== undefined) child.stdin!.end(input);
  });
}

t.test("the host key is made once, 0600, and reused; a key others can read is refused", async (t) => {
  const file = join(dir, "hk", "key");
  const a = ensureHostKey(file);
  t.equal(a.created, true);
  t.equal(statSync(file).mode & 0o777, 0o600);
  t.match(a.fingerprint, /^SHA256:/);
  const b = ensureHostKey(file);
  t.equal(b.created, false);
  t.equal(b.fingerprint, a.fingerprint, "the same key on the next start");
  chmodSync(file, 0o644);
  t.throws(() => ensureHostKey(file), { code: "HOST_KEY_EXPOSED", fix: /chmod 600/ });
  writeFileSync(join(dir, "hk", "bad"), "not a key", { mode: 0o600 });
  t.throws(() => ensureHostKey(join(dir, "hk", "bad")), { code: "BAD_HOST_KEY" });
});

t.test("ssh2 client: the worker runs in the rental's folder; shells, other commands, PTYs and forwarding are refused", async (t) => {
  const { gw, events } = await gateway();
  gw.grant(7n, renter.publicKey);
  await t.rejects(connect(gw, other.privateKey), /authentication/i, "a key of no rental is refused");
  const c = await connect(gw, renter.privateKey);
  t.teardown(() => c.end());
  const ok = await exec(c, "quackmesh worker --version");
  t.equal(ok.code, 0, ok.stderr);
  t.equal(ok.stdout.trim(), `quackmesh-worker 0.1.0 rental 7 cwd ${join(root, "rental-7")}`);

  for (const [command, why] of [
    ["cat /etc/passwd", /refused: 'cat \/etc\/passwd' is not allowed/],
    ["bash -c id", /not allowed/],
    ["quackmesh worker --data /etc/passwd", /absolute path/],
    ["quackmesh worker --data ../../x", /leaves the rental's folder/],
    ["quackmesh worker $(id)", /characters outside/],
  ] as const) {
    const r = await exec(c, command);
    t.equal(r.code, 1, command);
    t.match(r.stderr, why, command);
    t.equal(r.stdout, "", `${command}: nothing ran`);
  }
  const shell = await new Promise<{ code: number | null; stderr: string }>((resolve, reject) =>
    c.shell(false, (err, ch) => {
      if (err) return reject(err);
      let stderr = "";
      let code: number | null = null;
      ch.resume();
      ch.stderr.on("data", (d: Buffer) => (stderr += d));
      ch.on("exit", (x: number | null) => (code = x));
      ch.on("close", () => resolve({ code, stderr }));
    }),
  );
  t.equal(shell.code, 1);
  t.match(shell.stderr, /refused: an interactive shell is not available/);
  await t.rejects(
    new Promise((resolve, reject) => c.shell({ term: "xterm" }, (err, ch) => (err ? reject(err) : resolve(ch)))),
    /pseudo-terminal/,
    "a PTY is refused",
  );
  // reason 1: SSH_OPEN_ADMINISTRATIVELY_PROHIBITED
  await t.rejects(call((cb) => c.forwardOut("127.0.0.1", 0, "127.0.0.1", 22, cb)), { reason: 1 }, "local forwarding (-L) refused");
  await t.rejects(call((cb) => c.forwardIn("127.0.0.1", 0, cb)), /Unable to bind|fail/i, "remote forwarding (-R) refused");
  t.ok(events.some((e) => e.kind === "refused" && /global request 'tcpip-forward'/.test(e.message)), "the refusal is logged");
});

t.test("the worker gets an environment of its own: none of the provider's keys or home", async (t) => {
  const entry = join(dir, "env-entry.mjs");
  writeFileSync(entry, "console.log(JSON.stringify({ argv: process.argv.slice(2), env: process.env }));\n");
  const gw = await SshGateway.start({ hostKeyFile: join(dir, "host", "ssh_host_ed25519_key"), rentalsRoot: root, workerEntry: entry });
  t.teardown(() => gw.close());
  gw.grant(9n, renter.publicKey);
  process.env.QUACKMESH_PRIVATE_KEY = "0xprovider-secret";
  t.teardown(() => void delete process.env.QUACKMESH_PRIVATE_KEY);
  const c = await connect(gw, renter.privateKey);
  t.teardown(() => c.end());
  const r = await exec(c, "quackmesh worker --job 3");
  t.equal(r.code, 0, r.stderr);
  const seen = JSON.parse(r.stdout) as { argv: string[]; env: Record<string, string> };
  t.same(seen.argv, ["worker", "--job", "3"]);
  const folder = join(root, "rental-9");
  t.match(seen.env, { HOME: folder, QUACKMESH_HOME: join(folder, ".quackmesh"), QUACKMESH_RENTAL_ID: "9", QUACKMESH_RENTAL_DIR: folder });
  t.notOk("QUACKMESH_PRIVATE_KEY" in seen.env, "the provider's wallet key is not passed on");
  t.notMatch(r.stdout, /provider-secret/);
});

t.test("ssh2 client: SFTP is confined to the rental's folder and capped", async (t) => {
  const { gw, events } = await gateway();
  gw.grant(8n, renter.publicKey);
  const c = await connect(gw, renter.privateKey);
  t.teardown(() => c.end());
  const sftp = await sftpOf(c);
  const folder = join(root, "rental-8");
  t.equal(await call<string>((cb) => sftp.realpath(".", cb)), folder, "SFTP starts in the rental's folder");
  await call((cb) => sftp.writeFile("model.bin", Buffer.alloc(1000, 7), cb));
  await call((cb) => sftp.mkdir("shard", cb));
  await call((cb) => sftp.writeFile("shard/a.csv", "1,2\n", cb));
  t.same(readFileSync(join(folder, "model.bin")), Buffer.alloc(1000, 7));
  t.same(await call<Buffer>((cb) => sftp.readFile(`${folder}/shard/a.csv`, cb)), Buffer.from("1,2\n"), "an absolute path inside the folder is fine");

  symlinkSync("/etc/passwd", join(folder, "out"));
  symlinkSync("/nonexistent/target", join(folder, "dangling"));
  for (const path of ["../../etc/passwd", "/etc/passwd", "shard/../../rental-8/../x", "out", "dangling", `${folder}/../rental-9/secret`]) {
    await t.rejects(call((cb) => sftp.readFile(path, cb)), /outside the rental's folder|symbolic link/, `get ${path} refused`);
  }
  await t.rejects(call((cb) => sftp.writeFile("dangling", "x", cb)), /symbolic link/, "writing through a dangling link is refused");
  t.notOk(existsSync("/nonexistent/target"));
  await t.rejects(call((cb) => sftp.writeFile("/tmp/qm-gateway-escape", "x", cb)), /outside/);
  t.notOk(existsSync("/tmp/qm-gateway-escape"), "nothing written outside");
  await t.rejects(call((cb) => sftp.symlink("/etc/passwd", "link2", cb)), /symbolic links are not allowed/);
  await t.rejects(call((cb) => sftp.rename("model.bin", "/tmp/qm-gateway-moved", cb)), /outside/);
  await t.rejects(call((cb) => sftp.readdir("/", cb)), /outside/);
  const names = (await call<Array<{ filename: string }>>((cb) => sftp.readdir(".", cb))).map((e) => e.filename).sort();
  t.same(names, ["dangling", "model.bin", "out", "shard"]);

  // The cap is 64 KiB here: 1004 bytes are used; a 70 KB upload stops at the cap.
  await t.rejects(call((cb) => sftp.writeFile("big.bin", Buffer.alloc(70_000), cb)), /disk cap of 0 MiB|disk cap/, "an upload past the cap is refused");
  t.ok(statSync(join(folder, "big.bin")).size <= 64 * 1024, "no more than the cap reached the disk");
  await call((cb) => sftp.unlink("big.bin", cb));
  await call((cb) => sftp.writeFile("small.bin", Buffer.alloc(30_000), cb));
  t.equal(statSync(join(folder, "small.bin")).size, 30_000, "removing files frees the cap again");
  t.ok(events.some((e) => e.kind === "refused" && /disk cap/.test(e.message)));
});

t.test("OpenSSH client: the worker runs; shell, other commands and forwarding are refused", async (t) => {
  const { gw } = await gateway();
  gw.grant(11n, renter.publicKey);
  const at = `quackmesh@${gw.host}`;
  const ok = await openssh(gw, renter.privateFile, "ssh", [at, "quackmesh", "worker", "--version"]);
  t.equal(ok.code, 0, ok.stderr);
  t.equal(ok.stdout.trim(), `quackmesh-worker 0.1.0 rental 11 cwd ${join(root, "rental-11")}`);
  const cat = await openssh(gw, renter.privateFile, "ssh", [at, "cat", "/etc/passwd"]);
  t.equal(cat.code, 1);
  t.match(cat.stderr, /refused: 'cat \/etc\/passwd' is not allowed/);
  t.notMatch(cat.stdout, /root:/);
  const shell = await openssh(gw, renter.privateFile, "ssh", ["-T", at], "id\nexit\n");
  t.equal(shell.code, 1);
  t.match(shell.stderr, /refused: an interactive shell is not available/);
  t.equal(shell.stdout, "", "no shell ran the input");
  const pty = await openssh(gw, renter.privateFile, "ssh", ["-tt", at], "id\nexit\n");
  t.not(pty.code, 0);
  t.match(pty.stderr, /PTY allocation request failed/);
  const w = await openssh(gw, renter.privateFile, "ssh", ["-W", "127.0.0.1:9", at]);
  t.equal(w.code, 255);
  t.match(w.stderr, /stdio forwarding failed|administratively prohibited/, "stdio forwarding (-W, like -L) refused");
  const r = await openssh(gw, renter.privateFile, "ssh", ["-o", "ExitOnForwardFailure=yes", "-R", "0:127.0.0.1:9", at, "quackmesh", "worker", "--version"]);
  t.equal(r.code, 255);
  t.match(r.stderr, /remote port forwarding failed/);
  const stranger = await openssh(gw, other.privateFile, "ssh", [at, "quackmesh", "worker", "--version"]);
  t.equal(stranger.code, 255);
  t.match(stranger.stderr, /Permission denied \(publickey\)/);
});

t.test("OpenSSH client: sftp get ../.., absolute paths, a link pointing out, an upload past the cap are refused", async (t) => {
  const { gw } = await gateway();
  gw.grant(12n, renter.publicKey);
  const folder = join(root, "rental-12");
  writeFileSync(join(folder, "ok.txt"), "fine\n");
  symlinkSync("/etc/passwd", join(folder, "passwd-link"));
  const local = mkdtempSync(join(tmpdir(), "qm-gateway-local-"));
  const batch = (lines: string[]) => {
    const file = join(local, `batch-${Math.random().toString(36).slice(2)}`);
    writeFileSync(file, lines.join("\n") + "\n");
    return openssh(gw, renter.privateFile, "sftp", ["-b", file, `quackmesh@${gw.host}`]);
  };
  const ok = await batch([`get ok.txt ${local}/ok.txt`]);
  t.equal(ok.code, 0, ok.stderr);
  t.equal(readFileSync(join(local, "ok.txt"), "utf8"), "fine\n");
  for (const path of ["../../etc/passwd", "/etc/passwd", "passwd-link"]) {
    const r = await batch([`get ${path} ${local}/got`]);
    t.not(r.code, 0, `get ${path} fails`);
    t.notOk(existsSync(join(local, "got")), `get ${path}: nothing came back`);
  }
  writeFileSync(join(local, "big"), Buffer.alloc(100_000, 1));
  const big = await batch([`put ${local}/big big`]);
  t.not(big.code, 0, "put past the cap fails");
  t.match(big.stderr, /Failure|cap/i);
  t.ok(!existsSync(join(folder, "big")) || statSync(join(folder, "big")).size <= 64 * 1024, "the cap held");
  const ln = await batch([`ln -s /etc/passwd mylink`]);
  t.not(ln.code, 0, "making a symlink fails");
  t.notOk(existsSync(join(folder, "mylink")));
});

t.test("revoking a rental refuses its key at once and closes its open session and worker", async (t) => {
  const { gw } = await gateway();
  gw.grant(21n, renter.publicKey);
  const c = await connect(gw, renter.privateKey);
  const closed = new Promise<void>((resolve) => c.once("close", () => resolve()));
  let pid = 0;
  const running = new Promise<void>((resolve) =>
    c.exec("quackmesh worker --beats 1 --hold", (err, ch) => {
      if (err) throw err;
      ch.on("data", () => resolve());
    }),
  );
  await running;
  for (const d of (await import("node:fs")).readdirSync("/proc").filter((x) => /^\d+$/.test(x))) {
    try {
      const cmd = readFileSync(`/proc/${d}/cmdline`, "utf8");
      if (cmd.includes("--hold") && cmd.includes(workerEntry)) pid = Number(d);
    } catch {
      // gone
    }
  }
  t.ok(pid > 0, "the worker runs");
  t.equal(gw.connectionsOf(21n), 1);
  gw.revoke(21n);
  await closed;
  t.pass("the open connection was closed");
  await new Promise((r) => setTimeout(r, 300));
  t.notOk(existsSync(`/proc/${pid}`) && !readFileSync(`/proc/${pid}/stat`, "utf8").includes(") Z"), "the worker ended");
  await t.rejects(connect(gw, renter.privateKey), /authentication/i, "the key is refused now");
  const again = await openssh(gw, renter.privateFile, "ssh", [`quackmesh@${gw.host}`, "quackmesh", "worker", "--version"]);
  t.equal(again.code, 255, "OpenSSH too");
});

t.test("limits: connections per rental, sessions per connection, authentication attempts per minute, idle sessions", async (t) => {
  const { gw, events } = await gateway({ connectionsPerRental: 2, sessionsPerConnection: 3, authPerMinute: 6, idleMs: 2000 });
  gw.grant(31n, renter.publicKey);
  const a = await connect(gw, renter.privateKey);
  const b = await connect(gw, renter.privateKey);
  await t.rejects(connect(gw, renter.privateKey), /authentication/i, "a third connection is refused");
  t.ok(events.some((e) => /already has 2 connections/.test(e.message)));
  // At most 3 sessions on one connection here: a fourth is refused while three are open.
  const held = await Promise.all([1, 2, 3].map(() => new Promise<import("ssh2").ClientChannel>((resolve, reject) => a.exec("quackmesh worker --beats 1 --hold", (err, ch) => (err ? reject(err) : resolve(ch))))));
  await t.rejects(new Promise((resolve, reject) => a.exec("quackmesh worker --version", (err, ch) => (err ? reject(err) : resolve(ch)))), /open failure/i, "a fourth session is refused");
  t.ok(events.some((e) => /more than 3 sessions on one connection/.test(e.message)));
  for (const ch of held) ch.close();
  const idleClosed = Promise.all([a, b].map((c) => new Promise<void>((resolve) => c.once("close", () => resolve()))));
  await idleClosed;
  t.ok(events.some((e) => e.kind === "closed" && /idle/.test(e.message)), "idle connections are closed");
  // ssh2 asks with the key, then signs: 2 attempts a connection, 6 used above; the minute is used up.
  await t.rejects(connect(gw, other.privateKey), /authentication/i);
  await t.rejects(connect(gw, renter.privateKey), /authentication|closed|ECONNRESET/i, "even the right key is refused past the limit");
  t.ok(events.some((e) => /too many authentication attempts/.test(e.message)));
});
