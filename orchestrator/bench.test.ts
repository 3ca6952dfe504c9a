import t from "tap";
import { formatServeBench, runServeBench, specFor } from "./bench.js";

t.test("bench serve runs end to end at a tiny size and reports both phases", async (t) => {
  const r = await runServeBench({ clients: 2, params: 2000, validation: 50, durationSeconds: 1, warmupSeconds: 0 });
  t.equal(r.clients, 2);
  t.equal(r.params, 795 * 3 + 10, "784-3-10 is the MLP closest to 2000 parameters");
  for (const p of [r.capacity, r.paced]) {
    t.ok(p.accepted > 0, "updates were accepted");
    t.same(p.failed, {}, "none failed");
    t.ok(p.latencyMs.p50 > 0 && p.latencyMs.p50 <= p.latencyMs.p99);
  }
  t.match(formatServeBench(r), /capacity .* updates\/s[\s\S]*paced/);
  await t.rejects(runServeBench({ clients: 0, params: 2000, validation: 50, durationSeconds: 1 }), { code: "BAD_ARGUMENT" });
  t.equal(specFor(100000).layers[0].units, 126);
});
