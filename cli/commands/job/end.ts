import { Command } from "commander";
import { OrchestratorClient } from "../../../orchestrator/client.js";
import { makeOutput } from "../../lib/output.js";
import { addChainOptions, openChain, type ChainOptions } from "../../lib/chain/options.js";
import { formatAmount } from "../../../protocol/chain/units.js";
import { parseJobId } from "../../lib/job/chainJob.js";
import { addOrchestratorOption, connectJob, orchestratorUrl, type OrchestratorFlags } from "../../lib/job/connect.js";
import { abortJob, cancelJob, exportModel, finishJob, type FinishedJob } from "../../lib/job/finish.js";
import { endJobRentals, type JobRentals } from "../../lib/job/rentals.js";
import { listRentals } from "../../lib/market/renter.js";
import { chainClock } from "../../lib/chain/clock.js";
import type { ChainContext } from "../../lib/chain/options.js";
import type { Contracts } from "../../../protocol/chain/contracts.js";
import type { Output } from "../../lib/output.js";

export function jobExportCommand(): Command {
  const cmd = new Command("export").argument("<id>", "job id").description("save the job's global model (the final one once finished) as safetensors");
  return addOrchestratorOption(cmd)
    .option("--out <file>", "where to write the safetensors file (default ./job-<id>-round-<r>.safetensors, r the round that produced the model; ./job-<id>-initial.safetensors before any)")
    .option("--json", "machine-readable output: one JSON object")
    .addHelpText(
      "after",
      `
Tensor names are PyTorch nn.Sequential's (0.weight, 0.bias, 2.weight, …), so in Python:
  model.load_state_dict(safetensors.torch.load_file("job-1-round-9.safetensors"))

Examples:
  $ quackmesh job export 1
  $ quackmesh job export 1 --out model.safetensors`,
    )
    .action(async (id: string, flags: OrchestratorFlags & { out?: string; json?: boolean }) => {
      const jobId = parseJobId(id);
      const out = makeOutput(Boolean(flags.json));
      const r = await exportModel(new OrchestratorClient(orchestratorUrl(flags)), jobId, flags.out);
      const made = r.round === null ? "the initial model" : `the model of round ${r.round}`;
      if (r.status !== "finished") out.info(`Job ${jobId} is still running; this is the current global model, ${made}.`);
      out.emit({ ...r }, `Wrote ${r.out} (${made}, ${r.bytes} bytes, model ${r.modelHash}): ${r.tensors.map((t) => `${t.name} [${t.shape.join("×")}]`).join(", ")}`);
    });
}

function emitFinished(out: Output, r: FinishedJob): void {
  out.emit(
    { ...r },
    `Job ${r.jobId} finished${r.how === "deadline" ? " after its deadline" : ""}: ${formatAmount(r.refund)} DUCK refunded to ${r.requester} (tx ${r.txHash}).`,
  );
}

/**
 * The job's rentals follow it: the requester's active rentals for the job are ended for the
 * refund of the unserved time, and whatever is still running is named. A wallet that is not the
 * requester ends nothing (it rented nothing for the job) and is told so when rentals run.
 */
async function settleRentals(out: Output, chain: ChainContext, contracts: Contracts, jobId: number, requester: string, keep: boolean, orchestrator?: string): Promise<void> {
  const mine = chain.signer.address.toLowerCase() === requester.toLowerCase();
  let r: JobRentals;
  if (keep || !mine) {
    const running = (await listRentals(contracts.marketplace, chain.provider, requester, contracts.deployment.block)).filter(
      (x) => x.jobId === BigInt(jobId) && (x.status === "active" || x.status === "pending"),
    );
    r = { ended: [], running: running.map((x) => ({ rentalId: String(x.rentalId), status: x.status, reason: keep ? "--keep-rentals" : `rented by ${requester}, not this wallet` })) };
  } else {
    r = await endJobRentals({ marketplace: contracts.marketplace, provider: chain.provider, renter: chain.signer.address, fromBlock: contracts.deployment.block, orchestrator }, jobId);
  }
  for (const e of r.ended) {
    const downtime = e.downtime ? { seconds: e.downtime.downtimeSeconds, refund: formatAmount(e.downtime.refund), fromStake: formatAmount(e.downtime.fromStake), txHash: e.downtime.txHash } : null;
    out.emit(
      { event: "rental-ended", jobId, ...e, downtime },
      `Ended rental ${e.rentalId} of job ${jobId}: ${formatAmount(e.refund)} DUCK refunded for the unserved time, ${formatAmount(e.earned)} earned by its provider (tx ${e.txHash}).` +
        (e.downtime ? ` Downtime ${e.downtime.downtimeSeconds} s settled: ${formatAmount(e.downtime.refund)} DUCK back.` : "") +
        (e.settleError ? ` Its downtime was not settled: ${e.settleError}.` : ""),
    );
  }
  if (r.running.length > 0) {
    out.emit(
      { event: "rentals-running", jobId, rentals: r.running },
      `Still running and charging for job ${jobId}: ${r.running.map((x) => `rental ${x.rentalId} (${x.status}: ${x.reason})`).join("; ")}. End them with \`quackmesh rent end ID\`.`,
    );
  }
}

