import { Command } from "commander";
import { OrchestratorClient, type JobDetail, type JobSummary } from "../../../orchestrator/client.js";
import { isQuackError } from "../../../protocol/errors.js";
import { makeOutput } from "../../lib/output.js";
import { addChainOptions, type ChainOptions } from "../../lib/chain/options.js";
import { formatAmount } from "../../../protocol/chain/units.js";
import { parseJobId, readChainJob, type ChainJob } from "../../lib/job/chainJob.js";
import { addOrchestratorOption, connectJob, orchestratorUrl, type OrchestratorFlags } from "../../lib/job/connect.js";
import { quality, qualityThreshold } from "../../views/charts.js";
import { qualityName } from "../../../protocol/quality.js";
import { describeTraining } from "../../lib/job/params.js";

export function jobListCommand(): Command {
  const cmd = new Command("list").description("the jobs the orchestrator runs or ran, with what is left of each pool on chain");
  addChainOptions(cmd, { defaultAccount: "requester" });
  return addOrchestratorOption(cmd)
    .option("--mine", "only the jobs the wallet in use created (--account, --key or QUACKMESH_PRIVATE_KEY)")
    .addHelpText(
      "after",
      "\nRounds count from 0; `rounds done` is how many have closed. A job whose open round cannot close as\nthings stand shows `stalled` (`job status ID` says why and what to do). `pool left` is TrainingPool's remaining\nescrow (committed, unclaimed rewards included); without the chain it shows `?`.\n\nExamples:\n  $ quackmesh job list\n  $ quackmesh job list --mine --account requester\n  $ quackmesh job list --orchestrator http://10.0.0.5:8080 --json",
    )
    .action(async (flags: ChainOptions & OrchestratorFlags & { mine?: boolean }) => {
      const out = makeOutput(Boolean(flags.json));
      let client = new OrchestratorClient(orchestratorUrl(flags));
      let conn: Awaited<ReturnType<typeof connectJob>> | undefined;
      try {
        conn = await connectJob(flags, "requester");
        client = conn.client;
      } catch (err) {
        // --mine needs the wallet; the pool column only the chain.
        if (!isQuackError(err) || flags.mine) throw err;
        out.info(`Pool left not shown: ${err.message}`);
      }
      try {
        const me = conn?.chain.signer.address.toLowerCase();
        const all = await client.listJobs();
        const listed = flags.mine ? all.filter((j) => j.requester.toLowerCase() === me) : all;
        const jobs = await Promise.all(
          listed.map(async (j) => {
            const onChain = conn ? await readChainJob(conn.contracts.trainingPool, j.jobId).catch(() => null) : null;
            return { ...j, roundsDone: j.status === "finished" ? j.rounds : j.currentRound, poolLeft: onChain ? onChain.remaining : null, finishedOnChain: onChain?.finished ?? null };
          }),
        );
        const rows = jobs.map(
          (j) =>
            `${String(j.jobId).padStart(4)}  ${shownStatus(j).padEnd(8)}  ${`${j.roundsDone}/${j.rounds}`.padStart(11)}  ` +
            `${String(j.updates.accepted).padStart(8)}  ${String(j.updates.rejected).padStart(8)}  ${formatAmount(BigInt(j.chain.totalRewardPool)).padStart(10)}  ${(j.poolLeft === null ? "?" : formatAmount(j.poolLeft)).padStart(10)}  ${j.requester}`,
        );
        for (const j of jobs) if (j.progress?.state === "stalled") out.info(`job ${j.jobId} is stalled: ${j.progress.message}\n  fix: ${j.progress.fix}`);
        const none = flags.mine ? `No jobs of ${conn?.chain.signer.address} on ${client.baseUrl}.` : `No jobs on ${client.baseUrl} yet; create one with \`quackmesh job create\`.`;
        out.emit(
          { jobs },
          jobs.length === 0 ? none : ["  id  status    rounds done  accepted  rejected   pool DUCK   left DUCK  requester", ...rows].join("\n"),
        );
      } finally {
        conn?.close();
      }
    });
}

/** The status column: the orchestrator's stalled/waiting verdict where it has one. */
function shownStatus(j: JobSummary): string {
  return j.status === "active" && (j.progress?.state === "stalled" || j.progress?.state === "waiting") ? j.progress.state : j.status;
}

export function jobStatusCommand(): Command {
  const cmd = new Command("status").argument("<id>", "job id").description("a job's status: rounds with accuracy, updates, escrow left on chain");
  addChainOptions(cmd, { defaultAccount: "requester" });
  return addOrchestratorOption(cmd)
    .addHelpText(
      "after",
      "\nThe orchestrator's verdict on whether the job moves (--json: orchestrator.progress): `stalled` when its\nopen round cannot close as things stand (no updates, every update below the threshold, too few\naccepted at the deadline, or the pool spent), with the reason and the fix; `waiting` when updates\narrived but too few add to the model (the round closes at its deadline with what it has).\n\nExamples:\n  $ quackmesh job status 1\n  $ quackmesh job status 1 --json",
    )
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
  const metric = job ? qualityName(job.spec) : "accuracy";
  if (job) {
    lines.push(job.status === "finished" ? `  status      finished after round ${job.rounds - 1} (rounds 0–${job.rounds - 1})` : `  status      active, round ${job.currentRound} open (rounds 0–${job.rounds - 1})`);
    const p = job.progress;
    if (p && p.state !== "finished") lines.push(`  progress    ${p.state}${p.reason ? ` (${p.reason})` : ""}: ${p.message}`, ...(p.fix ? [`  fix         ${p.fix}`] : []));
    lines.push(`  updates     ${job.updates.accepted} accepted, ${job.updates.rejected} rejected`);
    lines.push(`  model       ${job.modelHash}`);
    const train = job.settings.train;
    if (train && Object.keys(train).length > 0) lines.push(`  training    ${describeTraining(train)} (a contributor's own flags win)`);
    for (const r of job.history) if (r.accuracy !== null) lines.push(`  round ${String(r.round).padStart(3)}   ${metric} ${quality(metric, r.accuracy)}  (${r.contributors.length} updates)`);
  }
  if (c) {
    lines.push(`  requester   ${c.requester}`, `  evaluator   ${c.evaluator}`);
    lines.push(`  pool        ${formatAmount(c.remaining)} of ${formatAmount(c.totalRewardPool)} DUCK left, up to ${formatAmount(c.roundBudget)} a round by contribution (${formatAmount(c.outstanding)} committed, unclaimed), threshold ${qualityThreshold(metric, c.accuracyThresholdBps)}`);
    lines.push(`  deadline    ${new Date(c.deadline * 1000).toISOString()}${c.finished ? " (finished on chain)" : ""}`);
  }
  return lines.join("\n");
}
