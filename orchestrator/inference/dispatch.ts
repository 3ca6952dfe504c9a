/**
 * Cluster inference over SSH: one `quackmesh worker --infer` per rented machine, started through
 * its provider's gateway. The model goes up once per machine; once every machine has loaded it
 * (or failed), each takes the next part from a shared queue, uploads it, names it on the worker's
 * stdin, and downloads the answer.
 * A machine that fails (connection lost, worker gone or in error, an answer that does not check,
 * no answer in time) is dropped and its part in flight goes back to the queue for the others. A
 * part is accepted once: the first checked answer wins, so no row is paid for twice.
 */
import { createHash } from "node:crypto";
import { QuackError, isQuackError } from "../../protocol/errors.js";
import { KnownHosts } from "../cluster/knownHosts.js";
import { SshSession, type ExecHandle, type SshTarget } from "../cluster/sshClient.js";
import { parseWorkerLine } from "../../protocol/worker.js";
import type { Part, PartResult } from "./parts.js";
import { INFER_DIR, MODEL_FILE, SPEC_FILE, outFile, partFile, type PartAnswer } from "../../protocol/inference/remote.js";

export interface InferMachine {
  rentalId: string;
  provider: string;
  /** DUCK wei per hour of the rental. */
  pricePerHour: bigint;
  target: SshTarget;
}

export type DispatchEvent =
  | { event: "connected"; rentalId: string; provider: string; hostKey: string }
  | { event: "part"; part: number; rows: number; rentalId: string; provider: string; computeMs: number; rowsDone: number; rowsTotal: number }
  | { event: "machine-failed"; rentalId: string; provider: string; code: string; message: string; requeued: number | null };

export interface DispatchInput {
  machines: InferMachine[];
  parts: Part[];
  /** rows × features float32, row-major. */
  x: Float32Array;
  features: number;
  model: { safetensors: Uint8Array; spec: unknown; sha256: string };
}

export interface DispatchOptions {
  onEvent?: (e: DispatchEvent) => void;
  /** A part with no answer for this long fails its machine (default 120 s). */
  partTimeoutMs?: number;
  /** The worker's `ready` line, after it loaded the model (default 60 s). */
  readyTimeoutMs?: number;
  knownHosts?: KnownHosts;
  /** Connect to loopback, private and link-local addresses too (default true: cluster/endpointGuard.ts). */
  allowPrivateEndpoints?: boolean;
}

export interface DispatchResult {
  /** By part number; undefined for a part no machine returned. */
  results: Array<PartResult | undefined>;
  failed: Array<{ rentalId: string; provider: string; code: string; message: string }>;
}

/** The shared queue: machines take parts; a failed machine's part goes back for the others. */
class PartQueue {
  private readonly waiting: number[];
  private readonly idle: Array<(part: number | null) => void> = [];
  private inFlight = 0;

  constructor(parts: number[]) {
    this.waiting = [...parts];
  }

  /** The next part, or null once every part is answered (or nobody is left to answer it). */
  take(): Promise<number | null> {
    if (this.waiting.length > 0) {
      this.inFlight++;
      return Promise.resolve(this.waiting.shift()!);
    }
    if (this.inFlight === 0) return Promise.resolve(null);
    return new Promise((resolve) => this.idle.push(resolve));
  }

  done(): void {
    this.inFlight--;
    this.drain();
  }

  giveBack(part: number): void {
    this.inFlight--;
    const next = this.idle.shift();
    if (next) {
      this.inFlight++;
      next(part);
    } else this.waiting.unshift(part);
    this.drain();
  }

  private drain(): void {
    if (this.inFlight === 0 && this.waiting.length === 0) for (const wake of this.idle.splice(0)) wake(null);
  }
}

/** `promise`, or `err` after `ms`. The timer never keeps the process alive: an SFTP call on a
 * dropped connection may never settle, and its timer would otherwise hold the CLI's exit. */
function timeout<T>(promise: Promise<T>, ms: number, err: () => QuackError): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([promise, new Promise<T>((_, reject) => (timer = setTimeout(() => reject(err()), ms).unref()))]).finally(() => clearTimeout(timer));
}

/** One machine's worker: its JSON lines turned into awaited answers, its end into a failure. */
class RemoteWorker {
  private waiter?: { resolve: (m: Record<string, unknown>) => void; reject: (e: QuackError) => void };
  private failure?: QuackError;
  private readonly stderr: string[] = [];
  private kill!: (e: QuackError) => void;
  /** Rejects on the machine's first failure: SFTP calls on a dropped connection may never call back. */
  private readonly dead = new Promise<never>((_, reject) => (this.kill = reject));

