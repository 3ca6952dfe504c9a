import t from "tap";
import pg from "pg";
import { LocalCoordinator, LockFollower, PostgresCoordinator } from "./coordination.js";
import { PostgresRepository } from "./postgres.js";
import { ClusterService } from "../cluster/service.js";
import { OrchestratorEmitter } from "../events.js";
import { findPostgres, startPostgres, type PostgresServer } from "../testing/postgres.js";

t.test("one process, one store: every lock is its own", async (t) => {
  const c = new LocalCoordinator();
  t.equal(c.shared, false);
  t.equal(await c.tryHold("chain-reader"), true);
  t.equal(await c.tryHold("chain-reader"), true);
});

t.test("a role followed on a store of its own: taken at the first try, never polled", async (t) => {
  const seen: boolean[] = [];
  const f = new LockFollower(new LocalCoordinator(), "cluster-manager", { changed: (held) => void seen.push(held), held: () => void seen.push(true) }, 1);
  await f.start();
  await new Promise((r) => setTimeout(r, 20));
  t.same(seen, [true], "told once that it holds the role");
  t.equal(f.holding, true);
  await f.stop();
  t.equal(f.holding, false);
});

const found = findPostgres();
// One server for the file's tests, each on a database of its own.
const server: PostgresServer | null = "missing" in found ? null : await startPostgres();
t.teardown(() => server?.stop());
if (!server) {
  t.pass(`skipped: ${found.missing}`);
} else {
  t.test("PostgreSQL advisory locks: one holder at a time; released or dead, another takes over", async (t) => {
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

async function until(what: string, fn: () => Promise<boolean> | boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

if (server) {
  t.test("the cluster manager runs in one of two orchestrators on one store; when its holder's connection goes, the other takes over", async (t) => {
    const url = await server.createDatabase("clusters");
    const repo = await PostgresRepository.open(url);
    t.teardown(() => repo.close());
    // A machine the previous manager ran: whoever becomes the manager deploys it again (back to acknowledged first).
    const machine = { jobId: 9, machineId: 1, rentalId: 41, provider: "0x0000000000000000000000000000000000000001", host: "127.0.0.1", port: 9, status: "running", updatedAt: 1 };
    await repo.upsertClusterMachine(machine);
    const status = async () => (await repo.listClusterMachines(9))[0].status;
    const orchestrator = (name: string) => {
      const coordinator = new PostgresCoordinator(url);
      const service = new ClusterService({
        repo, blobs: null as never, events: new OrchestratorEmitter(), engine: { reconsider: async () => undefined },
        now: Date.now, log: { warn: () => undefined, error: () => undefined }, version: "test", workerUrl: () => "http://127.0.0.1:9",
      });
      const follower = new LockFollower(coordinator, "cluster-manager", { changed: (held) => (held ? service.lead() : service.stepDown()), held: () => service.reconcile() }, 100);
      t.teardown(async () => {
        await follower.stop();
        await service.stop();
        await coordinator.close();
      });
      return { name, coordinator, service, follower };
    };
    const both = [orchestrator("a"), orchestrator("b")];
    for (const o of both) await o.service.start();
    await Promise.all(both.map((o) => o.follower.start()));
    const leaders = both.filter((o) => o.service.leading);
    t.equal(leaders.length, 1, "exactly one of the two manages the clusters");
    const [first, second] = leaders[0] === both[0] ? both : [both[1], both[0]];
    t.equal(await status(), "acknowledged", `${first.name} took the machine the last manager ran, to deploy it again`);

    // Now running under the first manager: the other leaves it alone, tick after tick.
    await repo.updateClusterMachine(9, 1, { status: "running", updatedAt: 2 });
    await new Promise((r) => setTimeout(r, 500));
    t.equal(second.service.leading, false);
    t.equal(await status(), "running", `${second.name} never touched it`);

    // The manager's lock connection goes (its process died): the other takes over within seconds.
    const started = Date.now();
    await first.coordinator.close();
    await until("the other orchestrator managing the clusters", () => second.service.leading);
    t.comment(`took over in ${Date.now() - started} ms`);
    await until("the machine handed to the new manager", async () => (await status()) === "acknowledged");
    await until("the old manager stepping down", () => !first.service.leading);
    t.pass(`${second.name} manages the clusters and redeploys the machine; ${first.name} stepped down`);
  });
}
