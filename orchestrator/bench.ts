/**
 * Load benchmark of the update path against a real listening orchestrator (its own process):
 * N concurrent clients, each update signed by a fresh wallet, of a ~P-parameter model,
 * evaluated on a V-sample MNIST validation set, stored durably and attested.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Wallet } from "ethers";
import { Network } from "../native/index.js";
import { decodeSafetensors, encodeSafetensors, sha256Hex } from "../native/safetensors.js";
import type { ModelSpec } from "../native/types.js";
import { makeRng } from "../native/data.js";
import { QuackError } from "../protocol/errors.js";
import { OrchestratorClient } from "./client.js";
import { killHard, startChild, stopChild } from "./testing/child.js";
import { mnistIdxPair } from "./testing/fixtures.js";
import type { ChainEventRecord } from "./store/repository.js";

export interface ServeBenchOptions {
  clients: number;
  params: number;
  validation: number;
  durationSeconds: number;
  warmupSeconds?: number;
  /** postgres:// URL of an empty scratch database to store in (else SQLite in a temp data dir). */
  database?: string;
  /** Orchestrator processes sharing that database and one data dir, clients spread over them (needs `database`). */
  instances?: number;
  onProgress?: (p: { phase: string; detail?: string }) => void;
}

export interface PhaseResult {
  accepted: number;
  /** CPU time (user + system) the orchestrator process spent per accepted update, where /proc exists. */
  serverCpuMsPerUpdate: number | null;
  failed: Record<string, number>;
  updatesPerSecond: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number; mean: number };
}

export interface ServeBenchResult {
  clients: number;
  params: number;
  validation: number;
  durationSeconds: number;
  updateBytes: number;
  /** `sqlite` or `postgres`, and how many orchestrator processes shared it. */
  store: string;
  instances: number;
  /** Every client sending back to back: the most the server answers per second. */
  capacity: PhaseResult;
  /** Every client sending one update per second: latency at that offered load. */
  paced: PhaseResult;
}

/** 784-H-10 with H chosen so the parameter count is closest to `params`. */
export function specFor(params: number): ModelSpec {
  const hidden = Math.max(1, Math.round((params - 10) / 795));
  return { input: [784], layers: [{ type: "dense", units: hidden, activation: "relu" }, { type: "dense", units: 10, activation: "none" }], loss: "cross-entropy" };
}

/** User + system CPU milliseconds of a process, from /proc (Linux); null elsewhere. */
async function cpuMs(pid: number | undefined): Promise<number | null> {
  if (pid === undefined) return null;
  try {
    const fields = (await readFile(`/proc/${pid}/stat`, "utf8")).split(") ")[1].split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // clock ticks: 100 per second on Linux
  } catch {
    return null;
  }
}

