/**
 * EIP-712 signatures of the evaluator, in the exact types TrainingPool verifies:
 *   domain { name: "QuackMesh TrainingPool", version: "1", chainId, verifyingContract }
 *   Attestation(uint256 jobId,uint32 round,address contributor,bytes32 updateHash,uint16 accuracyBps,uint64 numSamples)
 *   JobFinished(uint256 jobId)
 */
import { TypedDataEncoder, concat, getBytes, id, keccak256, toBeHex, verifyTypedData, zeroPadValue, type TypedDataDomain, type Wallet } from "ethers";

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

const ATTESTATION_TYPEHASH = id(
  "Attestation(uint256 jobId,uint32 round,address contributor,bytes32 updateHash,uint16 accuracyBps,uint64 numSamples)",
);

/** One 32-byte ABI word of an unsigned integer, address or bytes32. */
function word(v: number | bigint | string): string {
  return zeroPadValue(typeof v === "string" ? v : toBeHex(v), 32);
}

/**
 * The EIP-712 digest of an Attestation, built from its fixed-size fields directly (it is on
 * every accepted update's path); equal to TypedDataEncoder.hash, which the tests check.
 */
export function attestationDigest(domainSeparator: string, v: AttestationValues): string {
  const structHash = keccak256(
    concat([ATTESTATION_TYPEHASH, word(v.jobId), word(v.round), word(v.contributor.toLowerCase()), word(v.updateHash), word(v.accuracyBps), word(v.numSamples)]),
  );
  return keccak256(concat([getBytes("0x1901"), domainSeparator, structHash]));
}

export class EvaluatorSigner {
  readonly address: string;
  readonly domain: TypedDataDomain;
  readonly domainSeparator: string;

  constructor(
    private readonly wallet: Wallet,
    readonly chainId: number,
    readonly trainingPool: string,
  ) {
    this.address = wallet.address;
    this.domain = trainingPoolDomain(chainId, trainingPool);
    this.domainSeparator = TypedDataEncoder.hashDomain(this.domain);
  }

  /** Sign synchronously from the typed-data digest (no provider lookups on the hot path). */
  attest(v: AttestationValues): string {
    return this.wallet.signingKey.sign(attestationDigest(this.domainSeparator, v)).serialized;
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
