/**
 * Provider liveness: every LIVENESS_INTERVAL_S a running `quackmesh provide` signs
 * Liveness(machineId, at) with its wallet and hands it to the orchestrator, which keeps the
 * latest per machine (GET /api/market/liveness). Readers check each record against the
 * machine's provider on chain, so the orchestrator can only withhold liveness, never invent it.
 * A machine without a valid record newer than LIVENESS_STALE_S is stale: shown as such and never
 * rented. An on-chain ping was not chosen: it would cost gas every interval for every machine, and
 * a local chain's clock moves only with blocks.
 */
import type { TypedDataDomain } from "ethers";
import { recoverLivenessSigner } from "../chain/eip712.js";

export const LIVENESS_INTERVAL_S = 15;
export const LIVENESS_STALE_S = 60;

export interface LivenessRecord {
  machineId: string;
  /** Unix seconds (wall clock) the provider signed at. */
  at: number;
  signature: string;
}

/** The record's shape, or why it is not one (no chain read). */
export function livenessProblem(body: unknown): string | undefined {
  if (!body || typeof body !== "object") return "the body is not an object";
  const r = body as Record<string, unknown>;
  if (typeof r.machineId !== "string" || !/^[1-9]\d{0,30}$/.test(r.machineId)) return "machineId is not a machine id";
  if (typeof r.at !== "number" || !Number.isSafeInteger(r.at) || r.at < 0) return "at is not unix seconds";
  if (typeof r.signature !== "string" || !/^0x[0-9a-fA-F]{130}$/.test(r.signature)) return "signature is not a 65-byte hex signature";
  return undefined;
}

/** Who signed the record (address), or null when the signature does not recover. */
export function livenessSigner(domain: TypedDataDomain, r: LivenessRecord): string | null {
  try {
    return recoverLivenessSigner(domain, { machineId: BigInt(r.machineId), at: BigInt(r.at) }, r.signature);
  } catch {
    return null;
  }
}

/** Whether a record signed at `at` still proves liveness at `now` (unix seconds). */
export function isFresh(at: number, now: number): boolean {
  return at <= now + LIVENESS_STALE_S && now - at <= LIVENESS_STALE_S;
}
