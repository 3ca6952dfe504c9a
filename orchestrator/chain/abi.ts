/**
 * The contract events the orchestrator reads, from the compiled artifacts (shipped with the
 * package), so the ABI has one source: the contracts themselves.
 */
import { Interface } from "ethers";
import { loadArtifact } from "../../protocol/chain/contracts.js";

export const TRAINING_POOL_EVENTS = new Interface(loadArtifact("TrainingPool").abi);
export const MARKETPLACE_EVENTS = new Interface(loadArtifact("ComputeMarketplace").abi);
export const INFERENCE_POOL_EVENTS = new Interface(loadArtifact("InferencePool").abi);