  constructor(private readonly rentalId: string) {
    this.dead.catch(() => {});
  }

  /** `op`, or the machine's failure if that comes first. */
  guard<T>(op: Promise<T>): Promise<T> {
    return Promise.race([op, this.dead]);
  }

  /** When the worker last wrote a line (heartbeats included). */
  lastLine = Date.now();

  onStdout = (line: string): void => {
    this.lastLine = Date.now();
    const m = parseWorkerLine(line);
    if (!m || m.event === "heartbeat") return;
    if (m.event === "error") return this.fail(new QuackError("WORKER_ERROR", `The worker on rental ${this.rentalId} reported: ${String(m.message ?? "an error")}`, { details: m }));
    const w = this.waiter;
    this.waiter = undefined;
    w?.resolve(m);
  };

  onStderr = (line: string): void => {
    this.stderr.push(line);
    if (this.stderr.length > 5) this.stderr.shift();
  };

  onExit(code: number | null): void {
    this.fail(new QuackError("WORKER_EXITED", `The worker on rental ${this.rentalId} ended (exit ${code ?? "none"}) before answering: ${this.stderr.at(-1) ?? "no message"}`));
  }

  fail(err: QuackError): void {
    this.failure ??= err;
    this.kill(this.failure);
    const w = this.waiter;
    this.waiter = undefined;
    w?.reject(this.failure);
  }

  /** The next JSON line that is not a heartbeat. */
  next(): Promise<Record<string, unknown>> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => (this.waiter = { resolve, reject }));
  }
}

/** The worker writes a heartbeat line this often; silence for SILENCE_MS means it is gone. */
const HEARTBEAT_MS = 2000;
const SILENCE_MS = 10_000;

const asQuack = (err: unknown): QuackError => (isQuackError(err) ? err : new QuackError("MACHINE_FAILED", (err as Error)?.message ?? String(err), { cause: err }));

