import { EventEmitter } from "node:events";
import { QuackError, isQuackError } from "../../protocol/errors.js";
import { KnownHosts } from "./knownHosts.js";
import { SshSession, type ExecHandle } from "./sshClient.js";
import { parseWorkerLine, workerArgProblem, type WorkerMessage } from "../../protocol/worker.js";

/** One rented machine of a cluster, as the chain describes it. */
export interface ClusterMachine {
  rentalId: bigint | string;
  machineId: bigint | string;
  host: string;
  port: number;
  /** Provider's address. */
  provider: string;
  /** Login user (the `user@` of the endpoint); default the manager's `username`. */
  username?: string;
  /** `SHA256:…` host key announced ahead; else the first connection pins it. */
  hostKey?: string;
}

/** connecting → ready (connected, files can be uploaded) → running (worker started) → done | failed. */
export type MachineState = "connecting" | "ready" | "running" | "failed" | "done";

export interface MachineStatus {
  rentalId: string;
  machineId: string;
  host: string;
  port: number;
  provider: string;
  status: MachineState;
  /** Epoch ms of the worker's last JSON line; null before the first. */
  lastHeartbeat: number | null;
  hostKeyFingerprint: string | null;
  error: { code: string; message: string } | null;
  /** The `done` message's fields, when the worker sent one. */
  result: Record<string, unknown> | null;
}

export interface ClusterManagerOptions {
  /** The renter's private key (OpenSSH text). */
  privateKey: string | Buffer;
  /** Login user where a machine names none (default "quackmesh"). */
  username?: string;
  /** Pinned host keys: a store, a JSON file path, or absent for memory only. */
  knownHosts?: KnownHosts | string;
  /** A running worker that sends nothing for this long is failed (default 60 s). */
  heartbeatTimeoutMs?: number;
  readyTimeoutMs?: number;
  keepaliveMs?: number;
  /** Connect to loopback, private and link-local addresses too (default true: endpointGuard.ts). */
  allowPrivateEndpoints?: boolean;
}

export interface ClusterEvents {
  status: MachineStatus;
  message: { rentalId: string; message: WorkerMessage };
  log: { rentalId: string; stream: "stdout" | "stderr"; line: string };
  failed: { rentalId: string; error: QuackError };
  done: { rentalId: string; result: Record<string, unknown> | null };
}

export interface ClusterManager {
  on<K extends keyof ClusterEvents>(event: K, listener: (e: ClusterEvents[K]) => void): this;
  once<K extends keyof ClusterEvents>(event: K, listener: (e: ClusterEvents[K]) => void): this;
  emit<K extends keyof ClusterEvents>(event: K, e: ClusterEvents[K]): boolean;
}

interface Entry {
  machine: ClusterMachine;
  status: MachineStatus;
  session?: SshSession;
  worker?: ExecHandle;
  stderrTail: string[];
}

const SAFE_REMOTE = /^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/;

function checkRemote(remote: string): void {
  if (!SAFE_REMOTE.test(remote) || remote.split("/").includes("..")) {
    throw new QuackError("BAD_REMOTE_PATH", `Remote name '${remote}' must be a relative path of letters, digits and _.- inside the rental's folder.`);
  }
}

/**
 * Drives the rented machines of one job over SSH: connect (host keys pinned), upload files into
 * each rental's folder over SFTP, start `quackmesh worker …` through the provider's gate, follow
 * its JSON lines as heartbeats, and mark a machine failed when its connection breaks, its worker
 * exits non-zero or its heartbeats stop. Never throws for one machine's trouble: it marks that
 * machine failed and emits `failed`; `status()` is what GET /api/cluster/:jobId returns.
 */
export class ClusterManager extends EventEmitter {
  private readonly entries = new Map<string, Entry>();
  private readonly known: KnownHosts;
  private watchdog?: NodeJS.Timeout;

  constructor(private readonly opts: ClusterManagerOptions) {
    super();
    this.known = opts.knownHosts instanceof KnownHosts ? opts.knownHosts : new KnownHosts(opts.knownHosts);
  }

  add(machine: ClusterMachine): void {
    const rentalId = String(machine.rentalId);
    if (this.entries.has(rentalId)) throw new QuackError("DUPLICATE_RENTAL", `Rental ${rentalId} is already in this cluster.`);
    this.entries.set(rentalId, {
      machine,
      stderrTail: [],
      status: {
        rentalId,
        machineId: String(machine.machineId),
        host: machine.host,
        port: machine.port,
        provider: machine.provider,
        status: "connecting",
        lastHeartbeat: null,
        hostKeyFingerprint: machine.hostKey ?? this.known.get(machine.host, machine.port) ?? null,
        error: null,
        result: null,
      },
    });
  }

