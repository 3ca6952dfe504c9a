/** What the contributor loop reports; views and --json render these, the loop never prints. */
import type { RoundTraining } from "./jobTraining.js";
import type { JobTerms } from "./terms.js";
import type { QualityName } from "../../../protocol/quality.js";

export type RefusalStage = "orchestrator" | "chain";

export type ContributorEvent =
  | { event: "terms"; jobId: number; terms: JobTerms }
  | { event: "started"; jobId: number; address: string; samples: number; holdout: number; stateFile: string | null; submitOnChain: boolean; metric: QualityName }
  | { event: "resumed"; jobId: number; round: number; what: "resend" | "claim" }
  | { event: "waiting"; jobId: number; round: number | null; reason: string; delayMs: number }
  | { event: "model"; jobId: number; round: number; modelHash: string }
  | {
      event: "trained";
      jobId: number;
      round: number;
      samples: number;
      /** Mean training loss and accuracy over the local epochs (a regression's MSE and R²). */
      loss: number;
      accuracy: number;
      /** What `accuracy` is: accuracy, or a regression's R². */
      metric: QualityName;
      /** On the held-out part of the local data (null without a hold-out). */
      holdoutLoss: number | null;
      holdoutAccuracy: number | null;
      /** The optimizer and FedProx μ this round trained with: the job's settings under the trainer's own flags (empty: plain SGD). */
      training: RoundTraining;
      ms: number;
    }
  | { event: "attested"; jobId: number; round: number; accuracyBps: number; metric: QualityName; updateHash: string; numSamples: number; evaluator: string }
  | { event: "refused"; jobId: number; round: number; stage: RefusalStage; code: string; message: string; fatal: boolean }
  | { event: "submitted"; jobId: number; round: number; txHash: string; reward: bigint; totalReward: bigint; balance: bigint | null }
  | { event: "skipped"; jobId: number; round: number; reason: string }
  | {
      event: "rewarded";
      jobId: number;
      round: number;
      /** Leave-one-out gain in validation loss the evaluator measured. */
      score: number;
      /** Why the update was left out of the model, if it was. */
      excluded: string | null;
      amount: bigint;
      txHash: string | null;
      totalReward: bigint;
    }
  | { event: "finished"; jobId: number; reason: "job-finished" | "job-closed" | "rounds-done" | "stopped"; rounds: number; totalReward: bigint };

/** Plain English for a refusal code, shown next to the server's or the contract's message. */
export const REFUSAL_HINTS: Record<string, string> = {
  BELOW_THRESHOLD: "the evaluator measured an accuracy below the job's threshold on its validation set",
  ROUND_CLOSED: "the round closed (enough updates arrived) before this update; training for the next round",
  DUPLICATE_UPDATE: "this address already sent a different update for this round",
  SIGNATURE_INVALID: "the orchestrator could not verify this wallet's signature",
  SIGNATURE_STALE: "this machine's clock is too far from the orchestrator's",
  NORM_BOUND_EXCEEDED: "the update moved too far from the global model",
  IDENTICAL_TO_GLOBAL: "the update equals the global model",
  AlreadySubmitted: "this round was already paid to this address",
  BelowThreshold: "the attested accuracy is below the job's on-chain threshold",
  InvalidAttestation: "the attestation was not signed by the job's evaluator for this address",
  DeadlinePassed: "the job's deadline passed",
  JobAlreadyFinished: "the job finished",
  PoolExhausted: "the reward pool is spent",
};
