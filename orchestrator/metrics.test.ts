import t from "tap";
import { Metrics } from "./metrics.js";

t.test("each Metrics has its own counts; the process metrics come with every app's", async (t) => {
  const a = new Metrics();
  const b = new Metrics();
  a.updatesRejected.inc({ code: "ROUND_CLOSED" });
  a.updatesRejected.inc({ code: "ROUND_CLOSED" });
  a.chainEvents.inc({ name: "TrainingJobCreated" });
  a.requestDuration.observe({ method: "GET", route: "/healthz", status: "200" }, 0.003);
  t.equal(await a.updatesRejected.value({ code: "ROUND_CLOSED" }), 2);
  t.equal(await a.updatesRejected.value({ code: "BELOW_THRESHOLD" }), 0);
  t.equal(await b.updatesRejected.value({ code: "ROUND_CLOSED" }), 0, "another app's registry is apart");
  t.equal(await a.updatesAccepted.value(), 0);

  const text = await a.render();
  t.equal(a.contentType, "text/plain; version=0.0.4; charset=utf-8");
  t.match(text, /# TYPE quackmesh_updates_accepted_total counter\nquackmesh_updates_accepted_total 0\n/);
  t.match(text, /quackmesh_updates_rejected_total\{code="ROUND_CLOSED"\} 2\n/);
  t.match(text, /quackmesh_chain_events_total\{name="TrainingJobCreated"\} 1\n/);
  t.match(text, /quackmesh_rounds_closed_total 0\n/);
  t.match(text, /quackmesh_rounds_extended_total 0\n/);
  t.match(text, /quackmesh_http_request_duration_seconds_bucket\{le="0.005",method="GET",route="\/healthz",status="200"\} 1\n/);
  t.match(text, /quackmesh_http_request_duration_seconds_count\{method="GET",route="\/healthz",status="200"\} 1\n/);
  for (const name of ["process_resident_memory_bytes", "nodejs_eventloop_lag_seconds", "nodejs_gc_duration_seconds", "nodejs_heap_size_used_bytes"]) {
    t.match(text, new RegExp(`# TYPE ${name} `), `process metric ${name}`);
  }
  t.match(await b.render(), /process_resident_memory_bytes \d+/, "every app serves the process metrics");
});
