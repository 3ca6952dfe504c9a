import { Command } from "commander";
import { OrchestratorClient } from "../../../orchestrator/client.js";
import { makeOutput } from "../../lib/output.js";
import { addChainOptions, openChain, type ChainOptions } from "../../lib/chain/options.js";
import { formatAmount } from "../../../protocol/chain/units.js";
import { parseJobId } from "../../lib/job/chainJob.js";
import { addOrchestratorOption, connectJob, orchestratorUrl, type OrchestratorFlags } from "../../lib/job/connect.js";
import { EXPORT_FORMATS, abortJob, cancelJob, exportModel, finishJob, type ExportFormat, type FinishedJob } from "../../lib/job/finish.js";
import { QuackError } from "../../../protocol/errors.js";
import { endJobRentals, settleCommand, type JobRentals } from "../../lib/job/rentals.js";
import { listRentals } from "../../lib/market/renter.js";
import { chainClock } from "../../lib/chain/clock.js";
import type { ChainContext } from "../../lib/chain/options.js";
import type { Contracts } from "../../../protocol/chain/contracts.js";
import type { Output } from "../../lib/output.js";

/** `--format`: refused before anything is fetched or written. */
function parseExportFormat(text: string): ExportFormat {
  if ((EXPORT_FORMATS as readonly string[]).includes(text)) return text as ExportFormat;
  throw new QuackError("BAD_ARGUMENT", `--format '${text}' is not a model format job export writes.`, {
    fix: "Pass --format safetensors (PyTorch state dict, the default) or --format onnx (the whole network, for onnxruntime).",
  });
}

export function jobExportCommand(): Command {
  const cmd = new Command("export").argument("<id>", "job id").description("save the job's global model (the final one once finished) as safetensors or ONNX");
  return addOrchestratorOption(cmd)
    .option("--format <format>", `${EXPORT_FORMATS.join(" | ")}`, "safetensors")
    .option("--out <file>", "where to write the file (default ./job-<id>-round-<r>.<format>, r the round that produced the model; ./job-<id>-initial.<format> before any)")
    .option("--json", "machine-readable output: one JSON object (format, out, bytes, sha256, round, tensors)")
    .addHelpText(
      "after",
      `
safetensors: tensor names are PyTorch nn.Sequential's (0.weight, 0.bias, 2.weight, …), so in Python:
  model.load_state_dict(safetensors.torch.load_file("job-1-round-9.safetensors"))

onnx: the whole network (opset 13) as quackmesh infer runs it, for onnxruntime and other ONNX
runtimes. Input "input" [batch, ...the spec's input] takes raw features (the spec's normalize
is inside the graph); output "probabilities" [batch, classes] is the softmax of the logits,
or for a regression job ("loss":"mse") "outputs" [batch, outputs], the raw outputs (dropout is
left out: the identity at inference).
  sess = onnxruntime.InferenceSession("job-1-round-9.onnx"); sess.run(None, {"input": x})

Examples:
  $ quackmesh job export 1
  $ quackmesh job export 1 --out model.safetensors
  $ quackmesh job export 1 --format onnx --out model.onnx --json`,
    )
    .action(async (id: string, flags: OrchestratorFlags & { out?: string; json?: boolean; format: string }) => {
      const jobId = parseJobId(id);
      const format = parseExportFormat(flags.format);
      const out = makeOutput(Boolean(flags.json));
      const r = await exportModel(new OrchestratorClient(orchestratorUrl(flags)), jobId, flags.out, format);
      const made = r.round === null ? "the initial model" : `the model of round ${r.round}`;
      if (r.status !== "finished") out.info(`Job ${jobId} is still running; this is the current global model, ${made}.`);
      const what = r.format === "onnx" ? `ONNX, sha256 ${r.sha256}` : `model ${r.modelHash}`;
      out.emit({ ...r }, `Wrote ${r.out} (${made}, ${r.bytes} bytes, ${what}): ${r.tensors.map((t) => `${t.name} [${t.shape.join("×")}]`).join(", ")}`);
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
 * refund of the unserved time and their downtime settled with the arbiter's statement from
 * `orchestrator`; whatever is still running, or still to settle, is named with the command for it.
 * A wallet that is not the requester ends nothing (it rented nothing for the job) and is told so
 * when rentals run.
 */
async function settleRentals(out: Output, chain: ChainContext, contracts: Contracts, jobId: number, requester: string, keep: boolean, orchestrator: string): Promise<void> {
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
        (e.unsettled ? ` Its downtime was not settled: ${e.unsettled.reason.replace(/\.?$/, ".")}` : ""),
    );
  }
  const unsettled = r.ended.filter((e) => e.unsettled);
  if (unsettled.length > 0) {
    const ids = unsettled.map((e) => e.rentalId);
    const by = Math.min(...unsettled.map((e) => e.unsettled!.settleBy));
    const command = settleCommand(ids, orchestrator);
    const codes = [...new Set(unsettled.map((e) => e.unsettled!.code))].join(", ");
    out.emit(
      { event: "rentals-unsettled", jobId, rentals: unsettled.map((e) => ({ rentalId: e.rentalId, ...e.unsettled })), command },
      `Not settled: the downtime of rental${ids.length === 1 ? "" : "s"} ${ids.join(", ")} of job ${jobId} (${codes}); the end${ids.length === 1 ? "" : "s"} and refund${ids.length === 1 ? "" : "s"} above stand. ` +
        `Once the orchestrator answers, and before ${new Date(by * 1000).toISOString()} (the dispute window), settle ${ids.length === 1 ? "it" : "them"} with \`${command}\`.`,
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
  const cmd = new Command("cancel").argument("<id>", "job id").description("requester only, after the deadline: take back what is left of the pool and end the job's rentals");
  addChainOptions(cmd, { defaultAccount: "requester" });
  return addOrchestratorOption(cmd)
    .addHelpText(
      "after",
      `
On the local chain an empty block is mined first, so the chain's clock is the wall clock.
Needs no orchestrator: the requester's rentals for the job are ended for the refund of their
unserved time either way, and their downtime is settled with the orchestrator's statement when it
answers; when it does not, the rentals left to settle are named with the command that settles
them later (\`quackmesh rent settle ID --orchestrator URL\`, within the marketplace's dispute window).
Before the deadline: \`quackmesh job abort ID\`.

Examples:
  $ quackmesh job cancel 1
  $ quackmesh job cancel 1 --key ./requester.key --orchestrator http://10.0.0.5:8080 --json`,
    )
    .action(async (id: string, flags: ChainOptions & OrchestratorFlags) => {
      const jobId = parseJobId(id);
      const out = makeOutput(Boolean(flags.json));
      const chain = await openChain(flags, { defaultAccount: "requester" });
      try {
        const contracts = await chain.contracts();
        const r = await cancelJob({ pool: contracts.trainingPool, signer: chain.signer, provider: chain.provider, chainId: chain.network.chainId }, jobId);
        emitFinished(out, r);
        await settleRentals(out, chain, contracts, jobId, r.requester, false, orchestratorUrl(flags));
      } finally {
        chain.close();
      }
    });
}
