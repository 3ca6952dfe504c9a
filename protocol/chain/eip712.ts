/**
 * Every EIP-712 domain and type the contracts verify, written once:
 *   TrainingPool  { name: "QuackMesh TrainingPool", version: "1" }
 *     Attestation(uint256 jobId,uint32 round,address contributor,bytes32 updateHash,uint16 accuracyBps,uint64 numSamples)
 *     RoundCommitment(uint256 jobId,uint32 round,bytes32 rewardsRoot,bytes32 updatesRoot,bytes32 modelHash,uint256 total)
 *     JobFinished(uint256 jobId)
 *     JobAborted(uint256 jobId,uint32 rounds)
 *   InferencePool { name: "QuackMesh InferencePool", version: "1" }
 *     Usage(uint256 jobId,address[] providers,uint256[] amounts)
 *   ComputeMarketplace { name: "QuackMesh ComputeMarketplace", version: "1" }
 *     Downtime(uint256 rentalId,uint64 downtimeSeconds)
 *     Liveness(uint256 machineId,uint64 at)   (checked off chain only)
 */
import { TypedDataEncoder, verifyTypedData, type TypedDataDomain, type Wallet } from "ethers";

export const USAGE_TYPES = {
  Usage: [
    { name: "jobId", type: "uint256" },
    { name: "providers", type: "address[]" },
    { name: "amounts", type: "uint256[]" },
  ],
};

export interface Usage {
  jobId: bigint | number;
  providers: string[];
  amounts: bigint[];
}

export function inferencePoolDomain(chainId: number | bigint, inferencePool: string): TypedDataDomain {
  return { name: "QuackMesh InferencePool", version: "1", chainId, verifyingContract: inferencePool };
}

/** Sign synchronously from the typed-data digest. */
export function signUsage(wallet: Wallet, domain: TypedDataDomain, usage: Usage): string {
  return wallet.signingKey.sign(TypedDataEncoder.hash(domain, USAGE_TYPES, usage)).serialized;
}

/** Who signed a usage statement (for requesters who check before spending gas on settle). */
export function recoverUsageSigner(domain: TypedDataDomain, usage: Usage, signature: string): string {
  return verifyTypedData(domain, USAGE_TYPES, usage, signature);
}

// ---- TrainingPool ----

export const ATTESTATION_TYPES = {
  Attestation: [
    { name: "jobId", type: "uint256" },
    { name: "round", type: "uint32" },
    { name: "contributor", type: "address" },
    { name: "updateHash", type: "bytes32" },
    { name: "accuracyBps", type: "uint16" },
    { name: "numSamples", type: "uint64" },
  ],
};

export const JOB_FINISHED_TYPES = { JobFinished: [{ name: "jobId", type: "uint256" }] };

/** The evaluator's statement that an aborted job ends after `rounds` rounds (TrainingPool.abortJob). */
export const JOB_ABORTED_TYPES = {
  JobAborted: [
    { name: "jobId", type: "uint256" },
    { name: "rounds", type: "uint32" },
  ],
};

export interface AttestationValues {
  jobId: number;
  round: number;
  contributor: string;
  updateHash: string;
  accuracyBps: number;
  numSamples: number;
}

export function trainingPoolDomain(chainId: number, trainingPool: string): TypedDataDomain {
  return { name: "QuackMesh TrainingPool", version: "1", chainId, verifyingContract: trainingPool };
}

export const ROUND_COMMITMENT_TYPES = {
  RoundCommitment: [
    { name: "jobId", type: "uint256" },
    { name: "round", type: "uint32" },
    { name: "rewardsRoot", type: "bytes32" },
    { name: "updatesRoot", type: "bytes32" },
    { name: "modelHash", type: "bytes32" },
    { name: "total", type: "uint256" },
  ],
};

/** What the evaluator signs when a round closes: who is owed what (a Merkle root), which updates made the model, and the model. */
export interface RoundCommitmentValues {
  jobId: number;
  round: number;
  rewardsRoot: string;
  updatesRoot: string;
  modelHash: string;
  /** DUCK wei, the sum of the amounts under rewardsRoot. */
  total: bigint;
}

/** Who signed a round commitment (clients check before spending gas on commitRound). */
export function recoverCommitmentSigner(domain: TypedDataDomain, v: RoundCommitmentValues, signature: string): string {
  return verifyTypedData(domain, ROUND_COMMITMENT_TYPES, v, signature);
}

// ---- ComputeMarketplace ----

/** An arbiter's statement of how long a rented machine did not serve (ComputeMarketplace.settleDowntime). */
export const DOWNTIME_TYPES = {
  Downtime: [
    { name: "rentalId", type: "uint256" },
    { name: "downtimeSeconds", type: "uint64" },
  ],
};

export interface DowntimeValues {
  rentalId: bigint;
  downtimeSeconds: bigint;
}

export function marketplaceDomain(chainId: number | bigint, marketplace: string): TypedDataDomain {
  return { name: "QuackMesh ComputeMarketplace", version: "1", chainId, verifyingContract: marketplace };
}

/** Sign synchronously from the typed-data digest (the arbiter's wallet). */
export function signDowntime(wallet: Wallet, domain: TypedDataDomain, v: DowntimeValues): string {
  return wallet.signingKey.sign(TypedDataEncoder.hash(domain, DOWNTIME_TYPES, v)).serialized;
}

/** Who signed a downtime statement (renters check before spending gas on settleDowntime). */
export function recoverDowntimeSigner(domain: TypedDataDomain, v: DowntimeValues, signature: string): string {
  return verifyTypedData(domain, DOWNTIME_TYPES, v, signature);
}

/**
 * A provider's statement that its machine was alive at `at` (unix seconds). Never sent on chain:
 * the orchestrator keeps the latest per machine and anyone can check it against the machine's
 * provider on chain, so the orchestrator can withhold liveness but never invent it.
 */
export const LIVENESS_TYPES = {
  Liveness: [
    { name: "machineId", type: "uint256" },
    { name: "at", type: "uint64" },
  ],
};

export interface LivenessValues {
  machineId: bigint;
  at: bigint;
}

export function signLiveness(wallet: Wallet, domain: TypedDataDomain, v: LivenessValues): string {
  return wallet.signingKey.sign(TypedDataEncoder.hash(domain, LIVENESS_TYPES, v)).serialized;
}

export function recoverLivenessSigner(domain: TypedDataDomain, v: LivenessValues, signature: string): string {
  return verifyTypedData(domain, LIVENESS_TYPES, v, signature);
}
