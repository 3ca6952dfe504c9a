/**
 * InferencePool as the orchestrator reads it: one view, getInferenceJob, through any ethers
 * provider. Only the fragments it needs, so the orchestrator needs an RPC URL, not artifacts.
 */
import { Contract, Interface, type ContractRunner } from "ethers";
import { revertData } from "../../protocol/chain/revert.js";
import { ApiError } from "../errors.js";

export const INFERENCE_POOL_ABI = new Interface([
  "function getInferenceJob(uint256 jobId) view returns (tuple(address requester, address orchestrator, bytes32 modelHash, uint256 maxPayment, uint256 paid, bool settled))",
  "error UnknownJob(uint256 jobId)",
]);

export interface OnChainInference {
  requester: string;
  orchestrator: string;
  modelHash: string;
  maxPayment: bigint;
  paid: bigint;
  settled: boolean;
}

export interface InferencePoolReader {
  readonly address: string;
  /** The job, or null when InferencePool has none with this id. */
  getInferenceJob(jobId: number): Promise<OnChainInference | null>;
}

export function inferencePoolReader(address: string, runner: ContractRunner): InferencePoolReader {
  const pool = new Contract(address, INFERENCE_POOL_ABI, runner);
  return {
    address,
    async getInferenceJob(jobId) {
      try {
        const j = (await pool.getFunction("getInferenceJob")(jobId)) as Record<string, unknown>;
        return {
          requester: String(j.requester),
          orchestrator: String(j.orchestrator),
          modelHash: String(j.modelHash).toLowerCase(),
          maxPayment: BigInt(j.maxPayment as bigint),
          paid: BigInt(j.paid as bigint),
          settled: Boolean(j.settled),
        };
      } catch (err) {
        const data = revertData(err);
        if (data && INFERENCE_POOL_ABI.parseError(data)?.name === "UnknownJob") return null;
        throw new ApiError("UNAVAILABLE", `The orchestrator cannot read InferencePool job ${jobId} from the chain right now; retry shortly.`);
      }
    },
  };
}
