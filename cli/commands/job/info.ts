import { Command } from "commander";
import { OrchestratorClient, type JobDetail } from "../../../orchestrator/client.js";
import { isQuackError } from "../../../protocol/errors.js";
import { makeOutput } from "../../lib/output.js";
import { addChainOptions, type ChainOptions } from "../../lib/chain/options.js";
import { formatAmount } from "../../../protocol/chain/units.js";
import { parseJobId, readChainJob, type ChainJob } from "../../lib/job/chainJob.js";
import { addOrchestratorOption, connectJob, orchestratorUrl, type OrchestratorFlags } from "../../lib/job/connect.js";
import { percent } from "../../views/charts.js";

export function jobListCommand(): Command {
  const cmd = new Command("list").description("the jobs the orchestrator runs or ran").option("--json", "machine-readable output: one JSON object");
  return addOrchestratorOption(cmd)
    .addHelpText("after", "\nExamples:\n  $ quackmesh job list\n  $ quackmesh job list --orchestrator http://10.0.0.5:8080 --json")
    .action(async (flags: OrchestratorFlags & { json?: boolean }) => {
      const out = makeOutput(Boolean(flags.json));
      const client = new OrchestratorClient(orchestratorUrl(flags));
      const jobs = await client.listJobs();
      const rows = jobs.map(
        (j) =>
          `${String(j.jobId).padStart(4)}  ${j.status.padEnd(8)}  ${`${j.status === "finished" ? j.rounds : j.currentRound + 1}/${j.rounds}`.padEnd(7)}  ` +
          `${String(j.updates.accepted).padStart(8)}  ${String(j.updates.rejected).padStart(8)}  ${formatAmount(BigInt(j.chain.totalRewardPool)).padStart(10)}  ${j.requester}`,
      );
      out.emit(
        { jobs },
        jobs.length === 0
          ? `No jobs on ${client.baseUrl} yet; create one with \`quackmesh job create\`.`
          : ["  id  status    round    accepted  rejected   pool DUCK  requester", ...rows].join("\n"),
      );
    });
}

export function jobStatusCommand(): Command {
  const cmd = new Command("status").argument("<id>", "job id").description("a job's status: rounds with accuracy, updates, escrow left on chain");
  addChainOptions(cmd, { defaultAccount: "requester" });
  return addOrchestratorOption(cmd)
    .addHelpText("after", "\nExamples:\n  $ quackmesh job status 1\n  $ quackmesh job status 1 --json")
    .action(async (id: string, flags: ChainOptions & OrchestratorFlags) => {
      const jobId = parseJobId(id);
      const out = makeOutput(Boolean(flags.json));
      let onChain: ChainJob | null = null;
      let client = new OrchestratorClient(orchestratorUrl(flags));
      try {
        const conn = await connectJob(flags, "requester");
        try {
          client = conn.client;
          onChain = await readChainJob(conn.contracts.trainingPool, jobId);
        } finally {
          conn.close();
        }
      } catch (err) {
        if (!isQuackError(err)) throw err;
        out.info(`On-chain state not shown: ${err.message}`);
      }
      let job: JobDetail | null = null;
      try {
        job = await client.getJob(jobId);
      } catch (err) {
        if (!isQuackError(err) || err.code !== "JOB_NOT_FOUND" || !onChain) throw err;
        out.info(`The orchestrator at ${client.baseUrl} does not run job ${jobId}.`);
      }
      out.emit({ jobId, orchestrator: job, chain: onChain }, describe(jobId, job, onChain));
    });
}

function describe(jobId: number, job: JobDetail | null, c: ChainJob | null): string {
  const lines = [`Job ${jobId}`];
  if (job) {
    lines.push(`  status      ${job.status}, round ${job.status === "finished" ? job.rounds : job.currentRound + 1} of ${job.rounds}`);
    lines.push(`  updates     ${job.updates.accepted} accepted, ${job.updates.rejected} rejected`);
    lines.push(`  model       ${job.modelHash}`);
    for (const r of job.history) if (r.accuracy !== null) lines.push(`  round ${String(r.round).padStart(3)}   accuracy ${percent(r.accuracy)}  (${r.contributors.length} updates)`);
  }
  if (c) {
    lines.push(`  requester   ${c.requester}`, `  evaluator   ${c.evaluator}`);
    lines.push(`  pool        ${formatAmount(c.remaining)} of ${formatAmount(c.totalRewardPool)} DUCK left, up to ${formatAmount(c.roundBudget)} a round by contribution (${formatAmount(c.outstanding)} committed, unclaimed), threshold ${c.accuracyThresholdBps / 100} %`);
    lines.push(`  deadline    ${new Date(c.deadline * 1000).toISOString()}${c.finished ? " (finished on chain)" : ""}`);
  }
  return lines.join("\n");
}
