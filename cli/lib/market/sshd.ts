import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir, userInfo } from "node:os";
import { isAbsolute, join } from "node:path";
import { QuackError } from "../../../protocol/errors.js";
import { freePort } from "../chain/localChain.js";
import { parsePublicKey, sshKeygen } from "../../../protocol/market/sshKeys.js";

export const SSHD_BINARY = "/usr/sbin/sshd";

export interface StartSshdOptions {
  /** authorized_keys file sshd reads (created empty, 0600, when absent). Default: <dir>/authorized_keys. */
  authorizedKeysFile?: string;
  /** Port on `host`; 0 or absent picks a free one. */
  port?: number;
  host?: string;
  /** Folder for config, host key, pid file and log; default a new temp folder (removed by stop()). */
  dir?: string;
  /** sshd binary (default /usr/sbin/sshd). */
  binary?: string;
  /** sftp-server for the Subsystem line (the gate starts its own; this is what SSH_ORIGINAL_COMMAND names). */
  sftpServer?: string;
  timeoutMs?: number;
}

export interface RunningSshd {
  host: string;
  port: number;
  /** User renters log in as: the one running sshd. */
  user: string;
  /** `ssh-ed25519 AAAA…` of the host key. */
  hostKey: string;
  /** `SHA256:…` of the host key. */
  hostKeyFingerprint: string;
  authorizedKeysFile: string;
  dir: string;
  pid: number;
  exited: Promise<number | null>;
  /** Last lines sshd logged (it logs to stderr with -e). */
  logTail(): string;
  /** Kill sshd and wait for it; removes its temp folder when it made one. Safe to call twice. */
  stop(): Promise<void>;
}

const TAIL_LINES = 40;
const SETPRIV = "/usr/bin/setpriv";
/** In a temp folder made by startSshd: "<pid> <start time>" of the process that made it. */
const OWNER_FILE = "owner";

/**
 * Remove the temp folders (qm-sshd-*) whose owning process is gone: a provider killed with -9
 * cannot clean up, so the next start does. Folders of live processes (same pid and start time)
 * and folders without an owner file are left alone. Returns the folders removed.
 */
export function removeStaleSshdDirs(root = tmpdir()): string[] {
  const removed: string[] = [];
  let names: string[];
  try {
    names = readdirSync(root).filter((n) => n.startsWith("qm-sshd-"));
  } catch {
    return removed;
  }
  for (const name of names) {
    const dir = join(root, name);
    let owner: string;
    try {
      owner = readFileSync(join(dir, OWNER_FILE), "utf8").trim();
    } catch {
      continue;
    }
    const [pid, start] = owner.split(" ");
    const alive = procStat(Number(pid));
    if (alive && alive.start === start) continue;
    rmSync(dir, { recursive: true, force: true });
    removed.push(dir);
  }
  return removed;
}

/**
 * Start a real OpenSSH server as a child process with its own config, host key and port on
 * 127.0.0.1. Public-key login only, no PAM; StrictModes is off so keys under /tmp are accepted.
 */
export async function startSshd(opts: StartSshdOptions = {}): Promise<RunningSshd> {
  const binary = opts.binary ?? SSHD_BINARY;
  if (!existsSync(binary)) {
    throw new QuackError("NO_SSHD", `The OpenSSH server ${binary} is not installed.`, {
      fix: "Install it (Debian: apt-get install openssh-server), or run your own sshd and pass --endpoint and --ssh-authorized-keys.",
    });
  }
  const host = opts.host ?? "127.0.0.1";
  const ownDir = opts.dir === undefined;
  // What a provider killed with -9 left behind: its sshd died with it (see launch), its folder not.
  removeStaleSshdDirs();
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), "qm-sshd-"));
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (ownDir) writeFileSync(join(dir, OWNER_FILE), `${process.pid} ${procStat(process.pid)?.start ?? ""}\n`);
  const authorizedKeysFile = opts.authorizedKeysFile ?? join(dir, "authorized_keys");
  if (!isAbsolute(authorizedKeysFile)) throw new QuackError("BAD_PATH", `authorized_keys path '${authorizedKeysFile}' must be absolute.`);
  if (!existsSync(authorizedKeysFile)) writeFileSync(authorizedKeysFile, "", { mode: 0o600 });

  const hostKeyFile = join(dir, "ssh_host_ed25519_key");
  if (!existsSync(hostKeyFile)) await sshKeygen(["-q", "-t", "ed25519", "-N", "", "-C", "quackmesh-host", "-f", hostKeyFile]);
  const hostKey = readFileSync(`${hostKeyFile}.pub`, "utf8").trim().split(/\s+/).slice(0, 2).join(" ");
  // Privilege separation needs this folder when sshd starts as root.
  if (process.getuid?.() === 0) mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });

  for (let attempt = 1; ; attempt++) {
    const port = opts.port ? opts.port : await freePort(host);
    try {
      const started = await launch({ binary, host, port, dir, hostKeyFile, authorizedKeysFile, sftpServer: opts.sftpServer, timeoutMs: opts.timeoutMs ?? 15_000 });
      let stopping: Promise<void> | undefined;
      return {
        host,
        port,
        user: userInfo().username,
        hostKey,
        hostKeyFingerprint: parsePublicKey(hostKey).fingerprint,
        authorizedKeysFile,
        dir,
        pid: started.pid,
        exited: started.exited,
        logTail: started.logTail,
        stop: () =>
          (stopping ??= started.stop().then(() => {
            if (ownDir) rmSync(dir, { recursive: true, force: true });
          })),
      };
    } catch (err) {
      // A free port we picked can be taken before sshd binds it: pick again.
      if (!opts.port && attempt < 3 && err instanceof QuackError && err.code === "PORT_BUSY") continue;
      if (ownDir) rmSync(dir, { recursive: true, force: true });
      throw err;
    }
  }
}