/** CPU milliseconds of all the orchestrator processes together; null when one cannot be read. */
async function cpuOf(pids: Array<number | undefined>): Promise<number | null> {
  const each = await Promise.all(pids.map(cpuMs));
  return each.some((v) => v === null) ? null : each.reduce((a: number, b) => a + (b ?? 0), 0);
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/**
 * One measured phase: every client loops until the time is up, each update signed by a fresh
 * wallet; paced clients start their sends at a fixed rate (random phase), else back to back.
 */
async function phase(p: { urls: string[]; pids: Array<number | undefined>; bodies: Buffer[]; wallet: () => Wallet; seconds: number; perClientPerSecond?: number }): Promise<PhaseResult> {
  const cpuBefore = await cpuOf(p.pids);
  const latencies: number[] = [];
  const failed: Record<string, number> = {};
  const start = performance.now();
  const end = start + p.seconds * 1000;
  await Promise.all(
    p.bodies.map(async (body, c) => {
      const url = p.urls[c % p.urls.length];
      const interval = p.perClientPerSecond ? 1000 / p.perClientPerSecond : 0;
      let due = start + Math.random() * interval;
      for (;;) {
        if (interval) {
          const wait = due - performance.now();
          if (wait > 0) await new Promise((r) => setTimeout(r, wait));
          due += interval;
        }
        const t0 = performance.now();
        if (t0 >= end) return;
        try {
          await new OrchestratorClient(url, { signer: p.wallet() }).submitUpdate(1, 0, 100, body);
          if (performance.now() <= end) latencies.push(performance.now() - t0);
        } catch (err) {
          const code = err instanceof QuackError ? err.code : "CLIENT_ERROR";
          failed[code] = (failed[code] ?? 0) + 1;
        }
      }
    }),
  );
  const cpuAfter = await cpuOf(p.pids);
  latencies.sort((a, b) => a - b);
  const round = (v: number) => Math.round(v * 10) / 10;
  return {
    accepted: latencies.length,
    serverCpuMsPerUpdate: cpuBefore !== null && cpuAfter !== null && latencies.length > 0 ? round((cpuAfter - cpuBefore) / latencies.length) : null,
    failed,
    updatesPerSecond: round(latencies.length / p.seconds),
    latencyMs: {
      p50: round(percentile(latencies, 50)),
      p90: round(percentile(latencies, 90)),
      p99: round(percentile(latencies, 99)),
      max: round(latencies[latencies.length - 1] ?? NaN),
      mean: round(latencies.reduce((a, b) => a + b, 0) / Math.max(1, latencies.length)),
    },
  };
}

export async function runServeBench(o: ServeBenchOptions): Promise<ServeBenchResult> {
  for (const [name, v, min] of [["clients", o.clients, 1], ["params", o.params, 805], ["validation", o.validation, 1], ["duration", o.durationSeconds, 1]] as const) {
    if (!Number.isSafeInteger(v) || v < min) throw new QuackError("BAD_ARGUMENT", `--${name} ${v} is not a whole number ≥ ${min}.`, { fix: `Pass --${name} ${min} or more.` });
  }
  if (o.validation > 10000) throw new QuackError("BAD_ARGUMENT", `--validation ${o.validation} exceeds the 10,000 MNIST test samples.`, { fix: "Pass --validation 10000 or less." });
  const progress = o.onProgress ?? (() => {});
  const warmupSeconds = o.warmupSeconds ?? 2;
  const instances = o.instances ?? 1;
  if (!Number.isSafeInteger(instances) || instances < 1) throw new QuackError("BAD_ARGUMENT", `--instances ${o.instances} is not a whole number ≥ 1.`, { fix: "Pass --instances 1 or more." });
  if (instances > 1 && !o.database) throw new QuackError("MISSING_OPTION", "Several orchestrator instances need a shared database.", { fix: "Pass --database postgres://… (an empty scratch database) with --instances." });
  const spec = specFor(o.params);
  const initial = encodeSafetensors(Network.create(spec, { seed: 1 }).weights(), { format: "pt" });
  const params = decodeSafetensors(initial).tensors.reduce((n, x) => n + x.data.length, 0);
  const requester = new Wallet("0x" + randomBytes(32).toString("hex"));
  const dataDir = await mkdtemp(join(tmpdir(), "quackmesh-bench-serve-"));
  // Instances sharing a store share the evaluator key, as an operator's would.
  const config = {
    dataDir, trainingPool: "0x" + "11".repeat(20), limits: { rate: { capacity: 1000, refillPerSecond: 1000 } },
    database: o.database, evaluatorKey: "0x" + randomBytes(32).toString("hex"),
  };
  const store = o.database ? "postgres" : "sqlite";
  progress({ phase: "start", detail: `${instances} orchestrator process(es) on ${store}, data in ${dataDir}` });
  let child = await startChild(config);
  const more: Awaited<ReturnType<typeof startChild>>[] = [];
  try {
    // Activation as the chain listener would store it: a TrainingJobCreated naming our evaluator.
    const announce: ChainEventRecord = {
      txHash: "0x" + "ee".repeat(32), logIndex: 0, blockNumber: 1, source: "TrainingPool", name: "TrainingJobCreated",
      args: {
        jobId: "1", requester: requester.address, modelHash: sha256Hex(initial), evaluator: child.evaluator, totalRewardPool: "1", roundBudget: "1", maxPerContributor: "1", flatPerUpdate: "0", claimWindow: "0",
        rounds: "1", accuracyThresholdBps: "0", deadline: String(Math.floor(Date.now() / 1000) + 86400),
      },
    };
    await killHard(child);
    child = await startChild({ ...config, announce });
    const client = new OrchestratorClient(child.url, { signer: requester });
    const draft = await client.createJob({ spec, settings: { minUpdates: 100000, roundDeadlineSeconds: 86400 } });
    await client.uploadWeights(draft.draftId, initial);
    const { images, labels } = await mnistIdxPair("test", o.validation);
    const ready = await client.uploadValidation(draft.draftId, { images, labels });
    if (ready.jobId !== 1) throw new Error(`the benchmark job did not activate (draft ${ready.status}); --database must be an empty scratch database`);
    for (let i = 1; i < instances; i++) more.push(await startChild(config));
    const all = [child, ...more];
    const urls = all.map((c) => c.url);
    const pids = all.map((c) => c.process.pid);

    progress({ phase: "prepare", detail: `${o.clients} update bodies of ${params} parameters, wallets` });
    const base = decodeSafetensors(initial).tensors;
    const bodies = Array.from({ length: o.clients }, (_, c) => {
      const rng = makeRng(c + 1);
      return encodeSafetensors(base.map((x) => ({ ...x, data: x.data.map((v) => v + (rng() - 0.5) * 0.01) })));
    });
    // Fresh contributors for every update (one update per contributor and round), made ahead.
    const wallets: Wallet[] = [];
    const need = () => wallets.pop() ?? new Wallet("0x" + randomBytes(32).toString("hex"));
    for (let i = 0; i < o.clients * 4 * (o.durationSeconds * 2 + warmupSeconds); i++) wallets.push(new Wallet("0x" + randomBytes(32).toString("hex")));

    const next = () => need();
    progress({ phase: "capacity", detail: `${warmupSeconds} s warm-up, then ${o.durationSeconds} s with every client sending back to back` });
    await phase({ urls, pids, bodies, wallet: next, seconds: warmupSeconds });
    const capacity = await phase({ urls, pids, bodies, wallet: next, seconds: o.durationSeconds });
    progress({ phase: "paced", detail: `${o.durationSeconds} s with each client sending one update per second (${o.clients} updates/s offered)` });
    const paced = await phase({ urls, pids, bodies, wallet: next, seconds: o.durationSeconds, perClientPerSecond: 1 });
    return { clients: o.clients, params, validation: o.validation, durationSeconds: o.durationSeconds, updateBytes: bodies[0].length, store, instances, capacity, paced };
  } finally {
    for (const c of more) await stopChild(c);
    await stopChild(child);
    await rm(dataDir, { recursive: true, force: true });
  }
}

/** The figures as text, for people. */
export function formatServeBench(r: ServeBenchResult): string {
  const line = (name: string, p: PhaseResult) =>
    `  ${name.padEnd(9)} ${String(p.updatesPerSecond).padStart(6)} updates/s (${p.accepted} accepted${p.serverCpuMsPerUpdate === null ? "" : `, server CPU ${p.serverCpuMsPerUpdate} ms each`}) · latency p50 ${p.latencyMs.p50} ms · p90 ${p.latencyMs.p90} ms · p99 ${p.latencyMs.p99} ms · max ${p.latencyMs.max} ms` +
    (Object.keys(p.failed).length ? ` · failed ${JSON.stringify(p.failed)}` : "");
  return (
    `${r.store}, ${r.instances} orchestrator${r.instances === 1 ? "" : "s"} · ${r.clients} clients · ${r.params} parameters (${Math.round(r.updateBytes / 1024)} KiB updates) · ${r.validation} validation samples · ${r.durationSeconds} s per phase\n` +
    line("capacity", r.capacity) +
    "\n" +
    line("paced", r.paced) +
    `   (each client 1 update/s)`
  );
}

export interface SoakOptions {
  clients: number;
  params: number;
  validation: number;
  durationSeconds: number;
  /** Seconds before the start RSS is taken (allocator and caches settle). */
  warmupSeconds?: number;
  /** Round deadline: rounds of noise-perturbed updates close at their deadline. */
  roundSeconds?: number;
  onProgress?: (p: { phase: string; detail?: string }) => void;
}

export interface SoakResult {
  clients: number;
  params: number;
  validation: number;
  durationSeconds: number;
  warmupSeconds: number;
  updateBytes: number;
  accepted: number;
  /** Updates that arrived after their round closed (a normal race, not an error). */
  late: number;
  /** Everything else that failed, by code. */
  errors: Record<string, number>;
  roundsClosed: number;
  latencyMs: { p50: number; p99: number; max: number };
  /** Orchestrator RSS in MiB: after the warm-up, at the end, the most seen, and the growth in between. */
  rss: { startMiB: number; endMiB: number; maxMiB: number; growthPercent: number };
}

async function rssMiB(pid: number | undefined): Promise<number> {
  if (pid === undefined) return NaN;
  const status = await readFile(`/proc/${pid}/status`, "utf8").catch(() => "");
  return Math.round(Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN) / 1024);
}

