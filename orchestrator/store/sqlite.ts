/**
 * The Repository on SQLite (better-sqlite3) in WAL mode. Rare state changes (activation, round
 * close, chain cursor) commit with synchronous=FULL. Accepting an update, the hot path, commits
 * with NORMAL and then fdatasyncs the WAL off the event loop before it resolves, shared by the
 * commits waiting at that moment: the same guarantee as FULL (the answered update is on disk)
 * without blocking every other request on the disk. Everything else uses NORMAL, which already
 * survives a killed process.
 */
import Database from "better-sqlite3";
import { open, type FileHandle } from "node:fs/promises";
import type {
  AcceptResult,
  ActivateInput,
  ChainEventQuery,
  ChainEventRecord,
  ClusterMachinePatch,
  ClusterMachineRecord,
  ClusterSpecRecord,
  CompleteRoundInput,
  DowntimeSpan,
  DraftRecord,
  InferenceRecord,
  LivenessRow,
  JobRecord,
  MarketMachineRecord,
  Repository,
  RoundRecord,
  RoundStatus,
  UpdateRecord,
  UpdateStatus,
} from "./repository.js";
import { SqliteClusterTables } from "./sqlite-cluster.js";
import { SqliteInferenceTable } from "./sqlite-inference.js";
import { SqliteMarketTables } from "./sqlite-market.js";
import { MIGRATIONS } from "./sqlite-schema.js";

import { num, toDraft, toEvent, toJob, toRound, toUpdate, type Row } from "./sqlite-rows.js";

export class SqliteRepository implements Repository {
  private readonly db: Database.Database;
  private wal: Promise<FileHandle> | undefined;
  private syncing: Promise<void> | null = null;
  private syncAgain: Promise<void> | null = null;
  private insertsSincePrune = 0;
  private readonly statements = new Map<string, Database.Statement>();
  private readonly cluster: SqliteClusterTables;
  private readonly inference: SqliteInferenceTable;
  private readonly market: SqliteMarketTables;

  constructor(private readonly file: string) {
    this.db = new Database(file);
    this.db.pragma("journal_mode = WAL");
    this.db.pragma("synchronous = NORMAL");
    this.db.pragma("foreign_keys = ON");
    this.db.pragma("busy_timeout = 5000");
    this.migrate();
    this.cluster = new SqliteClusterTables(this.db, (sql) => this.stmt(sql));
    this.inference = new SqliteInferenceTable(this.db, (sql) => this.stmt(sql));
    this.market = new SqliteMarketTables(this.db, (sql) => this.stmt(sql));
  }

  private migrate(): void {
    const version = this.db.pragma("user_version", { simple: true }) as number;
    for (let v = version; v < MIGRATIONS.length; v++) {
      this.db.transaction(() => {
        this.db.exec(MIGRATIONS[v]);
        this.db.pragma(`user_version = ${v + 1}`);
      })();
    }
  }

  /** Prepared once per SQL text. */
  private stmt(sql: string): Database.Statement {
    let st = this.statements.get(sql);
    if (!st) this.statements.set(sql, (st = this.db.prepare(sql)));
    return st;
  }

  /** Run a write with synchronous=FULL: the commit is on disk when this returns. */
  private durably<T>(fn: () => T): T {
    this.db.pragma("synchronous = FULL");
    try {
      return this.db.transaction(fn).immediate();
    } finally {
      this.db.pragma("synchronous = NORMAL");
    }
  }

  /**
   * Make every commit made so far durable: fdatasync the WAL in the thread pool. A call that
   * comes while a sync runs waits for the next one (its commit may have missed the running one);
   * all calls that come meanwhile share that next sync.
   */
  private syncWal(): Promise<void> {
    if (!this.syncing) {
      this.syncing = this.fdatasyncWal().finally(() => (this.syncing = null));
      return this.syncing;
    }
    this.syncAgain ??= this.syncing.then(() => {
      this.syncAgain = null;
      return this.syncWal();
    });
    return this.syncAgain;
  }

