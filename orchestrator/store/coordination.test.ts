import t from "tap";
import pg from "pg";
import { LocalCoordinator, PostgresCoordinator } from "./coordination.js";
import { findPostgres, startPostgres } from "../testing/postgres.js";

t.test("one process, one store: every lock is its own", async (t) => {
  const c = new LocalCoordinator();
  t.equal(c.shared, false);
  t.equal(await c.tryHold("chain-reader"), true);
  t.equal(await c.tryHold("chain-reader"), true);
});

const found = findPostgres();
if ("missing" in found) {
  t.pass(`skipped: ${found.missing}`);
} else {
  t.test("PostgreSQL advisory locks: one holder at a time; released or dead, another takes over", async (t) => {
    const server = await startPostgres();
    t.teardown(() => server.stop());
    const url = await server.createDatabase("locks");
    const a = new PostgresCoordinator(url);
    const b = new PostgresCoordinator(url);
    t.teardown(() => Promise.all([a.close(), b.close()]));
    t.equal(a.shared, true);
    t.same(await Promise.all([a.tryHold("chain-reader"), b.tryHold("chain-reader")]).then((r) => r.filter(Boolean).length), 1, "exactly one of two racing holds it");
    const [holder, other] = (await a.tryHold("chain-reader")) ? [a, b] : [b, a];
    t.equal(await holder.tryHold("chain-reader"), true, "held again by its holder");
    t.equal(await other.tryHold("round:1:0"), true, "other names are other locks");
    await holder.release("chain-reader");
    t.equal(await other.tryHold("chain-reader"), true, "released: the other takes it");
    t.equal(await holder.tryHold("chain-reader"), false);

    // The holder's connection dies (as when its process is killed): its locks go with it.
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    t.teardown(() => admin.end());
    const pids = (await admin.query("SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted")).rows.map((r) => r.pid);
    t.equal(new Set(pids).size, 1, "both locks on the other's one connection");
    await admin.query("SELECT pg_terminate_backend($1)", [pids[0]]);
    let took = false;
    for (let i = 0; i < 50 && !took; i++) {
      took = await holder.tryHold("chain-reader");
      if (!took) await new Promise((r) => setTimeout(r, 50));
    }
    t.ok(took, "the survivor takes the dead holder's lock");
    t.equal(await other.tryHold("chain-reader"), false, "the cut-off one does not believe it still holds it");
    t.equal(await other.tryHold("round:1:0"), true, "it reconnects and takes what is free");
    await a.close();
    t.equal(await a.tryHold("x"), false, "a closed coordinator holds nothing");
  });
}
