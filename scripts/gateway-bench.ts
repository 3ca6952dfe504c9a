/**
 * The embedded SSH gateway against its peer, a dedicated OpenSSH server with the gate (what
 * `provide --sshd` runs), on this machine over loopback, with ssh2's client on the renter side:
 *   - login + `quackmesh worker --version` (a stand-in worker), median of 15;
 *   - SFTP upload and download of 64 MiB (ssh2 fastPut/fastGet).
 * Run: node --disable-warning=ExperimentalWarning --require ts-node/register/transpile-only \
 *        --loader ts-node/esm/transpile-only scripts/gateway-bench.ts   (needs /usr/sbin/sshd)
 * Prints one JSON object.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import ssh2, { Client, type SFTPWrapper } from "ssh2";
import { addRentalKey } from "../cli/lib/market/authorizedKeys.js";
import { forcedCommand } from "../cli/lib/market/gateLaunch.js";
import { SshGateway } from "../cli/lib/market/gateway.js";
import { startSshd } from "../cli/lib/market/sshd.js";
import { gateFromSources, writeWorkerEntry } from "../cli/lib/market/testkit.js";
import { generateSshKeyPair } from "../protocol/market/sshKeys.js";

const { utils } = ssh2;
const MIB = 1024 * 1024;
const SIZE = 64 * MIB;
const dir = mkdtempSync(join(tmpdir(), "qm-gateway-bench-"));
const pair = generateSshKeyPair();
const workerEntry = writeWorkerEntry(dir);
const payload = join(dir, "payload.bin");
writeFileSync(payload, Buffer.alloc(SIZE, 7));

interface Target {
  host: string;
  port: number;
  user: string;
}

function connect(t: Target): Promise<Client> {
  return new Promise((resolve, reject) => {
    const c = new Client();
    c.once("ready", () => resolve(c)).once("error", reject);
    c.connect({ host: t.host, port: t.port, username: t.user, privateKey: pair.private });
  });
}

function exec(c: Client, command: string): Promise<void> {
  return new Promise((resolve, reject) =>
    c.exec(command, (err, ch) => {
      if (err) return reject(err);
      ch.resume();
      ch.stderr.resume();
      ch.on("close", () => resolve());
    }),
  );
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function measure(t: Target, remoteDir: string) {
  const logins: number[] = [];
  for (let i = 0; i < 15; i++) {
    const start = performance.now();
    const c = await connect(t);
    await exec(c, "quackmesh worker --version");
    logins.push(performance.now() - start);
    c.end();
  }
  const c = await connect(t);
  const sftp = await new Promise<SFTPWrapper>((resolve, reject) => c.sftp((err, s) => (err ? reject(err) : resolve(s))));
  const remote = `${remoteDir}/payload.bin`;
  let start = performance.now();
  await new Promise<void>((resolve, reject) => sftp.fastPut(payload, remote, (err) => (err ? reject(err) : resolve())));
  const up = performance.now() - start;
  start = performance.now();
  await new Promise<void>((resolve, reject) => sftp.fastGet(remote, join(dir, "back.bin"), (err) => (err ? reject(err) : resolve())));
  const down = performance.now() - start;
  c.end();
  return { loginExecMs: Number(median(logins).toFixed(1)), uploadMiBs: Number(((SIZE / MIB) / (up / 1000)).toFixed(1)), downloadMiBs: Number(((SIZE / MIB) / (down / 1000)).toFixed(1)) };
}

const root = join(dir, "rentals");
const gateway = await SshGateway.start({ hostKeyFile: join(dir, "host-key"), rentalsRoot: join(root, "gw"), workerEntry, limits: { diskBytesPerRental: 4 * SIZE, authPerMinute: 1000 } });
gateway.grant(1n, pair.public);
const sshd = await startSshd();
const gate = await gateFromSources(dir, workerEntry);
addRentalKey(sshd.authorizedKeysFile, 1n, pair.public, forcedCommand(gate, 1n, join(root, "sshd")));
try {
  const gw = await measure({ host: gateway.host, port: gateway.port, user: "quackmesh" }, join(root, "gw", "rental-1"));
  const peer = await measure({ host: sshd.host, port: sshd.port, user: sshd.user }, join(root, "sshd", "rental-1"));
  console.log(JSON.stringify({ bench: "gateway", sizeMiB: SIZE / MIB, gateway: gw, openssh: peer }));
} finally {
  await gateway.close();
  await sshd.stop();
  rmSync(dir, { recursive: true, force: true });
}
