import t from "tap";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DowntimeLedger, secondsWithin } from "./downtime.js";
import { SqliteRepository } from "../store/sqlite.js";

const dir = await mkdtemp(join(tmpdir(), "quackmesh-downtime-"));
t.teardown(() => rm(dir, { recursive: true, force: true }));
const file = join(dir, "o.sqlite");

t.test("counts failed spans inside the rental's window only, from the store, also after a restart", async (t) => {
  const repo = new SqliteRepository(file);
  const l = new DowntimeLedger(repo);
  // Not awaited one by one: the ledger keeps the order the statuses came in.
  void l.observe("1", "running", 0);
  void l.observe("1", "failed", 10_000);
  void l.observe("1", "failed", 15_000); // still down: the first failure counts
  void l.observe("1", "connecting", 20_000); // says nothing
  void l.observe("1", "ready", 40_000);
  void l.observe("1", "failed", 90_000);
  t.equal(await l.secondsDown("1", 0, 100_000), 30 + 10, "closed span plus the open one up to the end");
  t.equal(await l.secondsDown("1", 20_000, 95_000), 20 + 5, "clipped to the window");
  t.equal(await l.secondsDown("2", 0, 100_000), 0, "another rental has none");
  await repo.close();
  const restarted = new SqliteRepository(file);
  t.teardown(() => restarted.close());
  t.equal(await new DowntimeLedger(restarted).secondsDown("1", 0, 100_000), 40, "a restarted orchestrator counts the same");
});

t.test("a machine that never came back is down until the end; an up from before the span changes nothing", async (t) => {
  t.equal(secondsWithin([{ from: 1_000, to: null }], 0, 3_600_000), 3599);
  t.equal(secondsWithin([{ from: 1_000, to: 500 }], 0, 3_600_000), 0, "an empty span counts nothing");
  t.equal(secondsWithin([{ from: 0, to: 1_999 }, { from: 5_000, to: 5_999 }], 0, 10_000), 2, "each span in ms, the sum rounded down");
});

t.test("a store that fails is reported, and later statuses still go in", async (t) => {
  const errors: string[] = [];
  let fail = true;
  const spans: Array<[string, number]> = [];
  const l = new DowntimeLedger(
    {
      markRentalDown: async (id, at) => {
        if (fail) throw new Error("database down");
        spans.push([id, at]);
      },
      markRentalUp: async () => {},
      listRentalDowntime: async () => spans.map(([, at]) => ({ from: at, to: null })),
    },
    (err, rentalId) => errors.push(`${rentalId}: ${(err as Error).message}`),
  );
  await l.observe("3", "failed", 1_000);
  t.same(errors, ["3: database down"]);
  fail = false;
  await l.observe("3", "failed", 2_000);
  t.equal(await l.secondsDown("3", 0, 5_000), 3);
});
