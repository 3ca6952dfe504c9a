/**
 * An external trainer (`--trainer "COMMAND"`): each round the global model, the spec and round.json
 * (data path, settings, seed) go into a fresh folder, COMMAND runs there without a shell, with a
 * time limit and a bounded output tail, and its update.safetensors is checked like the engine's
 * own weights (names, shapes, float32, finite values, size) before anything is signed or sent.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { lstat, mkdir, mkdtemp, open, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { isAbsolute, join, resolve } from "node:path";
import { writeIdx } from "../../../native/data.js";
import { decodeSafetensors } from "../../../native/safetensors.js";
import { allFinite, sameLayout } from "../../../native/tensors.js";
import type { Dataset, ModelSpec, Tensor } from "../../../native/types.js";
import { ENV_VARS } from "../../../protocol/config.js";
import { QuackError } from "../../../protocol/errors.js";
import { TRAINER_FILES, TRAINER_LIMITS, TRAINER_PROTOCOL, type TrainerRound } from "../../../protocol/trainer.js";

export interface ExternalTrainer {
  /** Program and arguments, as parseTrainerCommand splits them. */
  argv: string[];
  timeoutMs: number;
}

const QUOTING_FIX = 'Write it like a shell command line: words split at spaces, "double" or \'single\' quotes keep spaces, \\ escapes one character (no pipes, variables or globs).';

/**
 * Splits a command line into argv the way a POSIX shell splits words, without running a shell:
 * spaces separate words, '…' is literal, "…" keeps spaces (\" and \\ escape inside), \ escapes
 * one character outside quotes. Pipes, redirections, $variables and globs are not interpreted.
 */
