/**
 * The forced command of every renter key (`command="node …/gate.js --rental ID --root DIR"`).
 * sshd runs it instead of whatever the renter asked for and passes the request in
 * SSH_ORIGINAL_COMMAND. Only two things are let through:
 *   - SFTP: the provider's own sftp-server, started in the rental's folder (`-d`);
 *   - `quackmesh worker ARGS`: the worker, run without a shell, in the rental's folder.
 * Everything else (a shell, `bash -c …`, `cat /etc/passwd`) is refused with exit code 1.
 *
 * sftp-server's `-d` only sets the start folder: a renter can still name absolute paths the
 * provider's user can read. Real confinement needs sshd's ChrootDirectory, whose folders must be
 * owned by root and not writable by others; self-hosted providers who need it run the rental
 * under a dedicated user with `ChrootDirectory` and `ForceCommand internal-sftp`.
 *
 * This file imports only node: modules so it runs on its own (node gate.js) from dist/.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, realpathSync } from "node:fs";
import { basename, dirname, isAbsolute, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { workerArgProblem } from "../../../protocol/worker.js";

export interface GateOptions {
  rentalId: string;
  /** Folder holding the rental folders; the rental's own is `<root>/rental-<id>`. */
  root: string;
  /** JS entry of the quackmesh CLI; the worker runs as `node <entry> worker ARGS`. */
  workerEntry: string;
  /** sftp-server binary to run for SFTP. */
  sftpServer: string;
}

export type GateDecision =
  | { kind: "sftp"; argv: string[]; cwd: string }
  | { kind: "worker"; argv: string[]; cwd: string; env: Record<string, string> }
  | { kind: "refuse"; message: string };

const SFTP_SERVERS = ["/usr/lib/openssh/sftp-server", "/usr/libexec/openssh/sftp-server", "/usr/libexec/sftp-server", "/usr/lib/ssh/sftp-server"];

export function rentalFolder(root: string, rentalId: string): string {
  return join(root, `rental-${rentalId}`);
}

/** Decide what to run for SSH_ORIGINAL_COMMAND `original`. Pure: runs nothing. */
export function decide(original: string | undefined, opts: GateOptions): GateDecision {
  const cwd = rentalFolder(opts.root, opts.rentalId);
  const text = (original ?? "").trim();
  if (text === "") {
    return refuse("an interactive shell is not available; this key only runs `quackmesh worker …` and SFTP");
  }
  const words = text.split(/[ \t]+/);
  if (words[0] === "internal-sftp" || basename(words[0]) === "sftp-server") {
    return { kind: "sftp", argv: [opts.sftpServer, "-d", cwd], cwd };
  }
  const worker = workerRequest(text);
  if (typeof worker === "string") return refuse(worker);
  return {
    kind: "worker",
    argv: [process.execPath, opts.workerEntry, "worker", ...worker],
    cwd,
    env: { QUACKMESH_RENTAL_ID: opts.rentalId, QUACKMESH_RENTAL_DIR: cwd },
  };
}

/**
 * The one command a renter may run, shared by this gate and the embedded gateway: the worker's
 * arguments of `quackmesh worker ARGS`, or why the command is refused (a sentence without the
 * "refused:" prefix). Split on blanks, never given to a shell.
 */
export function workerRequest(command: string): string[] | string {
  const text = command.trim();
  if (text === "") return "an interactive shell is not available; this key only runs `quackmesh worker …` and SFTP";
  const words = text.split(/[ \t]+/);
  if (words[0] !== "quackmesh" || words[1] !== "worker") {
    return `'${text.slice(0, 120)}' is not allowed; this key only runs \`quackmesh worker …\` and SFTP in the rental's folder`;
  }
  const args = words.slice(2);
  for (const arg of args) {
    const problem = workerArgProblem(arg);
    if (problem) return `worker argument '${arg.slice(0, 80)}' ${problem}`;
  }
  return args;
}

function refuse(why: string): GateDecision {
  return { kind: "refuse", message: `quackmesh gate: refused: ${why}.` };
}

/** Parse the gate's own arguments (from the forced command, written by the provider). */
export function parseGateArgs(argv: string[], here = dirname(fileURLToPath(import.meta.url))): GateOptions {
  const get = (name: string) => {
    const i = argv.indexOf(name);
    return i >= 0 && i + 1 < argv.length ? argv[i + 1] : undefined;
  };
  const rentalId = get("--rental");
  const root = get("--root");
  if (!rentalId || !/^\d+$/.test(rentalId)) throw new Error("--rental <id> (a number) is required");
  if (!root || !isAbsolute(root)) throw new Error("--root <absolute folder> is required");
  // From dist/cli/lib/market/gate.js the CLI entry is dist/cli/index.js.
  const workerEntry = get("--worker-entry") ?? resolve(here, "..", "..", "index.js");
  const sftpServer = get("--sftp-server") ?? SFTP_SERVERS.find((p) => existsSync(p)) ?? SFTP_SERVERS[0];
  return { rentalId, root, workerEntry, sftpServer };
}

/** Run the decision with the session's stdin/stdout/stderr; resolves with the exit code. */
export function run(decision: GateDecision, stderr: NodeJS.WritableStream = process.stderr): Promise<number> {
  if (decision.kind === "refuse") {
    stderr.write(decision.message + "\n");
    return Promise.resolve(1);
  }
  mkdirSync(decision.cwd, { recursive: true, mode: 0o700 });
  const env = decision.kind === "worker" ? { ...process.env, ...decision.env } : process.env;
  // Its own process group, so ending the session ends everything the worker started.
  const child = spawn(decision.argv[0], decision.argv.slice(1), { cwd: decision.cwd, stdio: "inherit", env, detached: true });
  const end = (signal: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, signal);
    } catch {
      // already gone
    }
  };
  for (const s of ["SIGHUP", "SIGTERM", "SIGINT"] as const) process.on(s, () => end(s));
  // sshd sends no signal to a command without a PTY when the session closes: it just exits.
  // The gate notices that its parent (the session's sshd) is gone and ends the worker.
  const parent = process.ppid;
  const watch = setInterval(() => {
    if (process.ppid === parent) return;
    end("SIGTERM");
    setTimeout(() => end("SIGKILL"), 2000).unref();
  }, 500);
  return new Promise((done) => {
    child.once("error", (err) => {
      clearInterval(watch);
      stderr.write(`quackmesh gate: cannot start ${decision.argv[0]}: ${err.message}\n`);
      done(1);
    });
    child.once("exit", (code, signal) => {
      clearInterval(watch);
      done(code ?? (signal ? 128 : 1));
    });
  });
}

function isMain(): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  try {
    return import.meta.url === pathToFileURL(realpathSync(entry)).href;
  } catch {
    return false;
  }
}

if (isMain()) {
  let opts: GateOptions;
  try {
    opts = parseGateArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`quackmesh gate: misconfigured forced command: ${(err as Error).message}.\n`);
    process.exit(1);
  }
  run(decide(process.env.SSH_ORIGINAL_COMMAND, opts)).then((code) => process.exit(code));
}
