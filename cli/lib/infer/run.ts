/**
 * Paid inference, end to end: check, escrow maxPayment in InferencePool naming the orchestrator,
 * send the input, check the signed usage statement, write the predictions, settle on chain (the
 * fee to the orchestrator's payout address, the rest back to the requester).
 */
import type { InferenceReply } from "../../../orchestrator/client.js";
import { inferencePoolDomain, recoverUsageSigner } from "../../../protocol/chain/eip712.js";
import { QuackError, isQuackError } from "../../../protocol/errors.js";
import { sendTx } from "../chain/tx.js";
import { eventArgs, readInference } from "./chain.js";
import type { InferenceInput } from "./input.js";
import { previewOf, writePredictions, type Prediction } from "./predictions.js";
import { precheckInference, type InferDeps, type InferPlan, type Prechecked } from "./precheck.js";

export type { InferDeps, InferPlan };

export type InferEvent =
  | { event: "checked"; requester: string; duck: bigint; eth: bigint; orchestrator: string; signer: string; jobId: number; modelHash: string; roundsClosed: number; samples: number; labelled: boolean; pricePerSecond: string; minimumFee: string }
  | { event: "warning"; warning: string }
  | { event: "approved"; txHash: string; amount: bigint }
  | { event: "escrowed"; inferenceJobId: number; txHash: string; maxPayment: bigint; modelHash: string }
  | { event: "predicted"; inferenceJobId: number; count: number; computeMs: number; fee: bigint; out: string; accuracy?: number; regression?: { mse: number; r2: number } }
  | { event: "settled"; inferenceJobId: number; txHash: string | null; paid: bigint; refund: bigint };

export interface InferResult {
  inferenceJobId: number;
  jobId: number;
  modelHash: string;
  count: number;
  classes: number;
  out: string;
  computeMs: number;
  fee: bigint;
  maxPayment: bigint;
  paid: bigint;
  refund: bigint;
  payout: string;
  /** Null when the job was already settled (by a retry, or by the orchestrator's operator). */
  settleTx: string | null;
  /** Share of predictions equal to the input's labels, when it has labels. */
  accuracy?: number;
  /** A regression's MSE and R² against the input's targets, when it has them. */
  regression?: { mse: number; r2: number };
  /** What the model predicts: classes, or a regression's outputs ("loss":"mse"). */
  predicts: "classes" | "outputs";
  /** The first predicted classes (a regression: first outputs), for a glance. */
  preview: number[];
  /** Rounds of the training job closed when it was checked; 0: the model was the untrained initial one. */
  roundsClosed: number;
}

/** A failure after the escrow: the job id and how to get the answer, or the DUCK, back. */
function afterEscrow(err: unknown, plan: InferPlan, id: number): unknown {
  if (!isQuackError(err)) return err;
  return new QuackError(err.code, `${err.message} (inference job ${id} is escrowed).`, {
    fix:
      `${err.fix ? err.fix + " " : ""}Retry without paying again: quackmesh infer --job ${plan.jobId} --input ${plan.input} --resume ${id}. ` +
      `If the orchestrator never answers, \`quackmesh infer --reclaim ${id}\` returns the escrow 24 h after it was made.`,
    details: { ...err.details, inferenceJobId: id },
    cause: err,
  });
}

/** The statement must be for this job, signed by the orchestrator the job names, within the escrow. */
function checkReply(reply: InferenceReply, id: number, input: InferenceInput, regression: boolean, orchestrator: string, max: bigint, chainId: number, pool: string): bigint {
  const bad = (why: string) =>
    new QuackError("BAD_STATEMENT", `The orchestrator's answer for inference job ${id} cannot be used: ${why}.`, {
      fix: "Nothing was settled; report this to the orchestrator's operator, and reclaim the escrow after 24 h if it is not fixed.",
    });
  if (reply.inferenceJobId !== id || Number(reply.usage.jobId) !== id) throw bad(`it is for job ${reply.usage.jobId}`);
  if (reply.count !== input.count || reply.predictions.length !== input.count) throw bad(`it holds ${reply.predictions.length} predictions for ${input.count} samples`);
  if (reply.predictions.some((p) => "outputs" in p !== regression)) throw bad(regression ? "it answers classes for a regression model" : "it answers outputs for a classifier");
  const amounts = reply.usage.amounts.map((a) => BigInt(a));
  const total = amounts.reduce((a, b) => a + b, 0n);
  if (total > max) throw bad(`it pays ${total} wei, above the escrow of ${max}`);
  const signer = recoverUsageSigner(inferencePoolDomain(chainId, pool), { jobId: id, providers: reply.usage.providers, amounts }, reply.signature);
  if (signer.toLowerCase() !== orchestrator.toLowerCase()) throw bad(`its usage is signed by ${signer}, not by ${orchestrator}`);
  return total;
}

