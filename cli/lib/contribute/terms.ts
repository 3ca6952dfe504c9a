/**
 * What a contributor checks on chain before spending any work: the job exists and runs, its
 * evaluator is the orchestrator we will send updates to (else the attestations would not pay),
 * there is reward left, and what the threshold and reward are.
 */
import type { Contract, Provider } from "ethers";
import type { OrchestratorClient } from "../../../orchestrator/client.js";
import { QuackError } from "../../../protocol/errors.js";
import { formatAmount } from "../../../protocol/chain/units.js";
import { readChainJob, type ChainJob } from "../job/chainJob.js";
import { faucetHint } from "../chain/wallet.js";

export interface JobTerms extends ChainJob {
  /** The evaluator the orchestrator signs with (equal to the job's). */
  orchestratorEvaluator: string;
  /** Seconds left until the deadline, by the chain's clock. */
  secondsLeft: number;
}

export async function checkJobTerms(deps: { pool: Contract; provider: Provider; client: OrchestratorClient; address: string }, jobId: number): Promise<JobTerms> {
  const [job, info, block, eth] = await Promise.all([
    readChainJob(deps.pool, jobId),
    deps.client.info(),
    deps.provider.getBlock("latest"),
    deps.provider.getBalance(deps.address),
  ]);
  if (eth === 0n) {
    throw new QuackError("NO_FUNDS", `${deps.address} holds no ETH to pay the gas of claiming rewards.`, {
      fix: `Fund it with a little ETH (on the local chain: \`${faucetHint(deps.address, 0n)}\`).`,
    });
  }
  const now = Number(block?.timestamp ?? Math.floor(Date.now() / 1000));
  if (job.finished) {
    throw new QuackError("JOB_ALREADY_FINISHED", `Job ${jobId} is finished on chain; it pays no more updates.`, { fix: "Pick a running job: `quackmesh job list`." });
  }
  if (now > job.deadline) {
    throw new QuackError("DEADLINE_PASSED", `Job ${jobId}'s deadline passed at ${new Date(job.deadline * 1000).toISOString()}; it pays no more updates.`, {
      fix: "Pick a running job: `quackmesh job list`.",
    });
  }
  if (info.evaluator.toLowerCase() !== job.evaluator.toLowerCase()) {
    throw new QuackError("WRONG_ORCHESTRATOR", `Job ${jobId} pays attestations of evaluator ${job.evaluator}, but the orchestrator at ${deps.client.baseUrl} signs as ${info.evaluator}: its attestations would not pay.`, {
      fix: "Point --orchestrator at the orchestrator that runs this job.",
    });
  }
  if (job.remaining === 0n) {
    throw new QuackError("POOL_EXHAUSTED", `Job ${jobId}'s reward pool of ${formatAmount(job.totalRewardPool)} DUCK is spent.`, { fix: "Pick another job: `quackmesh job list`." });
  }
  return { ...job, orchestratorEvaluator: info.evaluator, secondsLeft: job.deadline - now };
}
