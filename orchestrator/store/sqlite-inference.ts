/** The SQLite table of inference results: one row per InferencePool job, written once. */
import type Database from "better-sqlite3";
import type { InferenceRecord } from "./repository.js";
import { num, type Row } from "./sqlite-rows.js";

export function toInference(r: Row): InferenceRecord {
  const blob = r.probabilities as Buffer;
  // Copied into its own buffer: a Float32Array needs 4-byte alignment.
  const probabilities = new Float32Array(blob.byteLength / 4);
  new Uint8Array(probabilities.buffer).set(blob);
  return {
    inferenceJobId: num(r.inference_job_id),
    modelJobId: num(r.model_job_id),
    requester: String(r.requester),
    modelHash: String(r.model_hash),
    inputSha256: String(r.input_sha256),
    count: num(r.count),
    classes: num(r.classes),
    probabilities,
    computeMs: num(r.compute_ms),
    maxPayment: String(r.max_payment),
    fee: String(r.fee),
    payout: String(r.payout),
    signature: String(r.signature),
    createdAt: num(r.created_at),
  };
}

export class SqliteInferenceTable {
  constructor(
    private readonly db: Database.Database,
    private readonly stmt: (sql: string) => Database.Statement,
  ) {}

  get(inferenceJobId: number): InferenceRecord | null {
    const r = this.stmt("SELECT * FROM inferences WHERE inference_job_id = ?").get(inferenceJobId) as Row | undefined;
    return r ? toInference(r) : null;
  }

  /** Insert unless the job has a row; answer the row that is stored. Runs inside the caller's durable transaction. */
  saveOnce(i: InferenceRecord): InferenceRecord {
    const p = i.probabilities;
    this.stmt(
      `INSERT INTO inferences (inference_job_id, model_job_id, requester, model_hash, input_sha256, count, classes, probabilities,
         compute_ms, max_payment, fee, payout, signature, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (inference_job_id) DO NOTHING`,
    ).run(
      i.inferenceJobId, i.modelJobId, i.requester, i.modelHash, i.inputSha256, i.count, i.classes,
      Buffer.from(p.buffer, p.byteOffset, p.byteLength), i.computeMs, i.maxPayment, i.fee, i.payout, i.signature, i.createdAt,
    );
    return this.get(i.inferenceJobId)!;
  }
}
