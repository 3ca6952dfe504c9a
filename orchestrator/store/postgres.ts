/**
 * The Repository on PostgreSQL (npm `pg`), for operators whose orchestrators share one database.
 * Every method is one transaction on one pooled connection; the rows that decide a race (a
 * round, a draft) are locked with SELECT … FOR UPDATE, so several orchestrators on the same
 * database accept, close and activate exactly as one does. Migrations run at open inside one
 * transaction under an advisory lock: instances starting together migrate once, and a failed
 * migration leaves the schema as it was. A database migrated by a newer version is refused.
 */
import pg from "pg";
import { QuackError } from "../../protocol/errors.js";
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
import { PostgresCoordinator } from "./coordination.js";
import { PG_MIGRATIONS } from "./postgres-schema.js";
import { NO_EXTRAS, defined, machineValues, toClusterMachine, toClusterSpec, toMarketMachine } from "./sqlite-cluster.js";
import { toInference } from "./sqlite-inference.js";
import { MARKET_SQL, toDowntimeSpan, toLiveness } from "./sqlite-market.js";
import { num, toDraft, toEvent, toJob, toRound, toUpdate, type Row } from "./sqlite-rows.js";

type Client = pg.PoolClient;

/** Key of the advisory lock that serializes migrations across instances. */
const MIGRATION_LOCK = 0x51_4d_4d_01;

/** Connection failures: the server is down, unreachable, restarting or went away mid-request. */
const UNREACHABLE_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "ENOTFOUND", "EAI_AGAIN", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "EPIPE"]);

/** `postgres://user:***@host:port/db`: a URL fit for messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return "(unparsable URL)";
  }
}

/** Check a database URL before connecting; BAD_DATABASE_URL with a fix when it cannot be one. */
export function parseDatabaseUrl(url: string): URL {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new QuackError("BAD_DATABASE_URL", `The database URL "${url.replace(/:[^:@/]*@/, ":***@")}" is not a URL.`, {
      fix: "give --database (or QUACKMESH_DATABASE_URL) as postgres://USER:PASSWORD@HOST:5432/DATABASE",
    });
  }
  if (u.protocol !== "postgres:" && u.protocol !== "postgresql:") {
    throw new QuackError("BAD_DATABASE_URL", `The database URL ${redactUrl(url)} is not a postgres:// URL (only PostgreSQL is supported besides the built-in SQLite).`, {
      fix: "give a postgres://USER:PASSWORD@HOST:5432/DATABASE URL, or leave --database out to use SQLite in the data dir",
    });
  }
  if (!u.hostname || u.pathname.length <= 1) {
    throw new QuackError("BAD_DATABASE_URL", `The database URL ${redactUrl(url)} names no host or no database.`, {
      fix: "give a postgres://USER:PASSWORD@HOST:5432/DATABASE URL",
    });
  }
  return u;
}

/** A driver error as the product's error when it is about the connection; anything else unchanged. */
export function databaseError(err: unknown, url: string): unknown {
  if (err instanceof QuackError) return err;
  const e = err as { code?: string; message?: string };
  const code = typeof e?.code === "string" ? e.code : "";
  const where = redactUrl(url);
  if (code === "28P01" || code === "28000") {
    return new QuackError("DATABASE_REFUSED", `PostgreSQL at ${where} refused the login: ${e.message}.`, {
      fix: "check the user and password in the database URL", cause: err,
    });
  }
  if (code === "3D000") {
    return new QuackError("DATABASE_REFUSED", `PostgreSQL at ${where}: ${e.message}.`, {
      fix: "create it first (createdb NAME, or CREATE DATABASE on RDS) or correct the URL's database name", cause: err,
    });
  }
  const gone = UNREACHABLE_CODES.has(code) || code.startsWith("08") || code.startsWith("57P") ||
    /Connection terminated|timeout expired|connect ETIMEDOUT|Client has encountered a connection error/i.test(e?.message ?? "");
  if (gone) {
    return new QuackError("DATABASE_UNREACHABLE", `PostgreSQL at ${where} is not reachable (${code || e?.message}); nothing was written, the request can be retried.`, {
      fix: "start the PostgreSQL server, or check the host and port in the database URL and the firewall between them", cause: err,
    });
  }
  return err;
}

