/**
 * Orchestrator load benchmark (not a test): node dist/scripts/bench-serve.js [--clients 50]
 * [--params 100000] [--validation 2000] [--duration 10] [--json]. Prints updates/s and latency.
 */
import { formatServeBench, runServeBench } from "../orchestrator/bench.js";

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

const json = process.argv.includes("--json");
const result = await runServeBench({
  clients: flag("clients", 50),
  params: flag("params", 100000),
  validation: flag("validation", 2000),
  durationSeconds: flag("duration", 10),
  onProgress: (p) => json || process.stderr.write(`${p.phase}: ${p.detail ?? ""}\n`),
});
process.stdout.write((json ? JSON.stringify(result) : formatServeBench(result)) + "\n");
