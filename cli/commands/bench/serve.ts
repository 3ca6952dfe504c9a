import { Command } from "commander";
import { QuackError } from "../../../protocol/errors.js";
import { makeOutput } from "../../lib/output.js";
import { formatServeBench, formatSoak, runServeBench, runSoak } from "../../../orchestrator/index.js";

function count(text: string, what: string): number {
  const n = /^\d+$/.test(text.trim()) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n) || n < 1) throw new QuackError("BAD_ARGUMENT", `${what} '${text}' is not a positive whole number.`, { fix: `Pass ${what} as digits, e.g. ${what} 10.` });
  return n;
}

/** `quackmesh bench serve`: N signed clients against a real orchestrator; updates/s and latency. */
export function benchServeCommand(): Command {
  return new Command("serve")
    .description("load-test the orchestrator's update path: signed clients, evaluation, durable storage, attestations")
    .option("--clients <n>", "concurrent clients (default 50; 200 with --soak)")
    .option("--params <n>", "model size in parameters (784-H-10 MLP)", "100000")
    .option("--validation <n>", "MNIST validation samples each update is evaluated on", "2000")
    .option("--duration <s>", "measured seconds of each phase after a 2 s warm-up (default 10); with --soak the soak's length (default 120)")
    .option("--soak", "soak: every client a contributor with its own wallet following a many-round job (one update per round, rounds closing every 10 s); errors, latency and the orchestrator's RSS after warm-up and at the end")
    .option("--database <url>", "postgres:// URL of an empty scratch database to store in (default SQLite in the temp data dir)")
    .option("--instances <n>", "orchestrator processes sharing --database, clients spread over them", "1")
    .option("--json", "one JSON object with the figures")
    .addHelpText(
      "after",
      `
Starts an orchestrator on a temp data dir in its own process (127.0.0.1, free port), activates a
job, and has every client send updates, each signed by a fresh wallet, as fast as answers come.
Two measured phases: "capacity" (every client sends back to back: the most updates per second
the server answers) and "paced" (every client sends one update per second: latency at that
offered load, e.g. 50 updates/s for 50 clients).

With --database the orchestrators store in PostgreSQL (give an empty database: the benchmark's
job is job 1 there); --instances N starts N of them on it, sharing one data dir and evaluator key.

With --soak: every client follows the job as a contributor would (fetch the round's model, send
one signed update built from it, wait for the next round) for --duration seconds after a warm-up;
prints errors, p50/p99 latency and the orchestrator's RSS after the warm-up and at the end.

Examples:
  $ quackmesh bench serve --clients 50 --params 100000 --validation 2000 --duration 10
  $ quackmesh bench serve --soak                       # 200 contributors for 120 s
  $ quackmesh bench serve --soak --clients 20 --duration 30 --json
  $ quackmesh bench serve --database postgres://postgres@127.0.0.1:5432/bench --instances 2`,
    )
    .action(async (opts: { clients?: string; params: string; validation: string; duration?: string; soak?: boolean; database?: string; instances: string; json?: boolean }) => {
      const out = makeOutput(Boolean(opts.json));
      if (opts.soak) {
        const r = await runSoak({
          clients: count(opts.clients ?? "200", "--clients"),
          params: count(opts.params, "--params"),
          validation: count(opts.validation, "--validation"),
          durationSeconds: count(opts.duration ?? "120", "--duration"),
          onProgress: (p) => out.info(`${p.phase}: ${p.detail ?? ""}`),
        });
        out.emit({ event: "bench-soak", ...r }, formatSoak(r));
        return;
      }
      const r = await runServeBench({
        clients: count(opts.clients ?? "50", "--clients"),
        params: count(opts.params, "--params"),
        validation: count(opts.validation, "--validation"),
        durationSeconds: count(opts.duration ?? "10", "--duration"),
        database: opts.database,
        instances: count(opts.instances, "--instances"),
        onProgress: (p) => out.info(`${p.phase}: ${p.detail ?? ""}`),
      });
      out.emit({ event: "bench-serve", ...r }, formatServeBench(r));
    });
}
