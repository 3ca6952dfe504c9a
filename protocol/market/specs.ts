import { execFile } from "node:child_process";
import { arch, cpus, platform, totalmem } from "node:os";
import { QuackError } from "../errors.js";

/** One GPU as nvidia-smi reports it. */
export interface GpuSpec {
  name: string;
  /** Total memory in MiB. */
  memoryMiB: number;
}

/**
 * What a provider's machine offers. Its JSON is the `specs` string of `listMachine`, so it stays
 * small (it is paid for as event data) and versioned (`v`) so readers can evolve.
 */
export interface MachineSpecs {
  v: 1;
  cpu: string;
  cores: number;
  /** Total RAM in MiB. */
  ramMiB: number;
  gpus: GpuSpec[];
  /** Score from `quackmesh bench`, when the provider ran it. */
  bench?: number;
  os: string;
  arch: string;
  /**
   * `SHA256:…` fingerprint of the sshd host key renters reach, when the provider announces it:
   * renters (and the orchestrator's cluster manager) pin it on their first connection.
   */
  hostKey?: string;
}

/** An OpenSSH SHA256 fingerprint: `SHA256:` and 43 characters of unpadded base64. */
export const HOST_KEY_FINGERPRINT = /^SHA256:[A-Za-z0-9+/]{43}$/;

export interface DetectOptions {
  bench?: number;
  /** Runs nvidia-smi; replaced in tests. Resolves with its stdout, or rejects when it is absent. */
  runNvidiaSmi?: () => Promise<string>;
}

const NVIDIA_SMI_ARGS = ["--query-gpu=name,memory.total", "--format=csv,noheader"];

/** Detect this machine: CPU model and cores, RAM, GPUs (none when nvidia-smi is absent or fails). */
export async function detectSpecs(opts: DetectOptions = {}): Promise<MachineSpecs> {
  if (opts.bench !== undefined && (!Number.isFinite(opts.bench) || opts.bench < 0)) {
    throw new QuackError("BAD_ARGUMENT", `Bench score ${opts.bench} is not a non-negative number.`, {
      fix: "Pass the score `quackmesh bench` printed, or leave it out.",
    });
  }
  const list = cpus();
  const run = opts.runNvidiaSmi ?? defaultNvidiaSmi;
  let gpus: GpuSpec[] = [];
  try {
    gpus = parseNvidiaSmi(await run());
  } catch {
    // No NVIDIA driver or tool here: a CPU-only machine.
  }
  const specs: MachineSpecs = {
    v: 1,
    cpu: (list[0]?.model ?? "unknown").replace(/\s+/g, " ").trim(),
    cores: list.length,
    ramMiB: Math.round(totalmem() / 1024 / 1024),
    gpus,
    os: platform(),
    arch: arch(),
  };
  if (opts.bench !== undefined) specs.bench = opts.bench;
  return specs;
}

function defaultNvidiaSmi(): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile("nvidia-smi", NVIDIA_SMI_ARGS, { timeout: 10_000 }, (err, stdout) => (err ? reject(err) : resolve(stdout)));
  });
}

/** Lines like `NVIDIA H100 80GB HBM3, 81559 MiB`; lines that do not parse are skipped. */
export function parseNvidiaSmi(text: string): GpuSpec[] {
  const gpus: GpuSpec[] = [];
  for (const line of text.split(/\r?\n/)) {
    const m = /^\s*(.+?)\s*,\s*(\d+)\s*MiB\s*$/i.exec(line);
    if (m) gpus.push({ name: m[1], memoryMiB: Number(m[2]) });
  }
  return gpus;
}

/** The on-chain `specs` string. */
export function specsToString(specs: MachineSpecs): string {
  return JSON.stringify(specs);
}

/**
 * Read a `specs` string from the chain. Anyone can list anything, so this never throws: fields
 * that are missing or of the wrong type fall back to "unknown" values and `valid` says so.
 */
export function parseSpecs(text: string): MachineSpecs & { valid: boolean } {
  let data: Record<string, unknown> = {};
  let valid = true;
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) data = parsed as Record<string, unknown>;
    else valid = false;
  } catch {
    valid = false;
  }
  const num = (v: unknown) => (typeof v === "number" && Number.isFinite(v) && v >= 0 ? v : undefined);
  const str = (v: unknown) => (typeof v === "string" ? v.slice(0, 200) : undefined);
  const gpus = Array.isArray(data.gpus)
    ? data.gpus
        .filter((g): g is Record<string, unknown> => !!g && typeof g === "object")
        .map((g) => ({ name: str(g.name) ?? "unknown", memoryMiB: num(g.memoryMiB) ?? 0 }))
    : [];
  const cores = num(data.cores);
  const ramMiB = num(data.ramMiB);
  if (cores === undefined || ramMiB === undefined) valid = false;
  const specs: MachineSpecs & { valid: boolean } = {
    v: 1,
    cpu: str(data.cpu) ?? "unknown",
    cores: Math.floor(cores ?? 0),
    ramMiB: Math.floor(ramMiB ?? 0),
    gpus,
    os: str(data.os) ?? "unknown",
    arch: str(data.arch) ?? "unknown",
    valid,
  };
  const bench = num(data.bench);
  if (bench !== undefined) specs.bench = bench;
  // Anything but a well-formed fingerprint is dropped: a renter then pins on first use.
  if (typeof data.hostKey === "string" && HOST_KEY_FINGERPRINT.test(data.hostKey)) specs.hostKey = data.hostKey;
  return specs;
}

/** One line for people: "2 cores, 7.8 GiB RAM, 1× NVIDIA H100 (80 GiB), bench 123". */
export function describeSpecs(specs: MachineSpecs): string {
  const parts = [`${specs.cores} cores`, `${(specs.ramMiB / 1024).toFixed(1)} GiB RAM`];
  if (specs.gpus.length === 0) parts.push("no GPU");
  else {
    const counts = new Map<string, number>();
    for (const g of specs.gpus) {
      const key = `${g.name} (${Math.round(g.memoryMiB / 1024)} GiB)`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    for (const [key, n] of counts) parts.push(`${n}× ${key}`);
  }
  if (specs.bench !== undefined) parts.push(`bench ${specs.bench}`);
  return parts.join(", ");
}
