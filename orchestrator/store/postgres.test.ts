import t from "tap";
import pg from "pg";
import { PostgresRepository } from "./postgres.js";
import { PG_MIGRATIONS } from "./postgres-schema.js";
import { storeSuite } from "./repository-suite.js";
import { findPostgres, freePort, startPostgres } from "../testing/postgres.js";
import { DEFAULT_SETTINGS } from "../../protocol/settings.js";
import { SMALL_SPEC } from "../testing/fixtures.js";

const found = findPostgres();
if ("missing" in found) {
  t.comment(`skipped: ${found.missing}`);
  t.pass(`skipped: ${found.missing}`);
  process.exit(0);
}

const server = await startPostgres();
t.teardown(() => server.stop());
let n = 0;
const freshUrl = () => server.createDatabase(`suite_${++n}`);

storeSuite(t, {
  name: "postgres",
  async fresh() {
    const url = await freshUrl();
    return { open: () => PostgresRepository.open(url) };
  },
});

async function admin<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

t.test("bad URLs, a refused connection, an unknown database: clear errors with a fix", async (t) => {
  await t.rejects(PostgresRepository.open("mysql://u@h/db"), { code: "BAD_DATABASE_URL", fix: /postgres:\/\// });
  await t.rejects(PostgresRepository.open("not a url"), { code: "BAD_DATABASE_URL" });
  await t.rejects(PostgresRepository.open("postgres://h"), { code: "BAD_DATABASE_URL", message: /no host or no database/ });
  const closed = await freePort();
  const refused = PostgresRepository.open(`postgres://postgres:secret@127.0.0.1:${closed}/x`);
  await t.rejects(refused, { code: "DATABASE_UNREACHABLE", fix: /start the PostgreSQL server/ });
  await refused.catch((e: Error) => t.notMatch(e.message, /secret/, "the password is not shown"));
  await t.rejects(PostgresRepository.open(`postgres://postgres@127.0.0.1:${server.port}/no_such_db`), { code: "DATABASE_REFUSED", fix: /create it first/ });
});

t.test("an older schema is migrated keeping its rows; a newer one is refused and left alone", async (t) => {
  const url = await freshUrl();
  await admin(url, async (c) => {
    await c.query("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)");
    await c.query(PG_MIGRATIONS[0]);
    await c.query("INSERT INTO schema_migrations VALUES (1, 0)");
    await c.query("INSERT INTO meta (key, value) VALUES ('kept', 'yes')");
  });
  const repo = await PostgresRepository.open(url);
  t.equal(await repo.getMeta("kept"), "yes");
  t.equal(await repo.getInference(1), null, "tables of later migrations exist");
  await repo.close();
  const versions = await admin(url, async (c) => (await c.query("SELECT version FROM schema_migrations ORDER BY version")).rows.map((r) => r.version));
  t.same(versions, PG_MIGRATIONS.map((_, i) => i + 1));

  await admin(url, (c) => c.query("INSERT INTO schema_migrations VALUES ($1, 0)", [PG_MIGRATIONS.length + 1]));
  await t.rejects(PostgresRepository.open(url), { code: "DATABASE_SCHEMA_TOO_NEW", details: { version: PG_MIGRATIONS.length + 1 } });
  t.equal(await admin(url, async (c) => (await c.query("SELECT value FROM meta WHERE key = 'kept'")).rows[0].value), "yes");
});

t.test("instances starting together migrate once", async (t) => {
  const url = await freshUrl();
  const repos = await Promise.all([PostgresRepository.open(url), PostgresRepository.open(url), PostgresRepository.open(url)]);
  await Promise.all(repos.map((r) => r.close()));
  const count = await admin(url, async (c) => Number((await c.query("SELECT COUNT(*) AS n FROM schema_migrations")).rows[0].n));
  t.equal(count, PG_MIGRATIONS.length);
});

t.test("the connection dropped mid-transaction: DATABASE_UNREACHABLE, nothing half-written, the retry succeeds", async (t) => {
  const url = await freshUrl();
  const repo = await PostgresRepository.open(url);
  t.teardown(() => repo.close());
  await repo.insertDraft({ id: "d1", uploader: "0xA", spec: SMALL_SPEC, settings: DEFAULT_SETTINGS, createdAt: 1, modelHash: "0x9",
    validationHash: "0x8", validationFormat: "idx", validationSamples: 10, jobId: null });
  const ev = { txHash: "0x1", logIndex: 0, blockNumber: 1, source: "TrainingPool", name: "TrainingJobCreated", args: {} };
  const job = { jobId: 1, draftId: "d1", requester: "0xA", evaluator: "0xE", initialModelHash: "0x9", spec: SMALL_SPEC, settings: DEFAULT_SETTINGS,
    validationHash: "0x8", createdAt: 1, chain: { txHash: "0x1", blockNumber: 1, totalRewardPool: "1", roundBudget: "1", maxPerContributor: "1", flatPerUpdate: "0", deadline: 1, claimWindow: 0 } };
  await repo.activateJob({ event: ev, draftId: "d1", job, round0: { openedAt: 1, deadlineAt: 2 } });

  // Another session holds the round's row; the update's transaction waits on it and is then cut off.
  const holder = new pg.Client({ connectionString: url });
  await holder.connect();
  t.teardown(() => holder.end());
  await holder.query("BEGIN");
  await holder.query("SELECT * FROM rounds WHERE job_id = 1 AND round = 0 FOR UPDATE");
  const update = { jobId: 1, round: 0, contributor: "0xC", updateHash: "0x5", numSamples: 5, accuracyBps: 1, loss: 1, status: "accepted" as const, reason: null, signature: "0x", receivedAt: 1 };
  const pending = repo.acceptUpdate(update, 1);
  let waiting: number[] = [];
  for (let i = 0; i < 200 && waiting.length === 0; i++) {
    await new Promise((r) => setTimeout(r, 25));
    waiting = (await holder.query("SELECT pid FROM pg_stat_activity WHERE application_name = 'quackmesh' AND wait_event_type = 'Lock'")).rows.map((r) => r.pid);
  }
  t.equal(waiting.length, 1, "the update waits inside its transaction");
  await holder.query("SELECT pg_terminate_backend($1)", [waiting[0]]);
  await t.rejects(pending, { code: "DATABASE_UNREACHABLE", message: /can be retried/ });
  await holder.query("ROLLBACK");
  t.equal(await repo.getUpdate(1, 0, "0xC"), null, "nothing was written");
  t.equal((await repo.getRound(1, 0))!.status, "open");
  t.same(await repo.acceptUpdate(update, 1), { ok: true, closing: true, acceptedCount: 1 }, "the same call succeeds on a new connection");
});
