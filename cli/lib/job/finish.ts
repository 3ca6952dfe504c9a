/**
 * The end of a job: finish it with the evaluator's proof (anyone may send it; the refund goes
 * to the requester), cancel it after the deadline (requester only), export the final model.
 */
import { mkdir, rename, writeFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import type { Contract, Provider, Wallet } from "ethers";
import { decodeSafetensors } from "../../../native/safetensors.js";
import type { OrchestratorClient } from "../../../orchestrator/client.js";
import { QuackError } from "../../../protocol/errors.js";
import { sendTx } from "../chain/tx.js";
import { eventFromReceipt, readChainJob, revertName, type ChainJob } from "./chainJob.js";

export interface FinishedJob {
  jobId: number;
  txHash: string;
  refund: bigint;
  requester: string;
  how: "proof" | "deadline";
}

function alreadyFinished(job: ChainJob): QuackError {
  return new QuackError("JOB_ALREADY_FINISHED", `Job ${job.jobId} is already finished on chain; its pool was refunded to ${job.requester}.`, {
    fix: "Nothing to do; `quackmesh job status` shows it.",
  });
}

/** finishJob with the orchestrator's JobFinished signature; the refund is read from TrainingJobFinished. */
export async function finishJob(deps: { client: OrchestratorClient; pool: Contract }, jobId: number): Promise<FinishedJob> {
  const job = await readChainJob(deps.pool, jobId);
  if (job.finished) throw alreadyFinished(job);
  const proof = await deps.client.finishProof(jobId);
  if (proof.evaluator.toLowerCase() !== job.evaluator.toLowerCase()) {
    throw new QuackError("WRONG_ORCHESTRATOR", `The orchestrator's evaluator ${proof.evaluator} is not job ${jobId}'s evaluator ${job.evaluator}.`, {
      fix: "Ask the orchestrator that runs this job (--orchestrator URL).",
    });
  }
  await commitOpenRounds(deps, job);
  const receipt = await sendTx(deps.pool, "finishJob", [jobId, proof.signature], {
    fixes: {
      ClaimWindowOpen: `Contributors still have committed rewards to claim; anyone may finish the job once the claim window closes (the requester earlier, once all is claimed). Run \`quackmesh job finish ${jobId}\` again then.`,
    },
  });
  const ev = await eventFromReceipt(deps.pool, receipt, "TrainingJobFinished");
  return { jobId, txHash: receipt.hash, refund: BigInt(ev.args.refund as bigint), requester: job.requester, how: "proof" };
}

/**
 * A job finishes only once every round's rewards are committed on chain. Contributors commit the
 * rounds they claim from; rounds that owe nobody anything (or whose contributors never came back)
 * are committed here with the evaluator's signature, so finishing never waits for them.
 */
async function commitOpenRounds(deps: { client: OrchestratorClient; pool: Contract }, job: ChainJob): Promise<void> {
  for (let round = 0; round < job.rounds; round++) {
    if (await deps.pool.getFunction("isRoundCommitted")(job.jobId, round)) continue;
    const r = await deps.client.roundRewards(job.jobId, round);
    try {
      await sendTx(deps.pool, "commitRound", [job.jobId, round, r.rewardsRoot, r.updatesRoot, r.modelHash, r.total, r.signature]);
    } catch (err) {
      if (revertName(err) !== "RoundAlreadyCommitted") throw err;
    }
  }
}

/** The requester takes the rest back once the deadline passed (no proof needed). */
export async function cancelJob(deps: { pool: Contract; signer: Wallet; provider: Provider }, jobId: number): Promise<FinishedJob> {
  const job = await readChainJob(deps.pool, jobId);
  if (job.finished) throw alreadyFinished(job);
  if (job.requester.toLowerCase() !== deps.signer.address.toLowerCase()) {
    throw new QuackError("NOT_REQUESTER", `Only job ${jobId}'s requester ${job.requester} may cancel it; this wallet is ${deps.signer.address}.`, {
      fix: "Sign with the requester's key (--key FILE / --account requester).",
    });
  }
  const now = Number((await deps.provider.getBlock("latest"))?.timestamp ?? 0);
  if (now <= job.deadline) {
    throw new QuackError("JOB_STILL_RUNNING", `Job ${jobId} runs until ${new Date(job.deadline * 1000).toISOString()} (${job.deadline - now} s from the chain's clock).`, {
      fix: `Wait until the deadline, or finish it early once its last round closed: \`quackmesh job finish ${jobId}\`.`,
      details: { deadline: job.deadline, now },
    });
  }
  const receipt = await sendTx(deps.pool, "finishJob", [jobId, "0x"]);
  const ev = await eventFromReceipt(deps.pool, receipt, "TrainingJobFinished");
  return { jobId, txHash: receipt.hash, refund: BigInt(ev.args.refund as bigint), requester: job.requester, how: "deadline" };
}

export interface ExportedModel {
  jobId: number;
  out: string;
  bytes: number;
  modelHash: string;
  round: number;
  status: "active" | "finished";
  tensors: Array<{ name: string; shape: number[] }>;
}

/** The current global model (the final one once finished) to `out`, as safetensors with PyTorch names. */
export async function exportModel(client: OrchestratorClient, jobId: number, out: string): Promise<ExportedModel> {
  const model = await client.getModel(jobId);
  if (model.notModified) throw new QuackError("INTERNAL", "The orchestrator answered 304 to an unconditional request.");
  const { tensors } = decodeSafetensors(model.bytes);
  const file = resolve(out);
  await mkdir(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    await writeFile(tmp, model.bytes);
    await rename(tmp, file);
  } catch (cause) {
    throw new QuackError("WRITE_FAILED", `Cannot write ${file}: ${(cause as Error).message}.`, { fix: "Pass --out with a writable path.", cause });
  }
  return {
    jobId,
    out: file,
    bytes: model.bytes.length,
    modelHash: model.modelHash,
    round: model.round,
    status: model.status,
    tensors: tensors.map((t) => ({ name: t.name, shape: t.shape })),
  };
}