interface LaunchArgs {
  binary: string;
  host: string;
  port: number;
  dir: string;
  hostKeyFile: string;
  authorizedKeysFile: string;
  sftpServer?: string;
  timeoutMs: number;
}

function configText(a: LaunchArgs): string {
  return [
    `Port ${a.port}`,
    `ListenAddress ${a.host}`,
    `HostKey ${a.hostKeyFile}`,
    `PidFile ${join(a.dir, "sshd.pid")}`,
    `AuthorizedKeysFile ${a.authorizedKeysFile}`,
    "UsePAM no",
    "StrictModes no",
    "PasswordAuthentication no",
    "KbdInteractiveAuthentication no",
    "PubkeyAuthentication yes",
    "PermitRootLogin prohibit-password",
    "AllowTcpForwarding no",
    "AllowAgentForwarding no",
    "X11Forwarding no",
    "PermitTunnel no",
    "PrintMotd no",
    "LogLevel VERBOSE",
    `Subsystem sftp ${a.sftpServer ?? "/usr/lib/openssh/sftp-server"}`,
    "",
  ].join("\n");
}

async function launch(a: LaunchArgs) {
  const config = join(a.dir, "sshd_config");
  writeFileSync(config, configText(a), { mode: 0o600 });
  // setpriv makes the kernel send sshd SIGTERM when this process dies, even by SIGKILL, so a
  // killed provider leaves no server accepting renters' keys behind.
  const argv = ["-D", "-e", "-f", config];
  const child = existsSync(SETPRIV)
    ? spawn(SETPRIV, ["--pdeathsig", "SIGTERM", "--", a.binary, ...argv], { stdio: ["ignore", "ignore", "pipe"], detached: false })
    : spawn(a.binary, argv, { stdio: ["ignore", "ignore", "pipe"], detached: false });
  const tail: string[] = [];
  let rest = "";
  child.stderr!.setEncoding("utf8");
  child.stderr!.on("data", (chunk: string) => {
    const parts = (rest + chunk).split("\n");
    rest = parts.pop() ?? "";
    for (const line of parts) {
      tail.push(line);
      if (tail.length > TAIL_LINES) tail.shift();
    }
  });
  const exited = new Promise<number | null>((resolve) => {
    child.once("exit", (code) => resolve(code));
    child.once("error", () => resolve(null));
  });
  const killOnExit = () => child.kill("SIGKILL");
  process.once("exit", killOnExit);
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      // Each connection's sshd calls setsid(), leaving our process group: find the whole tree
      // (connections, their sessions, the gate and the worker) before the listener goes.
      const tree = descendants(child.pid!);
      child.kill("SIGTERM");
      for (const p of tree) signal(p.pid, "SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 3000);
      await exited;
      clearTimeout(timer);
      await new Promise((r) => setTimeout(r, 100));
      // Only processes that are still the ones we saw (same start time), never a reused pid.
      for (const p of tree) if (procStat(p.pid)?.start === p.start) signal(p.pid, "SIGKILL");
    }
    process.removeListener("exit", killOnExit);
  };
  const logTail = () => tail.join("\n");
  try {
    await waitListening(a.host, a.port, exited, a.timeoutMs);
  } catch (err) {
    await stop();
    const log = logTail();
    if (/Address already in use|Cannot bind any address/i.test(log)) {
      throw new QuackError("PORT_BUSY", `Port ${a.port} on ${a.host} is already in use.`, { fix: "Pick another port, or leave it out to use a free one." });
    }
    throw new QuackError("SSHD_START_FAILED", `sshd did not start: ${(err as Error).message}.`, {
      fix: "Read sshd's log in details.log.",
      details: { log },
      cause: err,
    });
  }
  return { pid: child.pid!, exited, stop, logTail };
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

/** Parent pid and start time of a process from /proc (Linux); undefined when it is gone. */
function procStat(pid: number): { ppid: number; start: string } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The fields after the command name, which is in parentheses and may hold spaces: state, ppid, …
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return { ppid: Number(fields[1]), start: fields[19] };
  } catch {
    return undefined;
  }
}

/** Every process below `root`, with its start time (Linux /proc; empty elsewhere). */
export function descendants(root: number): Array<{ pid: number; start: string }> {
  let entries: string[] = [];
  try {
    entries = readdirSync("/proc").filter((d) => /^\d+$/.test(d));
  } catch {
    return [];
  }
  const stats = new Map<number, { ppid: number; start: string }>();
  for (const d of entries) {
    const st = procStat(Number(d));
    if (st) stats.set(Number(d), st);
  }
  const out: Array<{ pid: number; start: string }> = [];
  const walk = (pid: number) => {
    for (const [child, st] of stats) if (st.ppid === pid) out.push({ pid: child, start: st.start }), walk(child);
  };
  walk(root);
  return out;
}

async function waitListening(host: string, port: number, exited: Promise<number | null>, timeoutMs: number): Promise<void> {
  let gone: number | null | undefined;
  void exited.then((code) => (gone = code));
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (gone !== undefined) throw new Error(`exited with code ${gone}`);
    if (await accepts(host, port)) {
      if (gone === undefined) return;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`port ${port} did not accept connections within ${Math.round(timeoutMs / 1000)} s`);
}

/** True when a TCP connection to host:port opens and the peer greets with an SSH banner. */
function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once("data", (d) => done(d.toString("latin1").startsWith("SSH-")));
    socket.once("error", () => done(false));
  });
}
