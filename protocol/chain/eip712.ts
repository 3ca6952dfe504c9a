/**
 * The orchestrator's EIP-712 usage statement, in the exact types InferencePool verifies:
 *   domain { name: "QuackMesh InferencePool", version: "1", chainId, verifyingContract }
 *   Usage(uint256 jobId,address[] providers,uint256[] amounts)
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