export function parseTrainerCommand(text: string): string[] {
  const words: string[] = [];
  let word = "";
  let inWord = false;
  let quote: "'" | '"' | null = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote === "'") {
      if (c === "'") quote = null;
      else word += c;
    } else if (quote === '"') {
      if (c === '"') quote = null;
      else if (c === "\\" && (text[i + 1] === '"' || text[i + 1] === "\\")) word += text[++i];
      else word += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      inWord = true;
    } else if (c === "\\") {
      if (i + 1 >= text.length) throw badCommand(text, "ends with a lone backslash");
      word += text[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = "";
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (quote) throw badCommand(text, `has an unclosed ${quote} quote`);
  if (inWord) words.push(word);
  if (words.length === 0) throw badCommand(text, "is empty");
  return words;
}

function badCommand(text: string, why: string): QuackError {
  return new QuackError("BAD_ARGUMENT", `--trainer ${JSON.stringify(text)} ${why}.`, { fix: QUOTING_FIX });
}

/**
 * The command runs in the round's folder, so paths relative to where quackmesh was started are
 * made absolute: the program when it has a slash, and any argument naming an existing file or folder.
 */
export function resolveTrainerArgv(argv: readonly string[], cwd = process.cwd()): string[] {
  return argv.map((arg, i) => {
    if (isAbsolute(arg) || arg.startsWith("-") || arg === "") return arg;
    if (i === 0) return arg.includes("/") ? resolve(cwd, arg) : arg;
    return existsSync(resolve(cwd, arg)) ? resolve(cwd, arg) : arg;
  });
}

/** A pixel set (every value k/255) travels as an IDX pair, anything else as CSV. */
function isPixelData(ds: Dataset): boolean {
  for (let i = 0; i < ds.x.length; i++) {
    const v = ds.x[i];
    if (!(v >= 0 && v <= 1) || Math.fround(Math.round(v * 255) / 255) !== v) return false;
  }
  return true;
}

/** Writes the training part once for all rounds (the held-out part stays with the contributor). */
export async function writeTrainerData(root: string, ds: Dataset): Promise<TrainerRound["data"]> {
  const dir = join(root, "data");
  await mkdir(dir, { recursive: true });
  const meta = { count: ds.count, features: ds.features };
  if (isPixelData(ds)) {
    await writeIdx(dir, ds);
    return { path: dir, format: "idx", ...meta };
  }
  // CSV with the features as they are (float32 printed exactly), written in slices to bound memory.
  const path = join(dir, "data.csv");
  const file = await open(path, "w");
  try {
    const rowsPerWrite = 1000;
    for (let start = 0; start < ds.count; start += rowsPerWrite) {
      const lines: string[] = [];
      for (let r = start; r < Math.min(ds.count, start + rowsPerWrite); r++) {
        const row = ds.x.subarray(r * ds.features, (r + 1) * ds.features);
        lines.push(`${ds.y[r]},${Array.from(row, String).join(",")}\n`);
      }
      await file.write(lines.join(""));
    }
  } finally {
    await file.close();
  }
  return { path, format: "csv", ...meta };
}

/** A scratch root for a contributor run: the data once, then one folder a round. */
export async function makeTrainerRoot(): Promise<string> {
  return mkdtemp(join(tmpdir(), "quackmesh-trainer-"));
}

export interface TrainerRoundInput {
  root: string;
  data: TrainerRound["data"];
  jobId: number;
  round: number;
  spec: ModelSpec;
  modelBytes: Uint8Array;
  /** The global model's tensors, in its order: the layout the update must have. */
  global: readonly Tensor[];
  train: TrainerRound["train"];
  signal?: AbortSignal;
}

export interface TrainerResult {
  /** In the global model's order. */
  tensors: Tensor[];
  /** What the trainer reported in metrics.json, if it wrote a valid one. */
  metrics: { loss: number; accuracy: number } | null;
}

/** Runs the trainer for one round and returns its checked update; its folder is removed afterwards. */
export async function runTrainerRound(trainer: ExternalTrainer, input: TrainerRoundInput): Promise<TrainerResult> {
  const dir = join(input.root, `job${input.jobId}-round${input.round}`);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir);
  try {
    const roundFile: TrainerRound = { protocol: TRAINER_PROTOCOL, jobId: input.jobId, round: input.round, files: TRAINER_FILES, data: input.data, train: input.train };
    await Promise.all([
      writeFile(join(dir, TRAINER_FILES.model), input.modelBytes),
      writeFile(join(dir, TRAINER_FILES.spec), JSON.stringify(input.spec, null, 2)),
      writeFile(join(dir, TRAINER_FILES.round), JSON.stringify(roundFile, null, 2)),
    ]);
    await runCommand(trainer, dir, input.signal);
    const tensors = await readTrainerUpdate(join(dir, TRAINER_FILES.update), input.global);
    return { tensors, metrics: await readMetrics(join(dir, TRAINER_FILES.metrics)) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Keeps the last `max` bytes written to it. */
class Tail {
  #chunks: Buffer[] = [];
  #size = 0;
  constructor(private readonly max: number) {}
  push(b: Buffer): void {
    this.#chunks.push(b);
    this.#size += b.length;
    while (this.#size - this.#chunks[0].length >= this.max) this.#size -= this.#chunks.shift()!.length;
  }
  text(): string {
    const all = Buffer.concat(this.#chunks);
    return all.subarray(Math.max(0, all.length - this.max)).toString("utf8").trimEnd();
  }
}

/** The caller's environment less QuackMesh's keys: a trainer never needs the wallet that signs. */
export function trainerEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const out = { ...env };
  for (const name of Object.keys(ENV_VARS)) if (name.endsWith("_KEY")) delete out[name];
  return out;
}

function runCommand(trainer: ExternalTrainer, dir: string, signal?: AbortSignal): Promise<void> {
  const [program, ...args] = trainer.argv;
  const shown = trainer.argv.join(" ");
  return new Promise((resolvePromise, reject) => {
    if (signal?.aborted) return reject(new QuackError("ABORTED", "Stopped before the trainer ran."));
    const tail = new Tail(TRAINER_LIMITS.outputTailBytes);
    // Its own process group: a timeout or Ctrl-C ends the trainer's children (data loaders) too.
    const child = spawn(program, args, { cwd: dir, env: trainerEnv(), stdio: ["ignore", "pipe", "pipe"], detached: true });
    child.stdout.on("data", (b: Buffer) => tail.push(b));
    child.stderr.on("data", (b: Buffer) => tail.push(b));
    let why: "timeout" | "aborted" | null = null;
    const killGroup = () => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL");
      } catch {
        // already gone
      }
    };
    const timer = setTimeout(() => {
      why = "timeout";
      killGroup();
    }, trainer.timeoutMs);
    const onAbort = () => {
      why = "aborted";
      killGroup();
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    };
    child.on("error", (err: NodeJS.ErrnoException) => {
      done();
      reject(
        new QuackError("TRAINER_FAILED", `The trainer \`${shown}\` could not start: ${err.code ?? err.message}.`, {
          fix: err.code === "ENOENT" ? `Check that ${program} exists and is on PATH (or give its path).` : `Check that ${program} is an executable program.`,
          details: { argv: trainer.argv, reason: err.code ?? err.message },
        }),
      );
    });
    child.on("close", (code, sig) => {
      done();
      const output = tail.text();
      const shownOutput = output ? `\n--- last output ---\n${output}` : "";
      if (why === "aborted") return reject(new QuackError("ABORTED", "Stopped while the trainer ran."));
      if (why === "timeout") {
        return reject(
          new QuackError("TRAINER_TIMEOUT", `The trainer \`${shown}\` ran past ${trainer.timeoutMs / 1000} s and was killed; nothing was sent.${shownOutput}`, {
            fix: "Give it more time with --trainer-timeout <seconds>, or train less per round (--epochs, a smaller data set).",
            details: { argv: trainer.argv, timeoutMs: trainer.timeoutMs, output },
          }),
        );
      }
      if (code !== 0) {
        const status = sig ? `was killed by ${sig}` : `exited with status ${code}`;
        return reject(
          new QuackError("TRAINER_FAILED", `The trainer \`${shown}\` ${status}; nothing was sent.${shownOutput}`, {
            fix: `Run it by hand in a folder holding ${TRAINER_FILES.model}, ${TRAINER_FILES.spec} and ${TRAINER_FILES.round} and fix the error its output shows.`,
            details: { argv: trainer.argv, exitCode: code, signal: sig, output },
          }),
        );
      }
      resolvePromise();
    });
  });
}

function badUpdate(message: string, reason: string, extra: Record<string, unknown> = {}): QuackError {
  return new QuackError("TRAINER_BAD_UPDATE", `The trainer's ${TRAINER_FILES.update} ${message}; nothing was sent.`, {
    fix: `Write the trained weights to ${TRAINER_FILES.update} in the folder the trainer runs in: float32 tensors with the names and shapes of ${TRAINER_FILES.model} (PyTorch: model.float().state_dict() saved with safetensors).`,
    details: { reason, ...extra },
  });
}

/** The update, checked against the global model's layout; tensors come back in that order. */
export async function readTrainerUpdate(path: string, global: readonly Tensor[]): Promise<Tensor[]> {
  const st = await lstat(path).catch(() => null);
  if (!st) throw badUpdate("is missing", "MISSING");
  if (!st.isFile()) throw badUpdate("is not a regular file (a link or a folder)", "NOT_A_FILE");
  const tensorBytes = global.reduce((n, t) => n + t.data.length * 4, 0);
  const maxBytes = 8 + TRAINER_LIMITS.headerSlackBytes + tensorBytes;
  if (st.size > maxBytes) throw badUpdate(`is ${st.size} bytes; the model's tensors need ${tensorBytes} (at most ${maxBytes} with the header)`, "TOO_LARGE", { size: st.size, maxBytes });
  const bytes = await readFile(path);
  let tensors: Tensor[];
  try {
    checkFloat32(bytes);
    tensors = decodeSafetensors(bytes, { maxHeaderBytes: TRAINER_LIMITS.headerSlackBytes }).tensors;
  } catch (e) {
    if ((e as QuackError).code === "TRAINER_BAD_UPDATE") throw e;
    throw badUpdate(`is not valid safetensors: ${(e as Error).message}`, (e as QuackError).code ?? "MALFORMED");
  }
  // Any order in the file; compared and used in the model's order.
  const byName = new Map(tensors.map((t) => [t.name, t]));
  if (byName.size === global.length && global.every((g) => byName.has(g.name))) tensors = global.map((g) => byName.get(g.name)!);
  const diff = sameLayout(global, tensors);
  if (diff !== null) throw badUpdate(`does not match the global model: ${diff}`, "SHAPE_MISMATCH");
  for (const t of tensors) {
    const at = allFinite(t.data);
    if (at >= 0) throw badUpdate(`holds ${t.data[at]} in tensor '${t.name}' at index ${at}`, "NON_FINITE", { tensor: t.name, index: at });
  }
  return tensors;
}

/** The engine trains float32; another dtype is refused rather than silently converted. */
function checkFloat32(bytes: Buffer): void {
  if (bytes.length < 8) return; // decodeSafetensors names the problem
  const n = bytes.readBigUInt64LE(0);
  if (n > BigInt(TRAINER_LIMITS.headerSlackBytes) || 8 + Number(n) > bytes.length) return;
  let header: unknown;
  try {
    header = JSON.parse(bytes.subarray(8, 8 + Number(n)).toString("utf8"));
  } catch {
    return;
  }
  if (typeof header !== "object" || header === null) return;
  for (const [name, entry] of Object.entries(header)) {
    const dtype = (entry as { dtype?: unknown } | null)?.dtype;
    if (name !== "__metadata__" && dtype !== "F32") throw badUpdate(`stores tensor '${name}' as ${String(dtype)}, not F32`, "WRONG_DTYPE", { tensor: name, dtype });
  }
}

async function readMetrics(path: string): Promise<TrainerResult["metrics"]> {
  try {
    const st = await lstat(path);
    if (!st.isFile() || st.size > 4096) return null;
    const m = JSON.parse(await readFile(path, "utf8")) as { loss?: unknown; accuracy?: unknown };
    if (typeof m.loss === "number" && Number.isFinite(m.loss) && typeof m.accuracy === "number" && m.accuracy >= 0 && m.accuracy <= 1) {
      return { loss: m.loss, accuracy: m.accuracy };
    }
  } catch {
    // optional: absent or unreadable metrics are replaced by the engine's own evaluation
  }
  return null;
}
