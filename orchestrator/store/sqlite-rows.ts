/** SQLite rows → repository records. */
import type { ChainEventRecord, DraftRecord, JobRecord, RoundRecord, RoundStatus, UpdateRecord, UpdateStatus } from "./repository.js";
import { DEFAULT_SETTINGS, type JobSettings } from "../../protocol/settings.js";

export type Row = Record<string, unknown>;

const json = <T>(v: unknown): T => JSON.parse(String(v)) as T;
export const num = (v: unknown): number => Number(v);
export const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
export const strOrNull = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));

export function toDraft(r: Row): DraftRecord {
  return {
    id: String(r.id),
    uploader: String(r.uploader),
    spec: json(r.spec),
    settings: { ...DEFAULT_SETTINGS, ...json<JobSettings>(r.settings) },
    createdAt: num(r.created_at),
    modelHash: strOrNull(r.model_hash),
    validationHash: strOrNull(r.validation_hash),
    validationFormat: strOrNull(r.validation_format),
    validationSamples: numOrNull(r.validation_samples),
    jobId: numOrNull(r.job_id),
  };
}

export function toJob(r: Row): JobRecord {
  return {
    jobId: num(r.job_id),
    draftId: String(r.draft_id),
    requester: String(r.requester),
    evaluator: String(r.evaluator),
    initialModelHash: String(r.initial_model_hash),
    spec: json(r.spec),
    settings: { ...DEFAULT_SETTINGS, ...json<JobSettings>(r.settings) },
    validationHash: String(r.validation_hash),
    status: r.status as JobRecord["status"],
    currentRound: num(r.current_round),
    modelHash: String(r.model_hash),
    createdAt: num(r.created_at),
    finishedAt: numOrNull(r.finished_at),
    chain: json(r.chain),
  };
}

export function toRound(r: Row): RoundRecord {
  return {
    jobId: num(r.job_id),
    round: num(r.round),
    status: r.status as RoundStatus,
    openedAt: num(r.opened_at),
    deadlineAt: num(r.deadline_at),
    extensions: num(r.extensions),
    inputModelHash: String(r.input_model_hash),
    closedAt: numOrNull(r.closed_at),
    modelHash: strOrNull(r.model_hash),
    accuracy: numOrNull(r.accuracy),
    loss: numOrNull(r.loss),
    contributors: json(r.contributors),
    updateHashes: json(r.update_hashes),
    rewards: r.rewards == null ? null : json(r.rewards),
  };
}

export function toUpdate(r: Row): UpdateRecord {
  return {
    jobId: num(r.job_id),
    round: num(r.round),
    contributor: String(r.contributor),
    updateHash: String(r.update_hash),
    numSamples: num(r.num_samples),
    accuracyBps: num(r.accuracy_bps),
    loss: num(r.loss),
    status: r.status as UpdateStatus,
    reason: strOrNull(r.reason),
    signature: strOrNull(r.signature),
    receivedAt: num(r.received_at),
  };
}

export function toEvent(r: Row): ChainEventRecord {
  return {
    txHash: String(r.tx_hash),
    logIndex: num(r.log_index),
    blockNumber: num(r.block),
    source: String(r.source),
    name: String(r.name),
    args: json(r.args),
  };
}