/** Escrow (or take the escrowed job to resume), checking who it names; returns its id and escrow. */
async function escrow(plan: InferPlan, deps: InferDeps, checked: Prechecked, emit: (e: InferEvent) => void): Promise<{ id: number; max: bigint }> {
  const pool = deps.contracts.inferencePool;
  if (plan.resume !== undefined) {
    const j = await readInference(pool, plan.resume);
    if (j.requester.toLowerCase() !== deps.signer.address.toLowerCase()) {
      throw new QuackError("NOT_REQUESTER", `Inference job ${plan.resume} was escrowed by ${j.requester}; this wallet is ${deps.signer.address}.`, {
        fix: "Sign with the requester's key (--key FILE / --account).",
      });
    }
    if (j.orchestrator.toLowerCase() !== checked.info.orchestrator.toLowerCase()) {
      throw new QuackError("WRONG_ORCHESTRATOR", `Inference job ${plan.resume} names orchestrator ${j.orchestrator}; the one at ${deps.client.baseUrl} is ${checked.info.orchestrator}.`, {
        fix: "Pass --orchestrator with the URL of the orchestrator the job names.",
      });
    }
    return { id: plan.resume, max: j.maxPayment };
  }
  const allowance = (await deps.contracts.duck.getFunction("allowance")(deps.signer.address, checked.poolAddress)) as bigint;
  if (allowance < plan.maxPayment) {
    const approved = await sendTx(deps.contracts.duck, "approve", [checked.poolAddress, plan.maxPayment]);
    emit({ event: "approved", txHash: approved.hash, amount: plan.maxPayment });
  }
  const receipt = await sendTx(pool, "createInferenceJob", [checked.job.modelHash, plan.maxPayment, checked.info.orchestrator]);
  const id = Number(eventArgs(pool, receipt, "InferenceJobCreated").jobId);
  emit({ event: "escrowed", inferenceJobId: id, txHash: receipt.hash, maxPayment: plan.maxPayment, modelHash: checked.job.modelHash });
  return { id, max: plan.maxPayment };
}

export async function runInference(plan: InferPlan, deps: InferDeps, opts: { onEvent?: (e: InferEvent) => void } = {}): Promise<InferResult> {
  const emit = opts.onEvent ?? (() => {});
  const checked = await precheckInference(plan, deps);
  const { info, job, input } = checked;
  emit({
    event: "checked", requester: deps.signer.address, duck: checked.duck, eth: checked.eth, orchestrator: deps.client.baseUrl, signer: info.orchestrator,
    jobId: job.jobId, modelHash: job.modelHash, roundsClosed: checked.roundsClosed, samples: input.count, labelled: input.labels !== undefined, pricePerSecond: info.pricePerSecond, minimumFee: info.minimumFee,
  });
  for (const warning of checked.warnings) emit({ event: "warning", warning });
  const { id, max } = await escrow(plan, deps, checked, emit);
  const pool = deps.contracts.inferencePool;
  try {
    const reply = await deps.client.infer({ inferenceJobId: id, jobId: plan.jobId, x: input.x, count: input.count });
    const regression = job.spec.loss === "mse";
    const fee = checkReply(reply, id, input, regression, info.orchestrator, max, deps.chainId, checked.poolAddress);
    const { inferenceJobId, jobId, modelHash, classes } = reply;
    const predictions: Prediction[] = reply.predictions;
    const written = await writePredictions(plan.out, { inferenceJobId, jobId, modelHash, classes }, predictions, input.labels, input.targets);
    emit({ event: "predicted", inferenceJobId: id, count: reply.count, computeMs: reply.computeMs, fee, out: written.file, accuracy: written.accuracy, regression: written.regression });

    const onChain = await readInference(pool, id);
    let settleTx: string | null = null;
    let paid = onChain.paid;
    let refund = onChain.maxPayment - onChain.paid;
    if (!onChain.settled) {
      const receipt = await sendTx(pool, "settle", [id, reply.usage.providers, reply.usage.amounts, reply.signature]);
      const ev = eventArgs(pool, receipt, "InferenceSettled");
      [settleTx, paid, refund] = [receipt.hash, BigInt(ev.paid as bigint), BigInt(ev.refund as bigint)];
    }
    emit({ event: "settled", inferenceJobId: id, txHash: settleTx, paid, refund });
    return {
      inferenceJobId: id, jobId: reply.jobId, modelHash: reply.modelHash, count: reply.count, classes: reply.classes, out: written.file,
      computeMs: reply.computeMs, fee, maxPayment: max, paid, refund, payout: reply.payout, settleTx, accuracy: written.accuracy, regression: written.regression,
      predicts: regression ? "outputs" : "classes", preview: previewOf(predictions), roundsClosed: checked.roundsClosed,
    };
  } catch (err) {
    throw afterEscrow(err, plan, id);
  }
}