  has(rentalId: bigint | string): boolean {
    return this.entries.has(String(rentalId));
  }

  /**
   * Stop following a machine (e.g. its rental ended): close its worker's channel and its
   * connection without marking it failed, and forget it.
   */
  drop(rentalId: bigint | string): void {
    const e = this.entries.get(String(rentalId));
    if (!e) return;
    this.entries.delete(String(rentalId));
    const session = e.session;
    e.session = undefined;
    e.worker?.close();
    session?.close();
  }

  status(): MachineStatus[] {
    return [...this.entries.values()].map((e) => ({ ...e.status }));
  }

  /** Connect one machine (again, after a failure). Resolves true when it is ready. */
  async connect(rentalId: bigint | string): Promise<boolean> {
    const e = this.entry(rentalId);
    e.session?.close();
    e.session = undefined;
    this.update(e, { status: "connecting", error: null });
    try {
      const session = await SshSession.open(
        { host: e.machine.host, port: e.machine.port, username: e.machine.username ?? this.opts.username ?? "quackmesh", privateKey: this.opts.privateKey, hostKeyFingerprint: e.machine.hostKey },
        { knownHosts: this.known, readyTimeoutMs: this.opts.readyTimeoutMs, keepaliveMs: this.opts.keepaliveMs, allowPrivateEndpoints: this.opts.allowPrivateEndpoints },
      );
      e.session = session;
      session.on("closed", (err: QuackError) => {
        if (e.session === session && (e.status.status === "ready" || e.status.status === "running")) this.markFailed(e.status.rentalId, err);
      });
      this.update(e, { status: "ready", hostKeyFingerprint: session.hostKeyFingerprint });
      return true;
    } catch (err) {
      this.markFailed(e.status.rentalId, err);
      return false;
    }
  }

  /** Connect every machine not yet ready, in parallel. */
  async connectAll(): Promise<MachineStatus[]> {
    await Promise.all([...this.entries.values()].filter((e) => e.status.status === "connecting" || e.status.status === "failed").map((e) => this.connect(e.status.rentalId)));
    return this.status();
  }

  /** Upload a local file or buffer as `remote` (relative, inside the rental's folder); `mode` e.g. 0o600. */
  async upload(rentalId: bigint | string, source: string | Buffer, remote: string, opts: { mode?: number } = {}): Promise<boolean> {
    checkRemote(remote);
    const e = this.ready(rentalId);
    if (!e) return false;
    try {
      await e.session!.upload(source, remote, opts);
      return true;
    } catch (err) {
      this.markFailed(e.status.rentalId, err);
      return false;
    }
  }

  /** Create a folder `remote` (relative, inside the rental's folder). */
  async mkdir(rentalId: bigint | string, remote: string): Promise<boolean> {
    checkRemote(remote);
    const e = this.ready(rentalId);
    if (!e) return false;
    try {
      await e.session!.mkdir(remote);
      return true;
    } catch (err) {
      this.markFailed(e.status.rentalId, err);
      return false;
    }
  }

  /** Upload the same files to every ready machine; per-machine files via a function. */
  async uploadAll(files: Array<{ source: string | Buffer; remote: string }> | ((m: MachineStatus) => Array<{ source: string | Buffer; remote: string }>)): Promise<void> {
    await Promise.all(
      [...this.entries.values()]
        .filter((e) => e.status.status === "ready")
        .map(async (e) => {
          for (const f of typeof files === "function" ? files({ ...e.status }) : files) if (!(await this.upload(e.status.rentalId, f.source, f.remote))) return;
        }),
    );
  }

  /** Run a one-off command through the gate and collect its output (e.g. `quackmesh worker --version`). */
  async run(rentalId: bigint | string, command: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const e = this.ready(rentalId, true);
    if (!e) throw new QuackError("MACHINE_NOT_READY", `Rental ${rentalId} is ${this.entry(rentalId).status.status}, not connected.`);
    return e.session!.run(command);
  }