/** Run every part on the machines; resolves when each part is answered or no machine is left. */
export async function dispatchParts(input: DispatchInput, opts: DispatchOptions = {}): Promise<DispatchResult> {
  const emit = opts.onEvent ?? (() => {});
  const known = opts.knownHosts ?? new KnownHosts();
  const queue = new PartQueue(input.parts.map((p) => p.part));
  const results: Array<PartResult | undefined> = new Array(input.parts.length);
  const failed: DispatchResult["failed"] = [];
  const rowsTotal = input.parts.reduce((n, p) => n + p.count, 0);
  const partTimeoutMs = opts.partTimeoutMs ?? 120_000;
  let rowsDone = 0;
  const specBytes = Buffer.from(JSON.stringify(input.model.spec));
  // Parts are handed out once every machine is ready or failed, so a machine that starts first
  // does not take the whole input before the others could help.
  const readiness = input.machines.map(() => {
    let settle!: () => void;
    const ready = new Promise<void>((resolve) => (settle = resolve));
    return { ready, settle };
  });
  const allReady = Promise.all(readiness.map((r) => r.ready));

  async function serve(m: InferMachine, ready: () => void): Promise<void> {
    let session: SshSession | undefined;
    let handle: ExecHandle | undefined;
    let current: number | null = null;
    let watchdog: NodeJS.Timeout | undefined;
    const worker = new RemoteWorker(m.rentalId);
    const late = (what: string) => new QuackError("WORKER_TIMEOUT", `Rental ${m.rentalId} did not ${what} within ${partTimeoutMs / 1000} s.`);
    try {
      session = await SshSession.open(m.target, { knownHosts: known, readyTimeoutMs: 20_000, allowPrivateEndpoints: opts.allowPrivateEndpoints });
      session.on("closed", (err: QuackError) => worker.fail(err));
      emit({ event: "connected", rentalId: m.rentalId, provider: m.provider, hostKey: session.hostKeyFingerprint });
      await worker.guard(session.mkdir(INFER_DIR));
      await worker.guard(session.upload(Buffer.from(input.model.safetensors), `${INFER_DIR}/${MODEL_FILE}`));
      await worker.guard(session.upload(specBytes, `${INFER_DIR}/${SPEC_FILE}`));
      handle = await worker.guard(session.exec(`quackmesh worker --infer ${INFER_DIR} --heartbeat ${HEARTBEAT_MS}`, { stdoutLine: worker.onStdout, stderrLine: worker.onStderr }));
      void handle.done.then((r) => worker.onExit(r.code));
      // A worker that falls silent (killed, or its connection stalled without closing) fails its
      // machine within seconds instead of at the part timeout.
      worker.lastLine = Date.now();
      watchdog = setInterval(() => {
        if (Date.now() - worker.lastLine > SILENCE_MS) worker.fail(new QuackError("WORKER_TIMEOUT", `The worker on rental ${m.rentalId} sent nothing for ${SILENCE_MS / 1000} s.`));
      }, 1000);
      const loaded = await timeout(worker.next(), opts.readyTimeoutMs ?? 60_000, () => new QuackError("WORKER_TIMEOUT", `The worker on rental ${m.rentalId} did not load the model in time.`));
      if (loaded.event !== "ready" || loaded.modelSha256 !== input.model.sha256) {
        throw new QuackError("WORKER_ERROR", `The worker on rental ${m.rentalId} did not load the model it was sent (it answered ${JSON.stringify(loaded).slice(0, 200)}).`);
      }
      ready();
      await allReady;
      for (let part = await queue.take(); part !== null; part = await queue.take()) {
        current = part;
        const p = input.parts[part];
        const rows = input.x.subarray(p.from * input.features, (p.from + p.count) * input.features);
        await worker.guard(timeout(session.upload(Buffer.from(rows.buffer, rows.byteOffset, rows.byteLength), `${INFER_DIR}/${partFile(part)}`), partTimeoutMs, () => late(`upload part ${part}`)));
        const sent = performance.now();
        handle.write(JSON.stringify({ part, count: p.count }) + "\n");
        const answer = (await timeout(worker.next(), partTimeoutMs, () => late(`answer part ${part}`))) as unknown as PartAnswer;
        const wallMs = Math.ceil(performance.now() - sent);
        const bytes = await worker.guard(timeout(session.download(`${INFER_DIR}/${outFile(part)}`), partTimeoutMs, () => late(`return part ${part}`)));
        const classes = answer.classes;
        const bad = (why: string) => new QuackError("BAD_WORKER_ANSWER", `The worker on rental ${m.rentalId} answered part ${part} wrongly: ${why}.`);
        if (answer.event !== "part" || answer.part !== part || answer.count !== p.count) throw bad(`it answered ${JSON.stringify(answer).slice(0, 200)}`);
        if (!Number.isSafeInteger(classes) || classes < 1 || bytes.length !== p.count * classes * 4) throw bad(`${bytes.length} bytes for ${p.count} rows × ${classes} classes`);
        if (createHash("sha256").update(bytes).digest("hex") !== answer.sha256) throw bad("the downloaded file does not match the sha256 it reported");
        const probabilities = new Float32Array(p.count * classes);
        Buffer.from(probabilities.buffer).set(bytes);
        // The worker's measure, never above the time the renter saw pass: a worker cannot bill more than it took.
        const computeMs = Number.isFinite(answer.computeMs) && answer.computeMs >= 0 ? Math.min(Math.ceil(answer.computeMs), wallMs) : wallMs;
        if (!results[part]) {
          results[part] = { part, rentalId: m.rentalId, provider: m.provider, pricePerHour: m.pricePerHour, computeMs, probabilities };
          rowsDone += p.count;
        }
        current = null;
        queue.done();
        emit({ event: "part", part, rows: p.count, rentalId: m.rentalId, provider: m.provider, computeMs, rowsDone, rowsTotal });
      }
      handle.end();
      await timeout(handle.done, 10_000, () => new QuackError("WORKER_TIMEOUT", "late exit")).catch(() => undefined);
    } catch (err) {
      ready();
      const e = asQuack(err);
      worker.fail(e);
      if (current !== null) queue.giveBack(current);
      failed.push({ rentalId: m.rentalId, provider: m.provider, code: e.code, message: e.message });
      emit({ event: "machine-failed", rentalId: m.rentalId, provider: m.provider, code: e.code, message: e.message, requeued: current });
    } finally {
      clearInterval(watchdog);
      handle?.close();
      session?.close();
    }
  }

  await Promise.all(input.machines.map((m, i) => serve(m, readiness[i].settle)));
  return { results, failed };
}
