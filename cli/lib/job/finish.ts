/**
 * The end of a job: finish it with the evaluator's proof (anyone may send it; the refund goes
 * to the requester), abort it early (requester only: it stops after the round in progress),
 * cancel it after the deadline (requester only), export the final model.
 */
import { mkdir, rename, writeFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import type { Contract, JsonRpcProvider, Wallet } from "ethers";
import { decodeSafetensors, sha256Hex } from "../../../native/safetensors.js";
import type { Tensor } from "../../../native/types.js";
import type { OrchestratorClient } from "../../../orchestrator/client.js";
import { QuackError, isQuackError } from "../../../protocol/errors.js";
import { chainClock } from "../chain/clock.js";
import { sendTx } from "../chain/tx.js";
import { commitRoundArgs, eventFromReceipt, poolEvents, readChainJob, revertName, type ChainJob } from "./chainJob.js";

export interface FinishedJob {
  jobId: number;
  txHash: string;
  refund: bigint;
  requester: string;
  how: "proof" | "deadline";
}

function alreadyFinished(job: ChainJob): QuackError {
  return new QuackError("JOB_ALREADY_FINISHED", `Job ${job.jobId} is already finished on chain; its pool was refunded to ${job.requester}.`, {
    fix: `Nothing to do; \`quackmesh job status ${job.jobId}\` shows it.`,
  });
}

/** finishJob with the orchestrator's JobFinished signature; the refund is read from TrainingJobFinished. */
export async function finishJob(deps: { client: OrchestratorClient; pool: Contract; clock?: () => Promise<unknown> }, jobId: number): Promise<FinishedJob> {
  const job = await readChainJob(deps.pool, jobId);
  if (job.finished) throw alreadyFinished(job);
  let proof;
  try {
    proof = await deps.client.finishProof(jobId);
  } catch (err) {
    if (!isQuackError(err) || err.code !== "JOB_NOT_FINISHED") throw err;
    throw new QuackError("JOB_NOT_FINISHED", err.message, {
      fix: `Wait for the last round, or stop the job after the round in progress with \`quackmesh job abort ${jobId}\` (committed rewards stay claimable, the rest is refunded).`,
      details: err.details,
      cause: err,
    });
  }
  if (proof.evaluator.toLowerCase() !== job.evaluator.toLowerCase()) {
    throw new QuackError("WRONG_ORCHESTRATOR", `The orchestrator's evaluator ${proof.evaluator} is not job ${jobId}'s evaluator ${job.evaluator}.`, {
      fix: "Ask the orchestrator that runs this job (--orchestrator URL).",
    });
  }
  await commitOpenRounds(deps, job);
  // The claim window is measured in block time: on the local chain, bring it to the wall clock first.
  await deps.clock?.();
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
      await sendTx(deps.pool, "commitRound", commitRoundArgs(job.jobId, round, r));
    } catch (err) {
      if (revertName(err) !== "RoundAlreadyCommitted") throw err;
    }
  }
}

export interface AbortedJob {
  jobId: number;
  txHash: string;
  /** The job ends after this many rounds (rounds 0 to rounds - 1). */
  rounds: number;
  /** DUCK wei back to the requester now. */
  refund: bigint;
  /** DUCK wei kept for the rounds still to commit; what they do not use comes back at `job finish`. */
  reserved: bigint;
  /** True when nothing was left to commit: the job finished in the same transaction. */
  finished: boolean;
  requester: string;
}

/**
 * The requester stops a job: the orchestrator ends it after the round in progress and signs that
 * statement; TrainingPool.abortJob then refunds the free pool but for what the kept rounds may
 * still commit. Everything committed stays claimable by its contributors.
 */
export async function abortJob(deps: { client: OrchestratorClient; pool: Contract; signer: Wallet }, jobId: number): Promise<AbortedJob> {
  const job = await readChainJob(deps.pool, jobId);
  if (job.finished) throw alreadyFinished(job);
  if (job.requester.toLowerCase() !== deps.signer.address.toLowerCase()) {
    throw new QuackError("NOT_REQUESTER", `Only job ${jobId}'s requester ${job.requester} may abort it; this wallet is ${deps.signer.address}.`, {
      fix: "Sign with the requester's key (--key FILE, --account NAME on the local chain, or QUACKMESH_PRIVATE_KEY).",
    });
  }
  const proof = await deps.client.abortProof(jobId);
  if (proof.evaluator.toLowerCase() !== job.evaluator.toLowerCase()) {
    throw new QuackError("WRONG_ORCHESTRATOR", `The orchestrator's evaluator ${proof.evaluator} is not job ${jobId}'s evaluator ${job.evaluator}.`, {
      fix: "Ask the orchestrator that runs this job (--orchestrator URL).",
    });
  }
  const receipt = await sendTx(deps.pool, "abortJob", [jobId, proof.rounds, proof.signature]);
  const events = poolEvents(deps.pool, receipt.logs, await deps.pool.getAddress());
  const ev = events.find((e) => e.name === "TrainingJobAborted");
  if (!ev) throw new QuackError("EVENT_MISSING", `Transaction ${receipt.hash} was mined but emitted no TrainingJobAborted event.`, { fix: "Check that the deployment file points at the product's TrainingPool." });
  return {
    jobId,
    txHash: receipt.hash,
    rounds: Number(ev.args.rounds),
    refund: BigInt(ev.args.refund as bigint),
    reserved: BigInt(ev.args.reserved as bigint),
    finished: events.some((e) => e.name === "TrainingJobFinished"),
    requester: job.requester,
  };
}