  private async fdatasyncWal(): Promise<void> {
    this.wal ??= open(this.file + "-wal", "r");
    await (await this.wal).datasync();
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.syncing, this.syncAgain]);
    if (this.wal) await (await this.wal).close().catch(() => undefined);
    if (this.db.open) this.db.close();
  }

  async getMeta(key: string): Promise<string | null> {
    const r = this.stmt("SELECT value FROM meta WHERE key = ?").get(key) as Row | undefined;
    return r ? String(r.value) : null;
  }

  async setMeta(key: string, value: string): Promise<void> {
    this.stmt("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value").run(key, value);
  }

  async useRequestId(id: string, expiresAt: number, now: number): Promise<boolean> {
    return this.db.transaction(() => {
      // Expired ids are dropped now and then, not on every request.
      if (++this.insertsSincePrune >= 500) {
        this.insertsSincePrune = 0;
        this.stmt("DELETE FROM seen_requests WHERE expires_at < ?").run(now);
      }
      const expired = this.stmt("SELECT expires_at FROM seen_requests WHERE id = ?").get(id) as Row | undefined;
      if (expired && num(expired.expires_at) < now) this.stmt("DELETE FROM seen_requests WHERE id = ?").run(id);
      const r = this.stmt("INSERT INTO seen_requests (id, expires_at) VALUES (?, ?) ON CONFLICT (id) DO NOTHING").run(id, expiresAt);
      return r.changes === 1;
    }).immediate();
  }

  async insertDraft(d: DraftRecord): Promise<void> {
    this.db
      .prepare(
        `INSERT INTO drafts (id, uploader, spec, settings, created_at, model_hash, validation_hash, validation_format, validation_samples, job_id)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(d.id, d.uploader, JSON.stringify(d.spec), JSON.stringify(d.settings), d.createdAt, d.modelHash, d.validationHash, d.validationFormat, d.validationSamples, d.jobId);
  }

  async getDraft(id: string): Promise<DraftRecord | null> {
    const r = this.stmt("SELECT * FROM drafts WHERE id = ?").get(id) as Row | undefined;
    return r ? toDraft(r) : null;
  }

  async setDraftWeights(id: string, modelHash: string): Promise<void> {
    this.stmt("UPDATE drafts SET model_hash = ? WHERE id = ? AND job_id IS NULL").run(modelHash, id);
  }

  async setDraftValidation(id: string, v: { hash: string; format: string; samples: number }): Promise<void> {
    this.db
      .prepare("UPDATE drafts SET validation_hash = ?, validation_format = ?, validation_samples = ? WHERE id = ? AND job_id IS NULL")
      .run(v.hash, v.format, v.samples, id);
  }

  async findReadyDrafts(modelHash: string, uploader: string): Promise<DraftRecord[]> {
    const rows = this.db
      .prepare(
        `SELECT * FROM drafts WHERE model_hash = ? AND uploader = ? AND validation_hash IS NOT NULL AND job_id IS NULL
         ORDER BY created_at, id`,
      )
      .all(modelHash, uploader) as Row[];
    return rows.map(toDraft);
  }

  async listOpenDrafts(uploader: string, since: number): Promise<DraftRecord[]> {
    const rows = this.stmt("SELECT * FROM drafts WHERE uploader = ? AND job_id IS NULL AND created_at >= ? ORDER BY created_at, id").all(uploader, since) as Row[];
    return rows.map(toDraft);
  }

  async getChainCursor(source: string): Promise<number | null> {
    const r = this.stmt("SELECT block FROM chain_cursors WHERE source = ?").get(source) as Row | undefined;
    return r ? num(r.block) : null;
  }

  async recordChainEvents(source: string, toBlock: number, events: ChainEventRecord[]): Promise<ChainEventRecord[]> {
    return this.durably(() => {
      const fresh: ChainEventRecord[] = [];
      const insert = this.stmt(
        `INSERT INTO chain_events (tx_hash, log_index, block, source, name, args) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (tx_hash, log_index) DO NOTHING`,
      );
      for (const e of events) {
        const r = insert.run(e.txHash, e.logIndex, e.blockNumber, e.source, e.name, JSON.stringify(e.args));
        if (r.changes === 1) fresh.push(e);
      }
      this.db
        .prepare("INSERT INTO chain_cursors (source, block) VALUES (?, ?) ON CONFLICT (source) DO UPDATE SET block = MAX(block, excluded.block)")
        .run(source, toBlock);
      return fresh;
    });
  }

  async unhandledChainEvents(name: string): Promise<ChainEventRecord[]> {
    const rows = this.stmt("SELECT * FROM chain_events WHERE name = ? AND handled = 0 ORDER BY block, log_index").all(name) as Row[];
    return rows.map(toEvent);
  }

  async markChainEventHandled(txHash: string, logIndex: number, note: string): Promise<void> {
    this.stmt("UPDATE chain_events SET handled = 1, note = ? WHERE tx_hash = ? AND log_index = ?").run(note, txHash, logIndex);
  }

  async queryChainEvents(q: ChainEventQuery): Promise<ChainEventRecord[]> {
    const where: string[] = [];
    const params: Array<string | number> = [];
    const oneOf = (column: string, values: string[] | undefined) => {
      if (!values) return;
      where.push(values.length ? `${column} IN (${values.map(() => "?").join(", ")})` : "0");
      params.push(...values);
    };
    oneOf("source", q.sources);
    oneOf("name", q.names);
    if (q.address !== undefined) {
      // Arguments are stored as JSON text; an address argument is a quoted 0x + 40 hex string.
      // The pattern holds no LIKE wildcards (checked), and LIKE ignores ASCII case.
      if (!/^0x[0-9a-fA-F]{40}$/.test(q.address)) throw new Error(`not an address: ${q.address}`);
      where.push("args LIKE ?");
      params.push(`%"${q.address}"%`);
    }
    const dir = q.ascending ? "ASC" : "DESC";
    if (q.before) {
      where.push(q.ascending ? "(block > ? OR (block = ? AND log_index > ?))" : "(block < ? OR (block = ? AND log_index < ?))");
      params.push(q.before.blockNumber, q.before.blockNumber, q.before.logIndex);
    }
    const sql = `SELECT * FROM chain_events ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY block ${dir}, log_index ${dir} LIMIT ?`;
    return (this.db.prepare(sql).all(...params, Math.max(0, Math.floor(q.limit))) as Row[]).map(toEvent);
  }

  async activateJob(input: ActivateInput): Promise<JobRecord | null> {
    const { job, event, round0 } = input;
    const done = this.durably(() => {
      const exists = this.stmt("SELECT 1 FROM jobs WHERE job_id = ?").get(job.jobId);
      if (!exists) {
        const bound = this.stmt("UPDATE drafts SET job_id = ? WHERE id = ? AND job_id IS NULL").run(job.jobId, input.draftId);
        if (bound.changes !== 1) return false;
        this.db
          .prepare(
            `INSERT INTO jobs (job_id, draft_id, requester, evaluator, initial_model_hash, spec, settings, validation_hash, status,
               current_round, model_hash, created_at, finished_at, chain)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'active', 0, ?, ?, NULL, ?)`,
          )
          .run(job.jobId, input.draftId, job.requester, job.evaluator, job.initialModelHash, JSON.stringify(job.spec), JSON.stringify(job.settings),
            job.validationHash, job.initialModelHash, job.createdAt, JSON.stringify(job.chain));
        this.db
          .prepare(`INSERT INTO rounds (job_id, round, status, opened_at, deadline_at, input_model_hash) VALUES (?, 0, 'open', ?, ?, ?)`)
          .run(job.jobId, round0.openedAt, round0.deadlineAt, job.initialModelHash);
      }
      this.db
        .prepare("UPDATE chain_events SET handled = 1, note = ? WHERE tx_hash = ? AND log_index = ?")
        .run(`activated job ${job.jobId} from draft ${input.draftId}`, event.txHash, event.logIndex);
      return true;
    });
    return done ? this.getJob(job.jobId) : null;
  }

  async getJob(jobId: number): Promise<JobRecord | null> {
    const r = this.stmt("SELECT * FROM jobs WHERE job_id = ?").get(jobId) as Row | undefined;
    return r ? toJob(r) : null;
  }

  async listJobs(): Promise<JobRecord[]> {
    return (this.stmt("SELECT * FROM jobs ORDER BY job_id").all() as Row[]).map(toJob);
  }

  async getRound(jobId: number, round: number): Promise<RoundRecord | null> {
    const r = this.stmt("SELECT * FROM rounds WHERE job_id = ? AND round = ?").get(jobId, round) as Row | undefined;
    return r ? toRound(r) : null;
  }

  async listRounds(jobId: number): Promise<RoundRecord[]> {
    return (this.stmt("SELECT * FROM rounds WHERE job_id = ? ORDER BY round").all(jobId) as Row[]).map(toRound);
  }

  async roundsWithStatus(status: RoundStatus): Promise<RoundRecord[]> {
    return (this.stmt("SELECT * FROM rounds WHERE status = ? ORDER BY job_id, round").all(status) as Row[]).map(toRound);
  }

  async markRoundClosing(jobId: number, round: number): Promise<boolean> {
    return this.durably(() => {
      const r = this.stmt("UPDATE rounds SET status = 'closing' WHERE job_id = ? AND round = ? AND status = 'open'").run(jobId, round);
      return r.changes === 1;
    });
  }

  async extendRound(jobId: number, round: number, deadlineAt: number): Promise<void> {
    this.db
      .prepare("UPDATE rounds SET deadline_at = ?, extensions = extensions + 1 WHERE job_id = ? AND round = ? AND status = 'open'")
      .run(deadlineAt, jobId, round);
  }

  async completeRound(c: CompleteRoundInput): Promise<void> {
    this.durably(() => {
      const r = this.db
        .prepare(
          `UPDATE rounds SET status = 'closed', closed_at = ?, model_hash = ?, accuracy = ?, loss = ?, contributors = ?, update_hashes = ?, rewards = ?
           WHERE job_id = ? AND round = ? AND status != 'closed'`,
        )
        .run(c.closedAt, c.modelHash, c.accuracy, c.loss, JSON.stringify(c.contributors), JSON.stringify(c.updateHashes), JSON.stringify(c.rewards), c.jobId, c.round);
      if (r.changes === 0) return; // already closed: a repeated close changes nothing
      if (c.next) {
        this.db
          .prepare(`INSERT INTO rounds (job_id, round, status, opened_at, deadline_at, input_model_hash) VALUES (?, ?, 'open', ?, ?, ?)`)
          .run(c.jobId, c.round + 1, c.next.openedAt, c.next.deadlineAt, c.modelHash);
        this.stmt("UPDATE jobs SET current_round = ?, model_hash = ? WHERE job_id = ?").run(c.round + 1, c.modelHash, c.jobId);
      } else {
        this.db
          .prepare("UPDATE jobs SET status = 'finished', model_hash = ?, finished_at = ? WHERE job_id = ?")
          .run(c.modelHash, c.closedAt, c.jobId);
      }
    });
  }

  async endJobEarly(jobId: number, now: number, keepOpen: boolean): Promise<JobRecord | null> {
    this.durably(() => {
      const row = this.stmt("SELECT * FROM jobs WHERE job_id = ?").get(jobId) as Row | undefined;
      if (!row || row.status !== "active") return;
      const job = toJob(row);
      const round = job.currentRound;
      const r = this.stmt("SELECT status FROM rounds WHERE job_id = ? AND round = ?").get(jobId, round) as Row | undefined;
      // Work already done in the round (an accepted update, a close under way) is kept and paid.
      const worked =
        r !== undefined &&
        (r.status !== "open" || this.stmt("SELECT 1 FROM updates WHERE job_id = ? AND round = ? AND status = 'accepted' LIMIT 1").get(jobId, round) !== undefined);
      const rounds = Math.min(job.settings.rounds, keepOpen && worked ? round + 1 : round);
      this.stmt("UPDATE jobs SET settings = ? WHERE job_id = ?").run(JSON.stringify({ ...job.settings, rounds }), jobId);
      if (rounds === round) {
        this.stmt("DELETE FROM rounds WHERE job_id = ? AND round = ?").run(jobId, round);
        this.stmt("UPDATE jobs SET status = 'finished', finished_at = ? WHERE job_id = ?").run(now, jobId);
      }
    });
    return this.getJob(jobId);
  }

  async getUpdate(jobId: number, round: number, contributor: string): Promise<UpdateRecord | null> {
    const r = this.stmt("SELECT * FROM updates WHERE job_id = ? AND round = ? AND contributor = ?").get(jobId, round, contributor) as
      | Row
      | undefined;
    return r ? toUpdate(r) : null;
  }

  private insertUpdate(u: UpdateRecord, minUpdates: number | null): AcceptResult {
    const round = this.stmt("SELECT status FROM rounds WHERE job_id = ? AND round = ?").get(u.jobId, u.round) as Row | undefined;
    if (!round || round.status !== "open") return { ok: false, reason: "ROUND_CLOSED" };
    const existing = this.stmt("SELECT * FROM updates WHERE job_id = ? AND round = ? AND contributor = ?").get(u.jobId, u.round, u.contributor) as
      | Row
      | undefined;
    if (existing) return { ok: false, reason: "DUPLICATE_UPDATE", existing: toUpdate(existing) };
    this.db
      .prepare(
        `INSERT INTO updates (job_id, round, contributor, update_hash, num_samples, accuracy_bps, loss, status, reason, signature, received_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(u.jobId, u.round, u.contributor, u.updateHash, u.numSamples, u.accuracyBps, u.loss, u.status, u.reason, u.signature, u.receivedAt);
    const count = num(
      (this.stmt("SELECT COUNT(*) AS n FROM updates WHERE job_id = ? AND round = ? AND status = 'accepted'").get(u.jobId, u.round) as Row).n,
    );
    const closing = minUpdates !== null && count >= minUpdates;
    if (closing) this.stmt("UPDATE rounds SET status = 'closing' WHERE job_id = ? AND round = ?").run(u.jobId, u.round);
    return { ok: true, closing, acceptedCount: count };
  }

  async acceptUpdate(update: UpdateRecord, minUpdates: number): Promise<AcceptResult> {
    const result = this.db.transaction(() => this.insertUpdate(update, minUpdates)).immediate();
    if (result.ok) await this.syncWal();
    return result;
  }

  async rejectUpdate(update: UpdateRecord): Promise<AcceptResult> {
    return this.db.transaction(() => this.insertUpdate(update, null)).immediate();
  }

  async listUpdates(jobId: number, round: number, status: UpdateStatus): Promise<UpdateRecord[]> {
    const rows = this.db
      .prepare("SELECT * FROM updates WHERE job_id = ? AND round = ? AND status = ? ORDER BY update_hash, contributor")
      .all(jobId, round, status) as Row[];
    return rows.map(toUpdate);
  }

  async countUpdates(jobId: number): Promise<{ accepted: number; rejected: number }> {
    const rows = this.stmt("SELECT status, COUNT(*) AS n FROM updates WHERE job_id = ? GROUP BY status").all(jobId) as Row[];
    const out = { accepted: 0, rejected: 0 };
    for (const r of rows) if (r.status === "accepted" || r.status === "rejected") out[r.status] = num(r.n);
    return out;
  }

  async listJobUpdates(jobId: number): Promise<UpdateRecord[]> {
    return (this.stmt("SELECT * FROM updates WHERE job_id = ? ORDER BY round, contributor").all(jobId) as Row[]).map(toUpdate);
  }

  async listContributorUpdates(contributor: string, limit: number): Promise<UpdateRecord[]> {
    const rows = this.stmt("SELECT * FROM updates WHERE lower(contributor) = lower(?) ORDER BY received_at DESC, job_id DESC, round DESC LIMIT ?").all(contributor, limit) as Row[];
    return rows.map(toUpdate);
  }

  async listClusterMachines(jobId: number): Promise<ClusterMachineRecord[]> {
    return this.cluster.listMachines(jobId);
  }

  async upsertClusterMachine(m: ClusterMachineRecord): Promise<void> {
    return this.cluster.upsertMachine(m);
  }

  async updateClusterMachine(jobId: number, machineId: number, patch: ClusterMachinePatch): Promise<boolean> {
    return this.cluster.updateMachine(jobId, machineId, patch);
  }

  async findClusterMachineByRental(rentalId: number): Promise<ClusterMachineRecord | null> {
    return this.cluster.machineByRental(rentalId);
  }

  async clusterMachinesWithStatus(statuses: string[]): Promise<ClusterMachineRecord[]> {
    return this.cluster.machinesWithStatus(statuses);
  }

  async getClusterSpec(draftId: string): Promise<ClusterSpecRecord | null> {
    return this.cluster.getSpec(draftId);
  }

  async saveClusterSpec(spec: ClusterSpecRecord): Promise<void> {
    return this.cluster.saveSpec(spec);
  }

  async saveMarketMachine(m: MarketMachineRecord): Promise<void> {
    return this.cluster.saveMarketMachine(m);
  }

  async getMarketMachine(machineId: number): Promise<MarketMachineRecord | null> {
    return this.cluster.getMarketMachine(machineId);
  }

  async saveLiveness(record: LivenessRow, maxMachines: number): Promise<LivenessRow> {
    return this.market.saveLiveness(record, maxMachines);
  }

  async listLiveness(): Promise<LivenessRow[]> {
    return this.market.listLiveness();
  }

  async markRentalDown(rentalId: string, at: number): Promise<void> {
    // Durable: a downtime statement that pays out is signed from these rows.
    this.durably(() => this.market.markDown(rentalId, at));
  }

  async markRentalUp(rentalId: string, at: number): Promise<void> {
    this.durably(() => this.market.markUp(rentalId, at));
  }

  async listRentalDowntime(rentalId: string): Promise<DowntimeSpan[]> {
    return this.market.spans(rentalId);
  }

  async getInference(inferenceJobId: number): Promise<InferenceRecord | null> {
    return this.inference.get(inferenceJobId);
  }

  async saveInference(record: InferenceRecord): Promise<InferenceRecord> {
    // Durable before the answer: the signed statement it holds pays out on chain.
    return this.durably(() => this.inference.saveOnce(record));
  }

}