export interface PostgresOptions {
  /** Most connections this orchestrator opens (default 10). */
  maxConnections?: number;
  /** How long to wait for a connection, ms (default 5000). */
  connectTimeoutMs?: number;
}

export class PostgresRepository implements Repository {
  private insertsSincePrune = 0;

  private constructor(
    private readonly pool: pg.Pool,
    private readonly url: string,
  ) {}

  /** Connect, apply the migrations this version has, refuse a newer schema. */
  static async open(url: string, opts: PostgresOptions = {}): Promise<PostgresRepository> {
    parseDatabaseUrl(url);
    const pool = new pg.Pool({
      connectionString: url,
      max: opts.maxConnections ?? 10,
      connectionTimeoutMillis: opts.connectTimeoutMs ?? 5000,
      application_name: "quackmesh",
    });
    // An idle connection that breaks (server restart) must not crash the process; the next query reconnects.
    pool.on("error", () => undefined);
    const repo = new PostgresRepository(pool, url);
    try {
      await repo.migrate();
    } catch (err) {
      await pool.end().catch(() => undefined);
      throw databaseError(err, url);
    }
    return repo;
  }

  /** The schema version this code migrates a database to. */
  static readonly knownVersion = PG_MIGRATIONS.length;

  private async migrate(): Promise<void> {
    await this.tx(async (c) => {
      await c.query("SELECT pg_advisory_xact_lock($1)", [MIGRATION_LOCK]);
      await c.query("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)");
      const { rows } = await c.query("SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations");
      const version = num(rows[0].v);
      if (version > PG_MIGRATIONS.length) {
        throw new QuackError(
          "DATABASE_SCHEMA_TOO_NEW",
          `The database ${redactUrl(this.url)} has schema version ${version}; this QuackMesh knows up to ${PG_MIGRATIONS.length}.`,
          { fix: "run the QuackMesh version that migrated it (or newer) against this database", details: { version, known: PG_MIGRATIONS.length } },
        );
      }
      for (let v = version; v < PG_MIGRATIONS.length; v++) {
        await c.query(PG_MIGRATIONS[v]);
        await c.query("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)", [v + 1, Date.now()]);
      }
    });
  }

  /** Run `fn` in one transaction; a broken connection is dropped from the pool and reported as DATABASE_UNREACHABLE. */
  private async tx<T>(fn: (c: Client) => Promise<T>): Promise<T> {
    let c: Client;
    try {
      c = await this.pool.connect();
    } catch (err) {
      throw databaseError(err, this.url);
    }
    let broken: Error | undefined;
    // A checked-out connection that dies emits 'error'; unheard, that would crash the process.
    const onError = (err: Error) => (broken ??= err);
    c.on("error", onError);
    try {
      await c.query("BEGIN");
      const out = await fn(c);
      await c.query("COMMIT");
      return out;
    } catch (err) {
      await c.query("ROLLBACK").catch((e: Error) => (broken = e));
      const mapped = databaseError(err, this.url);
      if (mapped !== err) broken ??= err as Error;
      throw mapped;
    } finally {
      c.off("error", onError);
      c.release(broken);
    }
  }

  /** One statement outside any explicit transaction (it is its own). */
  private async q(sql: string, params: unknown[] = []): Promise<pg.QueryResult<Row>> {
    return this.tx((c) => c.query<Row>(sql, params));
  }

  private async one<T>(sql: string, params: unknown[], map: (r: Row) => T): Promise<T | null> {
    const { rows } = await this.q(sql, params);
    return rows.length ? map(rows[0]) : null;
  }