/** The requester takes the rest back once the deadline passed (no proof needed). */
export async function cancelJob(deps: { pool: Contract; signer: Wallet; provider: JsonRpcProvider; chainId: number }, jobId: number): Promise<FinishedJob> {
  const job = await readChainJob(deps.pool, jobId);
  if (job.finished) throw alreadyFinished(job);
  if (job.requester.toLowerCase() !== deps.signer.address.toLowerCase()) {
    throw new QuackError("NOT_REQUESTER", `Only job ${jobId}'s requester ${job.requester} may cancel it; this wallet is ${deps.signer.address}.`, {
      fix: "Sign with the requester's key (--key FILE / --account requester).",
    });
  }
  const now = await chainClock(deps.provider, deps.chainId);
  if (now <= job.deadline) {
    throw new QuackError("JOB_STILL_RUNNING", `Job ${jobId} runs until ${new Date(job.deadline * 1000).toISOString()} (${job.deadline - now} s from the chain's clock).`, {
      fix: `Abort it now (\`quackmesh job abort ${jobId}\`: it stops after the round in progress and refunds the rest at once), finish it once its last round closed (\`quackmesh job finish ${jobId}\`), or wait until the deadline.`,
      details: { deadline: job.deadline, now },
    });
  }
  const receipt = await sendTx(deps.pool, "finishJob", [jobId, "0x"]);
  const ev = await eventFromReceipt(deps.pool, receipt, "TrainingJobFinished");
  return { jobId, txHash: receipt.hash, refund: BigInt(ev.args.refund as bigint), requester: job.requester, how: "deadline" };
}

/** The files `job export` writes: PyTorch state-dict tensors, or the whole network for onnxruntime. */
export const EXPORT_FORMATS = ["safetensors", "onnx"] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export interface ExportedModel {
  jobId: number;
  format: ExportFormat;
  out: string;
  bytes: number;
  /** sha256 of the file written (for safetensors, the model hash itself) */
  sha256: string;
  modelHash: string;
  /** The round whose aggregation produced this model (rounds count from 0); null for the initial model. */
  round: number | null;
  status: "active" | "finished";
  tensors: Array<{ name: string; shape: number[] }>;
}

/** Where `job export` writes without --out: ./job-<id>-round-<r>.<format>, or ./job-<id>-initial.<format>. */
export function defaultExportName(jobId: number, round: number | null, format: ExportFormat = "safetensors"): string {
  return round === null ? `job-${jobId}-initial.${format}` : `job-${jobId}-round-${round}.${format}`;
}

/** The job's network as ONNX; the writer (and protobufjs) load only here, not at every CLI start. */
async function toOnnx(client: OrchestratorClient, jobId: number, tensors: Tensor[], docString: string): Promise<Uint8Array> {
  const { encodeOnnx } = await import("../../../native/onnx.js");
  return encodeOnnx((await client.getJob(jobId)).spec, tensors, { docString });
}

/**
 * The current global model (the final one once finished) to `out`: as the orchestrator serves it
 * (safetensors with PyTorch names), or as ONNX built from those tensors and the job's spec.
 */
export async function exportModel(client: OrchestratorClient, jobId: number, out?: string, format: ExportFormat = "safetensors"): Promise<ExportedModel> {
  const model = await client.getModel(jobId);
  if (model.notModified) throw new QuackError("INTERNAL", "The orchestrator answered 304 to an unconditional request.");
  const { tensors } = decodeSafetensors(model.bytes);
  // The orchestrator's round header counts the rounds closed so far (the model is the last one's output).
  const round = model.round > 0 ? model.round - 1 : null;
  const bytes = format === "onnx" ? await toOnnx(client, jobId, tensors, `QuackMesh job ${jobId}, ${round === null ? "initial model" : `round ${round}`}, model hash ${model.modelHash}`) : model.bytes;
  const file = resolve(out ?? defaultExportName(jobId, round, format));
  await mkdir(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    await writeFile(tmp, bytes);
    await rename(tmp, file);
  } catch (cause) {
    throw new QuackError("WRITE_FAILED", `Cannot write ${file}: ${(cause as Error).message}.`, { fix: "Pass --out with a writable path.", cause });
  }
  return {
    jobId,
    format,
    out: file,
    bytes: bytes.length,
    sha256: sha256Hex(bytes),
    modelHash: model.modelHash,
    round,
    status: model.status,
    tensors: tensors.map((t) => ({ name: t.name, shape: t.shape })),
  };
}
