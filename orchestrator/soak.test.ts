import t from "tap";
import { formatSoak, runSoak } from "./bench.js";

t.test("bench serve --soak runs end to end at a tiny size: contributors follow rounds, nothing fails", async (t) => {
  const r = await runSoak({ clients: 3, params: 2000, validation: 50, durationSeconds: 4, warmupSeconds: 1, roundSeconds: 1 });
  t.equal(r.clients, 3);
  t.ok(r.accepted > 3, `updates were accepted over several rounds (${r.accepted})`);
  t.ok(r.roundsClosed >= 2, `rounds closed at their deadline (${r.roundsClosed})`);
  t.same(r.errors, {}, "no errors");
  t.ok(r.latencyMs.p50 > 0 && r.latencyMs.p50 <= r.latencyMs.p99);
  t.ok(r.rss.startMiB > 0 && r.rss.endMiB > 0, "the orchestrator's RSS was read");
  t.match(formatSoak(r), /soak: 3 contributors[\s\S]*RSS/);
  await t.rejects(runSoak({ clients: 0, params: 2000, validation: 50, durationSeconds: 1 }), { code: "BAD_ARGUMENT" });
});