export function jobFinishCommand(): Command {
  const cmd = new Command("finish").argument("<id>", "job id").description("close a job whose last round is done, refund the unspent pool to the requester and end the job's rentals");
  addChainOptions(cmd, { defaultAccount: "requester" });
  return addOrchestratorOption(cmd)
    .option("--keep-rentals", "leave the job's rented machines running (they are named)")
    .addHelpText(
      "after",
      "\nFetches the evaluator's JobFinished signature from the orchestrator and calls TrainingPool.finishJob;\nanyone may send it, the refund always goes to the requester. Then the requester's rentals for the\njob (job create --cluster) are ended for the refund of their unserved time.\nTo stop a job before its last round: `quackmesh job abort ID`.\n\nExamples:\n  $ quackmesh job finish 1\n  $ quackmesh job finish 1 --key ./requester.key --network duckchain --json",
    )
    .action(async (id: string, flags: ChainOptions & OrchestratorFlags & { keepRentals?: boolean }) => {
      const jobId = parseJobId(id);
      const out = makeOutput(Boolean(flags.json));
      const conn = await connectJob(flags, "requester");
      try {
        const clock = () => chainClock(conn.chain.provider, conn.chain.network.chainId);
        const r = await finishJob({ client: conn.client, pool: conn.contracts.trainingPool, clock }, jobId);
        emitFinished(out, r);
        await settleRentals(out, conn.chain, conn.contracts, jobId, r.requester, Boolean(flags.keepRentals), conn.client.baseUrl);
      } finally {
        conn.close();
      }
    });
}

export function jobAbortCommand(): Command {
  const cmd = new Command("abort").argument("<id>", "job id").description("requester only: stop a job after the round in progress, refund the rest of the pool now, end the job's rentals");
  addChainOptions(cmd, { defaultAccount: "requester" });
  return addOrchestratorOption(cmd)
    .option("--keep-rentals", "leave the job's rented machines running (they are named)")
    .addHelpText(
      "after",
      `
The orchestrator ends the job after the round in progress (at once when that round has no
accepted update yet) and signs that statement; TrainingPool.abortJob then refunds the free pool
but for one round budget per round still to be committed. Everything committed to contributors
stays claimable. Once the last kept round is committed, \`quackmesh job finish ID\` returns what
it did not use. A job that pays a flat part per update keeps its free pool until then.

Examples:
  $ quackmesh job abort 3
  $ quackmesh job abort 3 --key ./requester.key --json`,
    )
    .action(async (id: string, flags: ChainOptions & OrchestratorFlags & { keepRentals?: boolean }) => {
      const jobId = parseJobId(id);
      const out = makeOutput(Boolean(flags.json));
      const conn = await connectJob(flags, "requester");
      try {
        const r = await abortJob({ client: conn.client, pool: conn.contracts.trainingPool, signer: conn.chain.signer }, jobId);
        const last = r.rounds - 1;
        const ends = last < 0 ? "before round 0 (no round ran)" : `after round ${last} (rounds 0–${last})`;
        const rest = r.finished
          ? "Every kept round is committed: the job finished."
          : `${formatAmount(r.reserved)} DUCK stay for the round${r.rounds - 1 > 0 ? "s" : ""} still to be committed; what they do not pay comes back with \`quackmesh job finish ${jobId}\` once round ${last} is committed.`;
        out.emit({ event: "aborted", ...r }, `Job ${jobId} aborted: it ends ${ends}. ${formatAmount(r.refund)} DUCK refunded to ${r.requester} now (tx ${r.txHash}). ${rest}`);
        await settleRentals(out, conn.chain, conn.contracts, jobId, r.requester, Boolean(flags.keepRentals), conn.client.baseUrl);
      } finally {
        conn.close();
      }
    });
}

export function jobCancelCommand(): Command {
  const cmd = new Command("cancel").argument("<id>", "job id").description("requester only, after the deadline: take back what is left of the pool");
  return addChainOptions(cmd, { defaultAccount: "requester" })
    .addHelpText("after", "\nOn the local chain an empty block is mined first, so the chain's clock is the wall clock.\nBefore the deadline: `quackmesh job abort ID`.\n\nExamples:\n  $ quackmesh job cancel 1\n  $ quackmesh job cancel 1 --key ./requester.key --json")
    .action(async (id: string, flags: ChainOptions) => {
      const jobId = parseJobId(id);
      const out = makeOutput(Boolean(flags.json));
      const chain = await openChain(flags, { defaultAccount: "requester" });
      try {
        const contracts = await chain.contracts();
        const r = await cancelJob({ pool: contracts.trainingPool, signer: chain.signer, provider: chain.provider, chainId: chain.network.chainId }, jobId);
        emitFinished(out, r);
        await settleRentals(out, chain, contracts, jobId, r.requester, false);
      } finally {
        chain.close();
      }
    });
}