  private async many<T>(sql: string, params: unknown[], map: (r: Row) => T): Promise<T[]> {
    return (await this.q(sql, params)).rows.map(map);
  }

  async close(): Promise<void> {
    await this.pool.end().catch(() => undefined);
  }

  /** Locks shared with every orchestrator on this database, on a connection of their own. */
  coordinator(): PostgresCoordinator {
    return new PostgresCoordinator(this.url);
  }

  async getMeta(key: string): Promise<string | null> {
    return this.one("SELECT value FROM meta WHERE key = $1", [key], (r) => String(r.value));
  }

  async setMeta(key: string, value: string): Promise<void> {
    await this.q("INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value", [key, value]);
  }

  async useRequestId(id: string, expiresAt: number, now: number): Promise<boolean> {
    return this.tx(async (c) => {
      // Expired ids are dropped now and then, not on every request.
      if (++this.insertsSincePrune >= 500) {
        this.insertsSincePrune = 0;
        await c.query("DELETE FROM seen_requests WHERE expires_at < $1", [now]);
      }
      // New, or seen but expired: taken now. One statement, so two instances cannot both take it.
      const r = await c.query(
        `INSERT INTO seen_requests (id, expires_at) VALUES ($1, $2)
         ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at WHERE seen_requests.expires_at < $3`,
        [id, expiresAt, now],
      );
      return r.rowCount === 1;
    });
  }

