/** The demo's training steps: contributor processes, the rounds, finishing the job, the result. */
import { QuackError } from "../../../protocol/errors.js";
import { formatAmount } from "../../../protocol/chain/units.js";
import { finishJob } from "../job/finish.js";
import { aborted } from "../job/wait.js";
import { spawnCli, type CliChild } from "./processes.js";
import { followRounds } from "./setup.js";
import type { DemoContext, DemoResult } from "./types.js";

function need<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new QuackError("DEMO_ORDER", `The demo step needs ${what}, which an earlier step sets.`);
  return value;
}

/** Start one `quackmesh contribute --json` process per contributor and wait until the job is done. */
export async function trainStep(ctx: DemoContext): Promise<string> {
  const o = ctx.opts;
  const job = need(ctx.job, "the job");
  const chain = need(ctx.chain, "the chain");
  const server = need(ctx.server, "the orchestrator");
  followRounds(ctx);
  let lastProgress = Date.now();
  const progress = () => (lastProgress = Date.now());
  const offRound = server.app.events.on("round:closed", progress);
  ctx.onCleanup(offRound);

  for (const c of ctx.contributors) {
    const args = [
      "contribute", "--data", c.dir, "--job", String(job.jobId), "--rpc", chain.url, "--orchestrator", server.url, "--account", c.account,
      "--epochs", String(o.epochs), "--batch", String(o.batch), "--lr", String(o.lr), "--momentum", String(o.momentum), "--json",
    ];
    const child: CliChild = spawnCli(args, {
      name: c.name,
      env: ctx.childEnv,
      onStdout: (line) => {
        let update: Record<string, unknown>;
        try {
          update = JSON.parse(line) as Record<string, unknown>;
        } catch {
          ctx.emit({ event: "log", source: c.name, text: line });
          return;
        }
        progress();
        ctx.emit({ event: "contributor", name: c.name, address: c.address, update });
      },
      onStderr: (line) => ctx.emit({ event: "log", source: c.name, text: line }),
    });
    c.child = child;
    ctx.onCleanup(() => child.stop());
  }

  const children = ctx.contributors.map((c) => c.child!);
  const failures = children.map(async (child) => {
    const { code, signal } = await child.exited;
    if (code !== 0) {
      throw new QuackError("CONTRIBUTOR_FAILED", `${child.name} (pid ${child.pid}) exited with ${code === null ? `signal ${signal}` : `code ${code}`}.`, {
        fix: "Read its output above (or run with --json); rerun `quackmesh demo`.",
        details: { stderr: child.stderrTail() },
      });
    }
  });
  let timer: NodeJS.Timeout | undefined;
  const watchdog = new Promise<never>((_, reject) => {
    timer = setInterval(() => {
      if (o.signal?.aborted) reject(aborted(o.signal));
      else if (Date.now() - lastProgress > o.stallMs) {
        reject(new QuackError("DEMO_STALLED", `No progress for ${Math.round(o.stallMs / 1000)} s (rounds closed: ${ctx.rounds.length} of ${o.rounds}).`, {
          fix: "The machine may be overloaded; rerun with fewer --contributors, or read the contributors' output with --json.",
          details: Object.fromEntries(children.map((ch) => [ch.name, ch.stderrTail()])),
        }));
      }
    }, 250);
  });
  try {
    await Promise.race([Promise.all(failures), watchdog]);
  } finally {
    clearInterval(timer);
  }
  await need(ctx.evaluated, "the round follower")();
  const done = await need(ctx.client, "the orchestrator").getJob(job.jobId);
  if (done.status !== "finished") {
    throw new QuackError("DEMO_INCOMPLETE", `The contributors stopped but job ${job.jobId} is in round ${done.currentRound} (rounds 0–${done.rounds - 1}).`, {
      fix: "Read the contributors' output (--json) for refusals.",
    });
  }
  return `${ctx.rounds.length} rounds closed; final test accuracy ${((ctx.rounds.at(-1)?.testAccuracy ?? 0) * 100).toFixed(2)} %`;
}

export async function finishStep(ctx: DemoContext): Promise<string> {
  const job = need(ctx.job, "the job");
  const r = await finishJob({ client: need(ctx.client, "the orchestrator"), pool: need(ctx.pool, "TrainingPool") }, job.jobId);
  ctx.refund = r.refund;
  return `finishJob with the evaluator's proof: ${formatAmount(r.refund)} DUCK refunded to the requester (tx ${r.txHash})`;
}

export async function demoResult(ctx: DemoContext): Promise<DemoResult> {
  const duck = need(ctx.contracts, "the contracts").duck;
  const contributors = [];
  for (const c of ctx.contributors) {
    const after = (await duck.getFunction("balanceOf")(c.address)) as bigint;
    contributors.push({ address: c.address, paid: formatAmount(after - (c.duckBefore ?? 0n)) });
  }
  const rounds = [...ctx.rounds].sort((a, b) => a.round - b.round);
  return {
    rounds: rounds.map((r) => ({ round: r.round, testAccuracy: r.testAccuracy })),
    contributors,
    refund: formatAmount(ctx.refund ?? 0n),
    finalTestAccuracy: rounds.at(-1)?.testAccuracy ?? 0,
    wallSeconds: Math.round((Date.now() - ctx.started) / 100) / 10,
  };
}
