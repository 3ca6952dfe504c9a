/** Store records → API replies. */
import type { DraftRecord, JobRecord, RoundRecord } from "../store/repository.js";
import type { DraftReply, JobSummary, RoundView } from "./schemas.js";

export function draftView(d: DraftRecord, evaluator: string): DraftReply {
  const status: DraftReply["status"] =
    d.jobId !== null ? "active" : d.modelHash === null ? "awaiting-weights" : d.validationHash === null ? "awaiting-validation" : "ready";
  return {
    draftId: d.id,
    uploader: d.uploader,
    status,
    modelHash: d.modelHash,
    validationHash: d.validationHash,
    validationSamples: d.validationSamples,
    jobId: d.jobId,
    evaluator,
    settings: d.settings,
    uploads: { weights: `/api/job/draft/${d.id}/weights`, validation: `/api/job/draft/${d.id}/validation` },
  };
}

export function jobView(j: JobRecord, updates: { accepted: number; rejected: number }): JobSummary {
  return {
    jobId: j.jobId,
    status: j.status,
    requester: j.requester,
    evaluator: j.evaluator,
    currentRound: j.currentRound,
    rounds: j.settings.rounds,
    modelHash: j.modelHash,
    initialModelHash: j.initialModelHash,
    spec: j.spec,
    settings: j.settings,
    updates,
    createdAt: j.createdAt,
    finishedAt: j.finishedAt,
    chain: j.chain,
  };
}

export function roundView(r: RoundRecord): RoundView {
  return {
    round: r.round,
    status: r.status,
    openedAt: r.openedAt,
    deadlineAt: r.deadlineAt,
    extensions: r.extensions,
    inputModelHash: r.inputModelHash,
    closedAt: r.closedAt,
    modelHash: r.modelHash,
    accuracy: r.accuracy,
    loss: r.loss,
    contributors: r.contributors,
    updateHashes: r.updateHashes,
  };
}
