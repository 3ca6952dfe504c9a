/**
 * Unsigned-upload memory check: a real orchestrator process gets N parallel uploads of S MB with
 * fake (well-formed, wrong) signature headers, to the update route (bodies kept in memory) and to
 * a draft's weights route (bodies streamed to disk). Prints the server's RSS before and after, its
 * peak RSS, how many bytes the server read before answering, and /healthz's answer time while the
 * uploads ran. A measurement, not a test:
 *
 *   npm run build:ts && node dist/scripts/upload-memory.js [--count 8] [--mb 200] [--json]
 */
import { request } from "node:http";
import { mkdtemp, readFile, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { Wallet } from "ethers";
import { startChild, stopChild } from "../orchestrator/testing/child.js";

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

/** VmRSS and VmHWM (peak) of a process in MiB, from /proc. */
async function memory(pid: number): Promise<{ rssMiB: number; peakMiB: number }> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const kib = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(status)?.[1] ?? NaN);
  return { rssMiB: Math.round(kib("VmRSS") / 1024), peakMiB: Math.round(kib("VmHWM") / 1024) };
}

/** Bytes the data dir holds (blobs, temp files, the store), recursively. */
async function folderBytes(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    total += entry.isDirectory() ? await folderBytes(p) : (await stat(p)).size;
  }
  return total;
}

/**
 * Send `bytes` of zeros in 1 MiB chunks as fast as the socket takes them; stop writing once the
 * server answers. Resolves with the status and how many bytes were written before the answer.
 */
function upload(url: string, method: string, path: string, bytes: number, headers: Record<string, string>): Promise<{ status: number; sentMiB: number }> {
  return new Promise((resolve) => {
    const chunk = Buffer.alloc(1024 * 1024);
    let sent = 0;
    let answered = false;
    const req = request(url + path, { method, headers: { ...headers, "content-length": String(bytes), "content-type": "application/octet-stream" } });
    const finish = (status: number) => {
      if (answered) return;
      answered = true;
      resolve({ status, sentMiB: Math.round(sent / (1024 * 1024)) });
      req.destroy();
    };
    req.on("response", (res) => {
      res.resume();
      finish(res.statusCode ?? 0);
    });
    req.on("error", () => finish(0));
    const pump = () => {
      while (!answered && sent < bytes) {
        const n = Math.min(chunk.length, bytes - sent);
        sent += n;
        if (!req.write(n === chunk.length ? chunk : chunk.subarray(0, n))) return void req.once("drain", pump);
      }
      if (!answered) req.end();
    };
    pump();
  });
}

async function healthzMs(url: string): Promise<number> {
  const t0 = performance.now();
  await fetch(url + "/healthz");
  return Math.round(performance.now() - t0);
}

const count = arg("count", 8);
const mb = arg("mb", 200);
const json = process.argv.includes("--json");
const dataDir = await mkdtemp(join(tmpdir(), "quackmesh-upload-memory-"));
const child = await startChild({ dataDir, trainingPool: Wallet.createRandom().address, limits: { uploadBytes: 256 * 1024 * 1024 } });
try {
  const pid = child.process.pid!;
  const fake = () => ({
    "x-quackmesh-address": Wallet.createRandom().address,
    "x-quackmesh-timestamp": String(Date.now()),
    "x-quackmesh-signature": "0x" + randomBytes(65).toString("hex"),
    "x-quackmesh-content-sha256": randomBytes(32).toString("hex"),
  });
  await healthzMs(child.url); // warm up
  const results: Record<string, unknown> = { count, mb };
  for (const [name, method, path] of [
    ["update", "POST", "/api/job/1/update?round=0&numSamples=1"],
    ["weights", "PUT", `/api/job/draft/${randomBytes(16).toString("hex")}/weights`],
  ] as const) {
    const before = await memory(pid);
    const diskBefore = await folderBytes(dataDir);
    const uploads = Promise.all(Array.from({ length: count }, () => upload(child.url, method, path, mb * 1024 * 1024, fake())));
    const probes: number[] = [];
    let done = false;
    void uploads.finally(() => (done = true));
    while (!done) {
      probes.push(await healthzMs(child.url));
      await new Promise((r) => setTimeout(r, 200));
    }
    const answers = await uploads;
    const after = await memory(pid);
    results[name] = {
      statuses: [...new Set(answers.map((a) => a.status))],
      sentMiBPerUpload: Math.max(...answers.map((a) => a.sentMiB)),
      rssBeforeMiB: before.rssMiB,
      rssAfterMiB: after.rssMiB,
      peakRssMiB: after.peakMiB,
      healthzMaxMs: Math.max(0, ...probes),
      dataDirGrowthMiB: Math.round(((await folderBytes(dataDir)) - diskBefore) / (1024 * 1024)),
    };
  }
  if (json) console.log(JSON.stringify(results));
  else {
    console.log(`${count} parallel ${mb} MB uploads with fake signature headers (orchestrator pid ${pid}):`);
    for (const name of ["update", "weights"]) {
      const r = results[name] as Record<string, unknown>;
      console.log(
        `  ${name.padEnd(8)} answers ${String(r.statuses)}; client had sent ≤ ${r.sentMiBPerUpload} MiB of each when answered; ` +
          `RSS ${r.rssBeforeMiB} → ${r.rssAfterMiB} MiB (peak ${r.peakRssMiB}); /healthz ≤ ${r.healthzMaxMs} ms; data dir +${r.dataDirGrowthMiB} MiB`,
      );
    }
  }
} finally {
  await stopChild(child);
  await rm(dataDir, { recursive: true, force: true });
}
