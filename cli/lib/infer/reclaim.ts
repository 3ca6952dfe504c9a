/** The requester's way back: the whole escrow of an inference job nobody settled within InferencePool.RECLAIM_DELAY. */
import type { Contract, Provider, Wallet } from "ethers";
import { QuackError } from "../../../protocol/errors.js";
import { formatAmount } from "../../../protocol/chain/units.js";
import { sendTx } from "../chain/tx.js";
import { eventArgs, readInference } from "./chain.js";

export interface Reclaimed {
  inferenceJobId: number;
  txHash: string;
  refund: bigint;
  requester: string;
}

export async function reclaimInference(deps: { pool: Contract; signer: Wallet; provider: Provider }, inferenceJobId: number): Promise<Reclaimed> {
  const job = await readInference(deps.pool, inferenceJobId);
  if (job.settled) {
    throw new QuackError("INFERENCE_SETTLED", `Inference job ${inferenceJobId} is already settled or reclaimed: ${formatAmount(job.paid)} DUCK were paid, the rest went back to ${job.requester}.`, {
      fix: "Nothing to reclaim.",
    });
  }
  if (job.requester.toLowerCase() !== deps.signer.address.toLowerCase()) {
    throw new QuackError("NOT_REQUESTER", `Only inference job ${inferenceJobId}'s requester ${job.requester} may reclaim it; this wallet is ${deps.signer.address}.`, {
      fix: "Sign with the requester's key (--key FILE / --account).",
    });
  }
  const availableAt = Number(await deps.pool.getFunction("reclaimableAt")(inferenceJobId));
  const now = Number((await deps.provider.getBlock("latest"))?.timestamp ?? 0);
  if (now < availableAt) {
    throw new QuackError("RECLAIM_TOO_EARLY", `Inference job ${inferenceJobId} can be reclaimed from ${new Date(availableAt * 1000).toISOString()} (${availableAt - now} s from the chain's clock).`, {
      fix: "Wait until then; meanwhile the orchestrator may still answer: retry with `quackmesh infer --resume ID`.",
      details: { availableAt, now },
    });
  }
  const receipt = await sendTx(deps.pool, "reclaim", [inferenceJobId]);
  const ev = eventArgs(deps.pool, receipt, "InferenceReclaimed");
  return { inferenceJobId, txHash: receipt.hash, refund: BigInt(ev.refund as bigint), requester: job.requester };
}