  async insertDraft(d: DraftRecord): Promise<void> {
    await this.q(
      `INSERT INTO drafts (id, uploader, spec, settings, created_at, model_hash, validation_hash, validation_format, validation_samples, job_id)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
      [d.id, d.uploader, JSON.stringify(d.spec), JSON.stringify(d.settings), d.createdAt, d.modelHash, d.validationHash, d.validationFormat, d.validationSamples, d.jobId],
    );
  }

  async getDraft(id: string): Promise<DraftRecord | null> {
    return this.one("SELECT * FROM drafts WHERE id = $1", [id], toDraft);
  }

  async setDraftWeights(id: string, modelHash: string): Promise<void> {
    await this.q("UPDATE drafts SET model_hash = $1 WHERE id = $2 AND job_id IS NULL", [modelHash, id]);
  }

  async setDraftValidation(id: string, v: { hash: string; format: string; samples: number }): Promise<void> {
    await this.q(
      "UPDATE drafts SET validation_hash = $1, validation_format = $2, validation_samples = $3 WHERE id = $4 AND job_id IS NULL",
      [v.hash, v.format, v.samples, id],
    );
  }

  async findReadyDrafts(modelHash: string, uploader: string): Promise<DraftRecord[]> {
    return this.many(
      `SELECT * FROM drafts WHERE model_hash = $1 AND uploader = $2 AND validation_hash IS NOT NULL AND job_id IS NULL
       ORDER BY created_at, id COLLATE "C"`,
      [modelHash, uploader],
      toDraft,
    );
  }

  async listOpenDrafts(uploader: string, since: number): Promise<DraftRecord[]> {
    return this.many(
      `SELECT * FROM drafts WHERE uploader = $1 AND job_id IS NULL AND created_at >= $2 ORDER BY created_at, id COLLATE "C"`,
      [uploader, since],
      toDraft,
    );
  }

  async getChainCursor(source: string): Promise<number | null> {
    return this.one("SELECT block FROM chain_cursors WHERE source = $1", [source], (r) => num(r.block));
  }

  async recordChainEvents(source: string, toBlock: number, events: ChainEventRecord[]): Promise<ChainEventRecord[]> {
    return this.tx(async (c) => {
      const fresh: ChainEventRecord[] = [];
      for (const e of events) {
        const r = await c.query(
          `INSERT INTO chain_events (tx_hash, log_index, block, source, name, args) VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (tx_hash, log_index) DO NOTHING`,
          [e.txHash, e.logIndex, e.blockNumber, e.source, e.name, JSON.stringify(e.args)],
        );
        if (r.rowCount === 1) fresh.push(e);
      }
      await c.query(
        "INSERT INTO chain_cursors (source, block) VALUES ($1, $2) ON CONFLICT (source) DO UPDATE SET block = GREATEST(chain_cursors.block, excluded.block)",
        [source, toBlock],
      );
      return fresh;
    });
  }

  async unhandledChainEvents(name: string): Promise<ChainEventRecord[]> {
    return this.many("SELECT * FROM chain_events WHERE name = $1 AND handled = 0 ORDER BY block, log_index", [name], toEvent);
  }

  async markChainEventHandled(txHash: string, logIndex: number, note: string): Promise<void> {
    await this.q("UPDATE chain_events SET handled = 1, note = $1 WHERE tx_hash = $2 AND log_index = $3", [note, txHash, logIndex]);
  }

  async queryChainEvents(q: ChainEventQuery): Promise<ChainEventRecord[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    const param = (v: unknown) => `$${params.push(v)}`;
    if (q.sources) where.push(`source = ANY(${param(q.sources)}::text[])`);
    if (q.names) where.push(`name = ANY(${param(q.names)}::text[])`);
    if (q.address !== undefined) {
      // Arguments are stored as JSON text; an address argument is a quoted 0x + 40 hex string
      // (checked, so the pattern holds no LIKE wildcards); ILIKE ignores case as SQLite's LIKE does.
      if (!/^0x[0-9a-fA-F]{40}$/.test(q.address)) throw new Error(`not an address: ${q.address}`);
      where.push(`args ILIKE ${param(`%"${q.address}"%`)}`);
    }
    const dir = q.ascending ? "ASC" : "DESC";
    if (q.before) {
      const b = param(q.before.blockNumber);
      const l = param(q.before.logIndex);
      where.push(q.ascending ? `(block > ${b} OR (block = ${b} AND log_index > ${l}))` : `(block < ${b} OR (block = ${b} AND log_index < ${l}))`);
    }
    const limit = param(Math.max(0, Math.floor(q.limit)));
    const sql = `SELECT * FROM chain_events ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY block ${dir}, log_index ${dir} LIMIT ${limit}`;
    return this.many(sql, params, toEvent);
  }

  async activateJob(input: ActivateInput): Promise<JobRecord | null> {
    const { job, event, round0 } = input;
    return this.tx(async (c) => {
      // The draft row is the lock: two instances handling the same event activate once.
      await c.query("SELECT job_id FROM drafts WHERE id = $1 FOR UPDATE", [input.draftId]);
      const exists = await c.query("SELECT 1 FROM jobs WHERE job_id = $1", [job.jobId]);
      if (exists.rowCount === 0) {
        const bound = await c.query("UPDATE drafts SET job_id = $1 WHERE id = $2 AND job_id IS NULL", [job.jobId, input.draftId]);
        if (bound.rowCount !== 1) return null;
        await c.query(
          `INSERT INTO jobs (job_id, draft_id, requester, evaluator, initial_model_hash, spec, settings, validation_hash, status,
             current_round, model_hash, created_at, finished_at, chain)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'active', 0, $9, $10, NULL, $11)`,
          [job.jobId, input.draftId, job.requester, job.evaluator, job.initialModelHash, JSON.stringify(job.spec), JSON.stringify(job.settings),
            job.validationHash, job.initialModelHash, job.createdAt, JSON.stringify(job.chain)],
        );
        await c.query(
          "INSERT INTO rounds (job_id, round, status, opened_at, deadline_at, input_model_hash) VALUES ($1, 0, 'open', $2, $3, $4)",
          [job.jobId, round0.openedAt, round0.deadlineAt, job.initialModelHash],
        );
      }
      await c.query("UPDATE chain_events SET handled = 1, note = $1 WHERE tx_hash = $2 AND log_index = $3", [
        `activated job ${job.jobId} from draft ${input.draftId}`, event.txHash, event.logIndex,
      ]);
      const { rows } = await c.query<Row>("SELECT * FROM jobs WHERE job_id = $1", [job.jobId]);
      return rows.length ? toJob(rows[0]) : null;
    });
  }

  async getJob(jobId: number): Promise<JobRecord | null> {
    return this.one("SELECT * FROM jobs WHERE job_id = $1", [jobId], toJob);
  }

  async listJobs(): Promise<JobRecord[]> {
    return this.many("SELECT * FROM jobs ORDER BY job_id", [], toJob);
  }

  async getRound(jobId: number, round: number): Promise<RoundRecord | null> {
    return this.one("SELECT * FROM rounds WHERE job_id = $1 AND round = $2", [jobId, round], toRound);
  }

  async listRounds(jobId: number): Promise<RoundRecord[]> {
    return this.many("SELECT * FROM rounds WHERE job_id = $1 ORDER BY round", [jobId], toRound);
  }

  async roundsWithStatus(status: RoundStatus): Promise<RoundRecord[]> {
    return this.many("SELECT * FROM rounds WHERE status = $1 ORDER BY job_id, round", [status], toRound);
  }

  async markRoundClosing(jobId: number, round: number): Promise<boolean> {
    const r = await this.q("UPDATE rounds SET status = 'closing' WHERE job_id = $1 AND round = $2 AND status = 'open'", [jobId, round]);
    return r.rowCount === 1;
  }

  async extendRound(jobId: number, round: number, deadlineAt: number): Promise<void> {
    await this.q("UPDATE rounds SET deadline_at = $1, extensions = extensions + 1 WHERE job_id = $2 AND round = $3 AND status = 'open'", [
      deadlineAt, jobId, round,
    ]);
  }

  async completeRound(c: CompleteRoundInput): Promise<void> {
    await this.tx(async (db) => {
      // The row lock of the UPDATE makes a concurrent second close see 'closed' and change nothing.
      const r = await db.query(
        `UPDATE rounds SET status = 'closed', closed_at = $1, model_hash = $2, accuracy = $3, loss = $4, contributors = $5, update_hashes = $6, rewards = $7
         WHERE job_id = $8 AND round = $9 AND status != 'closed'`,
        [c.closedAt, c.modelHash, c.accuracy, c.loss, JSON.stringify(c.contributors), JSON.stringify(c.updateHashes), JSON.stringify(c.rewards), c.jobId, c.round],
      );
      if (r.rowCount === 0) return;
      if (c.next) {
        await db.query("INSERT INTO rounds (job_id, round, status, opened_at, deadline_at, input_model_hash) VALUES ($1, $2, 'open', $3, $4, $5)", [
          c.jobId, c.round + 1, c.next.openedAt, c.next.deadlineAt, c.modelHash,
        ]);
        await db.query("UPDATE jobs SET current_round = $1, model_hash = $2 WHERE job_id = $3", [c.round + 1, c.modelHash, c.jobId]);
      } else {
        await db.query("UPDATE jobs SET status = 'finished', model_hash = $1, finished_at = $2 WHERE job_id = $3", [c.modelHash, c.closedAt, c.jobId]);
      }
    });
  }

  async endJobEarly(jobId: number, now: number, keepOpen: boolean): Promise<JobRecord | null> {
    return this.tx(async (c) => {
      const row = (await c.query<Row>("SELECT * FROM jobs WHERE job_id = $1 FOR UPDATE", [jobId])).rows[0];
      if (!row) return null;
      if (row.status !== "active") return toJob(row);
      const job = toJob(row);
      const round = job.currentRound;
      // The round's row is locked too, so an update or a close on another instance waits for this.
      const r = (await c.query<Row>("SELECT status FROM rounds WHERE job_id = $1 AND round = $2 FOR UPDATE", [jobId, round])).rows[0];
      // Work already done in the round (an accepted update, a close under way) is kept and paid.
      const worked =
        r !== undefined &&
        (r.status !== "open" ||
          (await c.query("SELECT 1 FROM updates WHERE job_id = $1 AND round = $2 AND status = 'accepted' LIMIT 1", [jobId, round])).rowCount! > 0);
      const rounds = Math.min(job.settings.rounds, keepOpen && worked ? round + 1 : round);
      await c.query("UPDATE jobs SET settings = $1 WHERE job_id = $2", [JSON.stringify({ ...job.settings, rounds }), jobId]);
      if (rounds === round) {
        await c.query("DELETE FROM rounds WHERE job_id = $1 AND round = $2", [jobId, round]);
        await c.query("UPDATE jobs SET status = 'finished', finished_at = $1 WHERE job_id = $2", [now, jobId]);
      }
      return toJob((await c.query<Row>("SELECT * FROM jobs WHERE job_id = $1", [jobId])).rows[0]);
    });
  }

  async getUpdate(jobId: number, round: number, contributor: string): Promise<UpdateRecord | null> {
    return this.one("SELECT * FROM updates WHERE job_id = $1 AND round = $2 AND contributor = $3", [jobId, round, contributor], toUpdate);
  }

  private insertUpdate(u: UpdateRecord, minUpdates: number | null): Promise<AcceptResult> {
    return this.tx(async (c): Promise<AcceptResult> => {
      // Locking the round serializes the updates of one round across every instance.
      const round = await c.query<Row>("SELECT status FROM rounds WHERE job_id = $1 AND round = $2 FOR UPDATE", [u.jobId, u.round]);
      if (round.rowCount === 0 || round.rows[0].status !== "open") return { ok: false, reason: "ROUND_CLOSED" };
      const existing = await c.query<Row>("SELECT * FROM updates WHERE job_id = $1 AND round = $2 AND contributor = $3", [u.jobId, u.round, u.contributor]);
      if (existing.rowCount) return { ok: false, reason: "DUPLICATE_UPDATE", existing: toUpdate(existing.rows[0]) };
      await c.query(
        `INSERT INTO updates (job_id, round, contributor, update_hash, num_samples, accuracy_bps, loss, status, reason, signature, received_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
        [u.jobId, u.round, u.contributor, u.updateHash, u.numSamples, u.accuracyBps, u.loss, u.status, u.reason, u.signature, u.receivedAt],
      );
      const counted = await c.query<Row>("SELECT COUNT(*) AS n FROM updates WHERE job_id = $1 AND round = $2 AND status = 'accepted'", [u.jobId, u.round]);
      const count = num(counted.rows[0].n);
      const closing = minUpdates !== null && count >= minUpdates;
      if (closing) await c.query("UPDATE rounds SET status = 'closing' WHERE job_id = $1 AND round = $2", [u.jobId, u.round]);
      return { ok: true, closing, acceptedCount: count };
    });
  }

  async acceptUpdate(update: UpdateRecord, minUpdates: number): Promise<AcceptResult> {
    return this.insertUpdate(update, minUpdates);
  }

  async rejectUpdate(update: UpdateRecord): Promise<AcceptResult> {
    return this.insertUpdate(update, null);
  }

  async listUpdates(jobId: number, round: number, status: UpdateStatus): Promise<UpdateRecord[]> {
    // COLLATE "C": byte order, the order SQLite sorts in (aggregation depends on it).
    return this.many(
      `SELECT * FROM updates WHERE job_id = $1 AND round = $2 AND status = $3 ORDER BY update_hash COLLATE "C", contributor COLLATE "C"`,
      [jobId, round, status],
      toUpdate,
    );
  }

  async countUpdates(jobId: number): Promise<{ accepted: number; rejected: number }> {
    const rows = (await this.q("SELECT status, COUNT(*) AS n FROM updates WHERE job_id = $1 GROUP BY status", [jobId])).rows;
    const out = { accepted: 0, rejected: 0 };
    for (const r of rows) if (r.status === "accepted" || r.status === "rejected") out[r.status] = num(r.n);
    return out;
  }

  async listJobUpdates(jobId: number): Promise<UpdateRecord[]> {
    return this.many(`SELECT * FROM updates WHERE job_id = $1 ORDER BY round, contributor COLLATE "C"`, [jobId], toUpdate);
  }

  async listContributorUpdates(contributor: string, limit: number): Promise<UpdateRecord[]> {
    return this.many(
      "SELECT * FROM updates WHERE lower(contributor) = lower($1) ORDER BY received_at DESC, job_id DESC, round DESC LIMIT $2",
      [contributor, limit],
      toUpdate,
    );
  }

  async listClusterMachines(jobId: number): Promise<ClusterMachineRecord[]> {
    return this.many("SELECT * FROM cluster_machines WHERE job_id = $1 ORDER BY machine_id", [jobId], toClusterMachine);
  }

  async upsertClusterMachine(m: ClusterMachineRecord): Promise<void> {
    await this.tx(async (c) => {
      const stored = await c.query<Row>("SELECT * FROM cluster_machines WHERE job_id = $1 AND machine_id = $2 FOR UPDATE", [m.jobId, m.machineId]);
      const base = stored.rowCount ? toClusterMachine(stored.rows[0]) : { ...NO_EXTRAS, ...m };
      await writeMachine(c, { ...base, ...defined(m) } as Required<ClusterMachineRecord>);
    });
  }

  async updateClusterMachine(jobId: number, machineId: number, patch: ClusterMachinePatch): Promise<boolean> {
    return this.tx(async (c) => {
      const stored = await c.query<Row>("SELECT * FROM cluster_machines WHERE job_id = $1 AND machine_id = $2 FOR UPDATE", [jobId, machineId]);
      if (!stored.rowCount) return false;
      await writeMachine(c, { ...toClusterMachine(stored.rows[0]), ...defined(patch) });
      return true;
    });
  }

  async findClusterMachineByRental(rentalId: number): Promise<ClusterMachineRecord | null> {
    return this.one("SELECT * FROM cluster_machines WHERE rental_id = $1", [rentalId], toClusterMachine);
  }

  async clusterMachinesWithStatus(statuses: string[]): Promise<ClusterMachineRecord[]> {
    if (statuses.length === 0) return [];
    return this.many("SELECT * FROM cluster_machines WHERE status = ANY($1::text[]) ORDER BY job_id, rental_id NULLS FIRST", [statuses], toClusterMachine);
  }

  async getClusterSpec(draftId: string): Promise<ClusterSpecRecord | null> {
    return this.one("SELECT * FROM cluster_specs WHERE draft_id = $1", [draftId], toClusterSpec);
  }

  async saveClusterSpec(s: ClusterSpecRecord): Promise<void> {
    await this.q(
      `INSERT INTO cluster_specs (draft_id, owner, machines, train, ssh_private_key, key_fingerprint, train_hash, train_format, train_samples, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
       ON CONFLICT (draft_id) DO UPDATE SET owner = excluded.owner, machines = excluded.machines, train = excluded.train,
         ssh_private_key = excluded.ssh_private_key, key_fingerprint = excluded.key_fingerprint, train_hash = excluded.train_hash,
         train_format = excluded.train_format, train_samples = excluded.train_samples, updated_at = excluded.updated_at`,
      [s.draftId, s.owner, s.machines, JSON.stringify(s.train), s.sshPrivateKey, s.keyFingerprint, s.trainHash, s.trainFormat, s.trainSamples, s.updatedAt],
    );
  }

  async saveMarketMachine(m: MarketMachineRecord): Promise<void> {
    await this.q(
      `INSERT INTO market_machines (machine_id, provider, endpoint, specs, price_per_hour, block) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (machine_id) DO UPDATE SET provider = excluded.provider, endpoint = excluded.endpoint, specs = excluded.specs,
         price_per_hour = excluded.price_per_hour, block = excluded.block`,
      [m.machineId, m.provider, m.endpoint, m.specs, m.pricePerHour, m.block],
    );
  }

  async getMarketMachine(machineId: number): Promise<MarketMachineRecord | null> {
    return this.one("SELECT * FROM market_machines WHERE machine_id = $1", [machineId], toMarketMachine);
  }

  async saveLiveness(record: LivenessRow, maxMachines: number): Promise<LivenessRow> {
    return this.tx(async (c) => {
      // One writer at a time: the count and the eviction below must see every other writer's row.
      await c.query("LOCK TABLE market_liveness IN SHARE ROW EXCLUSIVE MODE");
      const seen = (await c.query<Row>(pgSql(MARKET_SQL.livenessOf), [record.machineId])).rows[0];
      if (seen && num(seen.at) >= record.at) return toLiveness(seen);
      if (!seen && num((await c.query<Row>(MARKET_SQL.livenessCount)).rows[0].n) >= maxMachines) await c.query(MARKET_SQL.dropOldestLiveness);
      await c.query(pgSql(MARKET_SQL.putLiveness), [record.machineId, record.provider, record.at, record.signature]);
      return toLiveness((await c.query<Row>(pgSql(MARKET_SQL.livenessOf), [record.machineId])).rows[0]);
    });
  }

  async listLiveness(): Promise<LivenessRow[]> {
    return this.many(MARKET_SQL.listLiveness, [], toLiveness);
  }

  async markRentalDown(rentalId: string, at: number): Promise<void> {
    await this.q(pgSql(MARKET_SQL.down), [rentalId, at]);
  }

  async markRentalUp(rentalId: string, at: number): Promise<void> {
    await this.q(pgSql(MARKET_SQL.up), [at, rentalId, at]);
  }

  async listRentalDowntime(rentalId: string): Promise<DowntimeSpan[]> {
    return this.many(pgSql(MARKET_SQL.spans), [rentalId], toDowntimeSpan);
  }

  async getInference(inferenceJobId: number): Promise<InferenceRecord | null> {
    return this.one("SELECT * FROM inferences WHERE inference_job_id = $1", [inferenceJobId], toInference);
  }

  async saveInference(i: InferenceRecord): Promise<InferenceRecord> {
    return this.tx(async (c) => {
      const p = i.probabilities;
      await c.query(
        `INSERT INTO inferences (inference_job_id, model_job_id, requester, model_hash, input_sha256, count, classes, probabilities,
           compute_ms, max_payment, fee, payout, signature, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) ON CONFLICT (inference_job_id) DO NOTHING`,
        [i.inferenceJobId, i.modelJobId, i.requester, i.modelHash, i.inputSha256, i.count, i.classes,
          Buffer.from(p.buffer, p.byteOffset, p.byteLength), i.computeMs, i.maxPayment, i.fee, i.payout, i.signature, i.createdAt],
      );
      const { rows } = await c.query<Row>("SELECT * FROM inferences WHERE inference_job_id = $1", [i.inferenceJobId]);
      return toInference(rows[0]);
    });
  }
}

/** SQLite's `?` placeholders as PostgreSQL's `$1, $2, …`. */
function pgSql(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

/** SQLite's INSERT OR REPLACE: the row of this machine, or of this rental, is replaced. */
async function writeMachine(c: Client, m: Required<ClusterMachineRecord>): Promise<void> {
  await c.query("DELETE FROM cluster_machines WHERE (job_id = $1 AND machine_id = $2) OR rental_id = $3", [m.jobId, m.machineId, m.rentalId]);
  await c.query(
    `INSERT INTO cluster_machines (job_id, machine_id, rental_id, provider, host, port, status, updated_at, username, renter,
       key_fingerprint, host_key, worker_address, worker_version, shard, last_heartbeat, error)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)`,
    machineValues(m),
  );
}
