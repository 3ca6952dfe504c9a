/**
 * EIP-712 signatures of the evaluator, in the exact types TrainingPool verifies:
 *   domain { name: "QuackMesh TrainingPool", version: "1", chainId, verifyingContract }
 *   Attestation(uint256 jobId,uint32 round,address contributor,bytes32 updateHash,uint16 accuracyBps,uint64 numSamples)
 *   JobFinished(uint256 jobId)
 */
import { TypedDataEncoder, verifyTypedData, type TypedDataDomain, type Wallet } from "ethers";

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

export class EvaluatorSigner {
  readonly address: string;
  readonly domain: TypedDataDomain;

  constructor(
    private readonly wallet: Wallet,
    readonly chainId: number,
    readonly trainingPool: string,
  ) {
    this.address = wallet.address;
    this.domain = trainingPoolDomain(chainId, trainingPool);
  }

  /** Sign synchronously from the typed-data digest (no provider lookups on the hot path). */
  attest(v: AttestationValues): string {
    const digest = TypedDataEncoder.hash(this.domain, ATTESTATION_TYPES, v);
    return this.wallet.signingKey.sign(digest).serialized;
  }

  finishProof(jobId: number): string {
    const digest = TypedDataEncoder.hash(this.domain, JOB_FINISHED_TYPES, { jobId });
    return this.wallet.signingKey.sign(digest).serialized;
  }
}

/** Who signed an attestation (for clients that check before spending gas). */
export function recoverAttestationSigner(domain: TypedDataDomain, v: AttestationValues, signature: string): string {
  return verifyTypedData(domain, ATTESTATION_TYPES, v, signature);
}
