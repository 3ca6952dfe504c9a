/**
 * Sending one update and keeping its answer: the attestation is checked against what was sent
 * and stored before anything else happens; a refusal is recorded so the round is not retried
 * with other bytes; network trouble is waited out and the same bytes are sent again.
 */
import type { Contract, Provider } from "ethers";
import { sha256Hex } from "../../../native/safetensors.js";
import type { AttestationReply, OrchestratorClient } from "../../../orchestrator/client.js";
import { QuackError } from "../../../protocol/errors.js";
import { Backoff, isTransient, sleep } from "../job/wait.js";
import { REFUSAL_HINTS, type ContributorEvent } from "./events.js";
import type { ContributorState } from "./state.js";
import type { QualityName } from "../../../protocol/quality.js";

export interface LoopContext {
  client: OrchestratorClient;
  jobId: number;
  address: string;
  state: ContributorState;
  signal?: AbortSignal;
  chain?: { trainingPool: Contract; duck?: Contract; provider: Provider };
  /** What the evaluator's attested accuracy is for this job's model: accuracy, or a regression's R². */
  metric: QualityName;
}

/** attested: stored; refused: this round is lost; missed: the round closed first; job-finished. */
export type SendOutcome = "attested" | "refused" | "missed" | "job-finished";

// Refusals that end this round for this contributor (a resend of other bytes would be a duplicate).
const ROUND_REFUSALS = new Set([
  "BELOW_THRESHOLD",
  "DUPLICATE_UPDATE",
  "SHAPE_MISMATCH",
  "NON_FINITE",
  "NORM_BOUND_EXCEEDED",
  "IDENTICAL_TO_GLOBAL",
  "MALFORMED_SAFETENSORS",
  "BODY_TOO_LARGE",
]);
const MISSED = new Set(["ROUND_CLOSED", "ROUND_NOT_OPEN"]);

export function refusalMessage(code: string, message: string): string {
  const hint = REFUSAL_HINTS[code];
  return hint ? `${message} (${hint})` : message;
}

export async function* sendUpdate(ctx: LoopContext, round: number, bytes: Uint8Array, numSamples: number): AsyncGenerator<ContributorEvent, SendOutcome> {
  const { client, jobId, state, signal } = ctx;
  const retry = new Backoff(500, 10_000);
  for (;;) {
    let att: AttestationReply;
    try {
      att = await client.submitUpdate(jobId, round, numSamples, bytes);
    } catch (err) {
      const code = (err as QuackError).code ?? "INTERNAL";
      // A replayed signature only means two requests were signed in the same millisecond.
      if (isTransient(err) || code === "SIGNATURE_REPLAYED") {
        const delayMs = retry.next();
        yield { event: "waiting", jobId, round, reason: `sending the update: ${(err as Error).message}`, delayMs };
        await sleep(delayMs, signal);
        continue;
      }
      const message = refusalMessage(code, (err as Error).message);
      if (MISSED.has(code) || code === "JOB_NOT_ACTIVE") {
        await state.clearPending();
        yield { event: "refused", jobId, round, stage: "orchestrator", code, message, fatal: false };
        return code === "JOB_NOT_ACTIVE" ? "job-finished" : "missed";
      }
      if (ROUND_REFUSALS.has(code)) {
        await state.setRound(round, { status: "refused", code });
        await state.clearPending();
        yield { event: "refused", jobId, round, stage: "orchestrator", code, message, fatal: false };
        return "refused";
      }
      yield { event: "refused", jobId, round, stage: "orchestrator", code, message, fatal: true };
      throw err;
    }
    checkAttestation(ctx, att, round, bytes, numSamples);
    await state.setRound(round, { status: "attested", attestation: att });
    await state.clearPending();
    yield { event: "attested", jobId, round, accuracyBps: att.accuracyBps, metric: ctx.metric, updateHash: att.updateHash, numSamples: att.numSamples, evaluator: att.evaluator };
    return "attested";
  }
}

/** The attestation must be for exactly what we sent, from this address, or it would not pay. */
function checkAttestation(ctx: LoopContext, att: AttestationReply, round: number, bytes: Uint8Array, numSamples: number): void {
  const expected = { jobId: ctx.jobId, round, contributor: ctx.address.toLowerCase(), updateHash: sha256Hex(bytes), numSamples };
  const got = { jobId: att.jobId, round: att.round, contributor: att.contributor.toLowerCase(), updateHash: att.updateHash.toLowerCase(), numSamples: att.numSamples };
  const wrong = (Object.keys(expected) as Array<keyof typeof expected>).filter((k) => expected[k] !== got[k]);
  if (wrong.length > 0) {
    throw new QuackError("BAD_ATTESTATION", `The orchestrator's attestation does not match the update sent (${wrong.map((k) => `${k}: ${got[k]} ≠ ${expected[k]}`).join("; ")}).`, {
      fix: "Check --orchestrator: this one does not attest what it receives.",
    });
  }
}