/**
 * Soak: `clients` contributors, each with its own wallet, follow a many-round job for
 * `durationSeconds`: fetch the round's model, send one signed update built from it (the model
 * plus small noise), wait for the next round. Rounds close at their deadline. Reports errors,
 * latency of accepted updates, and the orchestrator's RSS after the warm-up and at the end.
 */
export async function runSoak(o: SoakOptions): Promise<SoakResult> {
  for (const [name, v, min] of [["clients", o.clients, 1], ["params", o.params, 805], ["validation", o.validation, 1], ["duration", o.durationSeconds, 1]] as const) {
    if (!Number.isSafeInteger(v) || v < min) throw new QuackError("BAD_ARGUMENT", `--${name} ${v} is not a whole number ≥ ${min}.`, { fix: `Pass --${name} ${min} or more.` });
  }
  if (o.validation > 10000) throw new QuackError("BAD_ARGUMENT", `--validation ${o.validation} exceeds the 10,000 MNIST test samples.`, { fix: "Pass --validation 10000 or less." });
  const progress = o.onProgress ?? (() => {});
  const warmupSeconds = o.warmupSeconds ?? Math.min(20, Math.ceil(o.durationSeconds / 6));
  const roundSeconds = o.roundSeconds ?? 10;
  const spec = specFor(o.params);
  const initial = encodeSafetensors(Network.create(spec, { seed: 1 }).weights(), { format: "pt" });
  const requester = new Wallet("0x" + randomBytes(32).toString("hex"));
  const dataDir = await mkdtemp(join(tmpdir(), "quackmesh-soak-"));
  const config = { dataDir, trainingPool: "0x" + "11".repeat(20), limits: { rate: { capacity: 1000, refillPerSecond: 1000 } } };
  progress({ phase: "start", detail: `orchestrator in its own process, data in ${dataDir}` });
  let child = await startChild(config);
  try {
    const announce: ChainEventRecord = {
      txHash: "0x" + "ef".repeat(32), logIndex: 0, blockNumber: 1, source: "TrainingPool", name: "TrainingJobCreated",
      args: {
        jobId: "1", requester: requester.address, modelHash: sha256Hex(initial), evaluator: child.evaluator, totalRewardPool: "1000000", roundBudget: "1000", maxPerContributor: "10", flatPerUpdate: "0", claimWindow: "0",
        rounds: "100000", accuracyThresholdBps: "0", deadline: String(Math.floor(Date.now() / 1000) + 86400),
      },
    };
    await killHard(child);
    child = await startChild({ ...config, announce });
    const pid = child.process.pid;
    const url = child.url;
    const client = new OrchestratorClient(url, { signer: requester });
    // Noise-perturbed updates add nothing, so no round closes on useful updates: each closes at its deadline.
    const draft = await client.createJob({ spec, settings: { minUpdates: 100000, minUpdatesAtDeadline: 1, roundDeadlineSeconds: roundSeconds } });
    await client.uploadWeights(draft.draftId, initial);
    const { images, labels } = await mnistIdxPair("test", o.validation);
    const ready = await client.uploadValidation(draft.draftId, { images, labels });
    if (ready.jobId !== 1) throw new Error(`the soak job did not activate (draft ${ready.status})`);

    const wallets = Array.from({ length: o.clients }, () => new Wallet("0x" + randomBytes(32).toString("hex")));
    const latencies: number[] = [];
    const errors: Record<string, number> = {};
    let late = 0;
    const fail = (err: unknown) => {
      const code = err instanceof QuackError ? err.code : "CLIENT_ERROR";
      errors[code] = (errors[code] ?? 0) + 1;
    };
    const start = performance.now();
    const warmEnd = start + warmupSeconds * 1000;
    const end = warmEnd + o.durationSeconds * 1000;
    const samples: number[] = [];
    let startRss = NaN;
    const sampler = (async () => {
      while (performance.now() < end) {
        await new Promise((r) => setTimeout(r, 2000));
        const v = await rssMiB(pid);
        if (performance.now() >= warmEnd) {
          if (Number.isNaN(startRss)) startRss = v;
          samples.push(v);
        }
      }
    })();
    progress({ phase: "soak", detail: `${o.clients} contributors for ${warmupSeconds} s warm-up + ${o.durationSeconds} s, rounds close every ${roundSeconds} s` });
    let updateBytes = 0;
    await Promise.all(
      wallets.map(async (wallet, c) => {
        const contributor = new OrchestratorClient(url, { signer: wallet, timeoutMs: 120_000 });
        const rng = makeRng(c + 1);
        let done = -1;
        while (performance.now() < end) {
          let model;
          try {
            model = await contributor.getModel(1);
          } catch (err) {
            fail(err);
            await new Promise((r) => setTimeout(r, 500));
            continue;
          }
          if (model.notModified || model.round === done) {
            await new Promise((r) => setTimeout(r, 200 + rng() * 300));
            continue;
          }
          const body = encodeSafetensors(decodeSafetensors(model.bytes).tensors.map((x) => ({ ...x, data: x.data.map((v) => v + (rng() - 0.5) * 0.01) })));
          updateBytes = body.length;
          const t0 = performance.now();
          try {
            await contributor.submitUpdate(1, model.round, 100, body);
            if (t0 >= warmEnd && performance.now() <= end) latencies.push(performance.now() - t0);
          } catch (err) {
            if (err instanceof QuackError && err.code === "ROUND_CLOSED") late++;
            else if (t0 >= warmEnd) fail(err);
          }
          done = model.round;
        }
      }),
    );
    await sampler;
    const job = await client.getJob(1);
    latencies.sort((a, b) => a - b);
    const round = (v: number) => Math.round(v * 10) / 10;
    const endRss = samples[samples.length - 1] ?? (await rssMiB(pid));
    return {
      clients: o.clients,
      params: decodeSafetensors(initial).tensors.reduce((n, x) => n + x.data.length, 0),
      validation: o.validation,
      durationSeconds: o.durationSeconds,
      warmupSeconds,
      updateBytes,
      accepted: latencies.length,
      late,
      errors,
      roundsClosed: job.currentRound,
      latencyMs: { p50: round(percentile(latencies, 50)), p99: round(percentile(latencies, 99)), max: round(latencies[latencies.length - 1] ?? NaN) },
      rss: { startMiB: startRss, endMiB: endRss, maxMiB: Math.max(...samples), growthPercent: round(((endRss - startRss) / startRss) * 100) },
    };
  } finally {
    await stopChild(child);
    await rm(dataDir, { recursive: true, force: true });
  }
}

/** The soak figures as text, for people. */
export function formatSoak(r: SoakResult): string {
  const errors = Object.keys(r.errors).length ? JSON.stringify(r.errors) : "0";
  return (
    `soak: ${r.clients} contributors · ${r.params} parameters (${Math.round(r.updateBytes / 1024)} KiB updates) · ${r.validation} validation samples · ${r.warmupSeconds} s warm-up + ${r.durationSeconds} s\n` +
    `  accepted ${r.accepted} (${Math.round((r.accepted / r.durationSeconds) * 10) / 10}/s) · rounds closed ${r.roundsClosed} · late (round closed) ${r.late} · errors ${errors}\n` +
    `  latency p50 ${r.latencyMs.p50} ms · p99 ${r.latencyMs.p99} ms · max ${r.latencyMs.max} ms\n` +
    `  orchestrator RSS ${r.rss.startMiB} MiB after warm-up → ${r.rss.endMiB} MiB at the end (${r.rss.growthPercent >= 0 ? "+" : ""}${r.rss.growthPercent} %, max ${r.rss.maxMiB} MiB)`
  );
}
