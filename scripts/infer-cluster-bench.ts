/**
 * Inference rows per second: the orchestrator's way (the model run in one process on the whole
 * input) against `infer --cluster`'s dispatch over 1 and N embedded SSH gateways on this machine
 * (`quackmesh worker --infer` per machine through its gateway, parts of --part-rows rows; the
 * chain, renting and settling left out: they cost the same few transactions whatever the size).
 * Each cluster figure is the whole dispatch (connect, model upload, worker start, parts) and its
 * parts phase alone (first part sent to last answer). Needs the built CLI (npm run build:ts).
 * Run: node --disable-warning=ExperimentalWarning --require ts-node/register/transpile-only \
 *        --loader ts-node/esm/transpile-only scripts/infer-cluster-bench.ts [--machines 3] [--rows 10000] [--part-rows 1000]
 * Prints one JSON object.
 */
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import ssh2 from "ssh2";
import { Network, deviceInfo } from "../native/index.js";
import { loadMnist } from "../native/data.js";
import { encodeSafetensors } from "../native/safetensors.js";
import type { ModelSpec } from "../native/types.js";
import { cliEntry } from "../cli/lib/demo/processes.js";
import { dispatchParts, type InferMachine } from "../orchestrator/inference/dispatch.js";
import { splitRows } from "../orchestrator/inference/parts.js";
import { SshGateway } from "../cli/lib/market/gateway.js";
import { generateSshKeyPair } from "../protocol/market/sshKeys.js";

const arg = (name: string, fallback: number) => (process.argv.includes(name) ? Number(process.argv[process.argv.indexOf(name) + 1]) : fallback);
const MACHINES = arg("--machines", 3);
const ROWS = arg("--rows", 10_000);
const PART_ROWS = arg("--part-rows", 1000);
const spec: ModelSpec = { input: [784], layers: [{ type: "dense", units: 128, activation: "relu" }, { type: "dense", units: 10 }], loss: "cross-entropy", normalize: { mean: 0.1307, std: 0.3081 } };

const dir = mkdtempSync(join(tmpdir(), "qm-infer-bench-"));
const gateways: SshGateway[] = [];
try {
  const test = await loadMnist("test");
  const x = test.x.subarray(0, ROWS * 784);
  const net = Network.create(spec, { seed: 1 });
  const safetensors = encodeSafetensors(net.weights());
  const sha256 = createHash("sha256").update(safetensors).digest("hex");

  // The orchestrator's way: one process, the whole input, as its inference service runs it.
  const served = Network.fromWeights(spec, net.weights());
  let started = performance.now();
  const whole = await served.predict(x, ROWS);
  const orchestratorMs = performance.now() - started;

  const pair = generateSshKeyPair();
  for (let i = 0; i < MACHINES; i++) {
    const g = await SshGateway.start({ hostKeyFile: join(dir, `host-${i}`), rentalsRoot: join(dir, `rentals-${i}`), workerEntry: cliEntry() });
    g.grant(BigInt(i + 1), pair.public);
    gateways.push(g);
  }
  const machine = (i: number): InferMachine => ({
    rentalId: String(i + 1),
    provider: "0x" + String(i + 1).padStart(40, "0"),
    pricePerHour: 1n,
    target: { host: gateways[i].host, port: gateways[i].port, username: "quackmesh", privateKey: pair.private, hostKeyFingerprint: gateways[i].hostKeyFingerprint },
  });

  async function cluster(n: number) {
    const parts = splitRows(ROWS, n, PART_ROWS);
    let firstSent = 0;
    let lastAnswer = 0;
    started = performance.now();
    const run = await dispatchParts(
      { machines: Array.from({ length: n }, (_, i) => machine(i)), parts, x, features: 784, model: { safetensors, spec, sha256 } },
      {
        onEvent: (e) => {
          if (e.event !== "part") return;
          const now = performance.now();
          if (!firstSent) firstSent = now - e.computeMs;
          lastAnswer = now;
        },
      },
    );
    const totalMs = performance.now() - started;
    if (run.failed.length || run.results.some((r) => !r)) throw new Error(`dispatch failed: ${JSON.stringify(run.failed)}`);
    const same = parts.every((p) => run.results[p.part]!.probabilities.every((v, j) => v === whole[p.from * 10 + j]));
    const perMachine = new Map<string, number>();
    for (const p of parts) perMachine.set(run.results[p.part]!.rentalId, (perMachine.get(run.results[p.part]!.rentalId) ?? 0) + p.count);
    return {
      machines: n,
      parts: parts.length,
      totalMs: Math.round(totalMs),
      rowsPerSecond: Math.round(ROWS / (totalMs / 1000)),
      partsPhaseMs: Math.round(lastAnswer - firstSent),
      partsPhaseRowsPerSecond: Math.round(ROWS / ((lastAnswer - firstSent) / 1000)),
      rowsPerMachine: [...perMachine.values()],
      identicalToOrchestrator: same,
    };
  }

  const one = await cluster(1);
  const many = await cluster(MACHINES);
  const info = deviceInfo();
  console.log(
    JSON.stringify({
      machine: { cpus: availableParallelism(), threads: info.threads, simd: info.simd },
      model: "MLP 784-128-10",
      rows: ROWS,
      partRows: PART_ROWS,
      orchestrator: { computeMs: Math.round(orchestratorMs), rowsPerSecond: Math.round(ROWS / (orchestratorMs / 1000)) },
      cluster1: one,
      [`cluster${MACHINES}`]: many,
    }),
  );
} finally {
  for (const g of gateways) await g.close();
  rmSync(dir, { recursive: true, force: true });
}