  /** Start `quackmesh worker ARGS` on a ready machine; its JSON lines become heartbeats and messages. */
  async startWorker(rentalId: bigint | string, args: string[]): Promise<boolean> {
    for (const arg of args) {
      const problem = workerArgProblem(arg);
      if (problem) throw new QuackError("BAD_WORKER_ARG", `Worker argument '${arg}' ${problem}.`, { fix: "Name files relative to the rental's folder, without spaces or quotes." });
    }
    const e = this.ready(rentalId);
    if (!e) return false;
    const id = e.status.rentalId;
    try {
      e.worker = await e.session!.exec(["quackmesh", "worker", ...args].join(" "), {
        stdoutLine: (line) => this.onLine(e, line),
        stderrLine: (line) => {
          e.stderrTail.push(line);
          if (e.stderrTail.length > 20) e.stderrTail.shift();
          this.emit("log", { rentalId: id, stream: "stderr", line });
        },
      });
    } catch (err) {
      this.markFailed(id, err);
      return false;
    }
    this.update(e, { status: "running", lastHeartbeat: Date.now() });
    this.startWatchdog();
    void e.worker.done.then(({ code, signal }) => {
      // Dropped machines are no longer ours to judge.
      if (e.status.status !== "running" || this.entries.get(id) !== e) return;
      if (code === 0) this.finish(e, e.status.result);
      else if (code === null && !signal) {
        this.markFailed(id, new QuackError("SSH_CONNECTION_LOST", `The connection to rental ${id} broke while its worker ran.`, { fix: "Reconnect, replace the machine, or end its rental for a refund." }));
      } else {
        const why = e.stderrTail.at(-1) ?? (signal ? `signal ${signal}` : "no message");
        this.markFailed(id, new QuackError("WORKER_EXITED", `The worker on rental ${id} exited with code ${code}: ${why}`, { details: { code, signal, stderr: e.stderrTail.join("\n") } }));
      }
    });
    return true;
  }

  /** Start the worker on every ready machine; `argsFor` gives each its arguments (e.g. its shard). */
  async startAll(argsFor: (m: MachineStatus) => string[]): Promise<void> {
    await Promise.all([...this.entries.values()].filter((e) => e.status.status === "ready").map((e) => this.startWorker(e.status.rentalId, argsFor({ ...e.status }))));
  }

  /** Mark a machine failed (the caller's own judgement, or a connection/heartbeat problem) and drop its connection. */
  markFailed(rentalId: bigint | string, err: unknown): void {
    const e = this.entry(rentalId);
    const error = isQuackError(err) ? err : new QuackError("MACHINE_FAILED", (err as Error)?.message ?? String(err), { cause: err });
    const session = e.session;
    e.session = undefined;
    e.worker = undefined;
    session?.close();
    this.update(e, { status: "failed", error: { code: error.code, message: error.message } });
    this.emit("failed", { rentalId: e.status.rentalId, error });
  }

  /** Close every connection (workers get a hang-up through the gate) and stop watching. */
  async close(): Promise<void> {
    clearInterval(this.watchdog);
    this.watchdog = undefined;
    for (const e of this.entries.values()) {
      const session = e.session;
      e.session = undefined;
      e.worker?.close();
      session?.close();
    }
  }

  private onLine(e: Entry, line: string): void {
    const id = e.status.rentalId;
    const message = parseWorkerLine(line);
    if (!message) return void this.emit("log", { rentalId: id, stream: "stdout", line });
    // Any JSON line is a sign of life; `done` and `error` also end the worker's run.
    e.status.lastHeartbeat = Date.now();
    this.emit("message", { rentalId: id, message });
    if (message.event === "done") this.finish(e, message);
    else if (message.event === "error") this.markFailed(id, new QuackError("WORKER_ERROR", `The worker on rental ${id} reported: ${String(message.message ?? "an error")}`, { details: message }));
  }

  private finish(e: Entry, result: Record<string, unknown> | null): void {
    if (e.status.status !== "running") return;
    this.update(e, { status: "done", result });
    this.emit("done", { rentalId: e.status.rentalId, result });
  }

  private startWatchdog(): void {
    if (this.watchdog) return;
    const timeout = this.opts.heartbeatTimeoutMs ?? 60_000;
    this.watchdog = setInterval(() => {
      const now = Date.now();
      for (const e of this.entries.values()) {
        if (e.status.status === "running" && now - (e.status.lastHeartbeat ?? 0) > timeout) {
          e.worker?.close();
          this.markFailed(e.status.rentalId, new QuackError("HEARTBEAT_LOST", `The worker on rental ${e.status.rentalId} sent nothing for ${Math.round(timeout / 1000)} s.`, { fix: "Replace the machine or end its rental." }));
        }
      }
    }, Math.min(1000, Math.max(100, Math.floor(timeout / 4))));
    this.watchdog.unref();
  }

  private entry(rentalId: bigint | string): Entry {
    const e = this.entries.get(String(rentalId));
    if (!e) throw new QuackError("UNKNOWN_RENTAL", `Rental ${rentalId} is not part of this cluster.`);
    return e;
  }

  private ready(rentalId: bigint | string, orRunning = false): Entry | undefined {
    const e = this.entry(rentalId);
    const ok = e.status.status === "ready" || (orRunning && e.status.status === "running") || (orRunning && e.status.status === "done");
    return ok && e.session ? e : undefined;
  }

  private update(e: Entry, patch: Partial<MachineStatus>): void {
    Object.assign(e.status, patch);
    this.emit("status", { ...e.status });
  }
}
