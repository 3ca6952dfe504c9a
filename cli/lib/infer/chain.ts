/** InferencePool as the infer command sees it: the job as plain values and events from receipts. */
import type { Contract, TransactionReceipt } from "ethers";
import { QuackError } from "../../../protocol/errors.js";
import { describeRevert } from "../../../protocol/chain/revert.js";
import { revertName } from "../job/chainJob.js";

export interface ChainInference {
  inferenceJobId: number;
  requester: string;
  orchestrator: string;
  modelHash: string;
  maxPayment: bigint;
  paid: bigint;
  settled: boolean;
}

/** IInferencePool.getInferenceJob; INFERENCE_JOB_NOT_FOUND (with a fix) for an unused id. */
export async function readInference(pool: Contract, inferenceJobId: number): Promise<ChainInference> {
  let j: Record<string, unknown>;
  try {
    j = (await pool.getFunction("getInferenceJob")(inferenceJobId)) as Record<string, unknown>;
  } catch (err) {
    const e = describeRevert(err, pool, { method: "getInferenceJob" });
    if (revertName(e) === "UnknownJob") {
      throw new QuackError("INFERENCE_JOB_NOT_FOUND", `InferencePool has no inference job ${inferenceJobId}.`, {
        fix: "Check the id `quackmesh infer` printed and --network/--rpc.",
        cause: err,
      });
    }
    throw e;
  }
  return {
    inferenceJobId,
    requester: String(j.requester),
    orchestrator: String(j.orchestrator),
    modelHash: String(j.modelHash),
    maxPayment: BigInt(j.maxPayment as bigint),
    paid: BigInt(j.paid as bigint),
    settled: Boolean(j.settled),
  };
}

/** Arguments of the first `name` event of `pool` in a receipt. */
export function eventArgs(pool: Contract, receipt: TransactionReceipt, name: string): Record<string, unknown> {
  const address = String(pool.target).toLowerCase();
  for (const log of receipt.logs) {
    if (log.address.toLowerCase() !== address) continue;
    const parsed = pool.interface.parseLog({ topics: [...log.topics], data: log.data });
    if (parsed?.name !== name) continue;
    const args: Record<string, unknown> = {};
    parsed.fragment.inputs.forEach((input, i) => (args[input.name] = parsed.args[i]));
    return args;
  }
  throw new QuackError("EVENT_MISSING", `Transaction ${receipt.hash} was mined but emitted no ${name} event.`, {
    fix: "Check that the deployment file points at the product's InferencePool.",
  });
}
