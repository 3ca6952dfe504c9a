/** EIP-712 signatures of the evaluator, in the types of protocol/chain/eip712.ts that TrainingPool verifies. */
import { TypedDataEncoder, concat, getBytes, id, keccak256, toBeHex, verifyTypedData, zeroPadValue, type TypedDataDomain, type Wallet } from "ethers";
import {
  ATTESTATION_TYPES,
  JOB_ABORTED_TYPES,
  JOB_FINISHED_TYPES,
  ROUND_COMMITMENT_TYPES,
  trainingPoolDomain,
  type AttestationValues,
  type RoundCommitmentValues,
} from "../../protocol/chain/eip712.js";


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

  /** The round's commitment, for TrainingPool.commitRound. */
  commitRound(v: RoundCommitmentValues): string {
    return this.wallet.signingKey.sign(TypedDataEncoder.hash(this.domain, ROUND_COMMITMENT_TYPES, v)).serialized;
  }

  /** The statement that an aborted job ends after `rounds` rounds, for TrainingPool.abortJob. */
  abortProof(jobId: number, rounds: number): string {
    return this.wallet.signingKey.sign(TypedDataEncoder.hash(this.domain, JOB_ABORTED_TYPES, { jobId, rounds })).serialized;
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
