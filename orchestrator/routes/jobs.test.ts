import t from "tap";
import { rm } from "node:fs/promises";
import { createHash } from "node:crypto";
import { SMALL_SPEC, announceJob, mnistIdxPair, randomWallet, readyDraft, signedInject, testApp, trainUpdate } from "../testing/fixtures.js";
import { decodeSafetensors } from "../../native/safetensors.js";
import { ERRORS } from "../errors.js";

t.test("reading jobs: list, model with ETag, finish proof, cluster", async (t) => {
  const { app, trainingPool } = await testApp(t);
  const requester = randomWallet();
  const draft = await readyDraft(app, requester, { settings: { minUpdates: 1 } });
  t.same((await app.inject({ method: "GET", url: "/api/jobs" })).json(), { jobs: [] });
  await announceJob(app, { jobId: 2, requester: requester.address, modelHash: draft.modelHash!, rounds: 1 });

  const list = (await app.inject({ method: "GET", url: "/api/jobs" })).json();
  t.equal(list.jobs.length, 1);
  t.equal(list.jobs[0].jobId, 2);
  t.equal(list.jobs[0].chain.roundBudget, "100000000000000000000");

  const model = await app.inject({ method: "GET", url: "/api/job/2/model" });
  t.equal(model.statusCode, 200);
  t.equal(model.headers["content-type"], "application/octet-stream");
  t.equal(model.headers.etag, `"${draft.modelHash}"`);
  t.equal(model.headers["x-quackmesh-round"], "0");
  t.equal("0x" + createHash("sha256").update(model.rawPayload).digest("hex"), draft.modelHash, "bytes hash to the model hash");
  const cached = await app.inject({ method: "GET", url: "/api/job/2/model", headers: { "if-none-match": `"${draft.modelHash}"` } });
  t.equal(cached.statusCode, 304);
  t.equal(cached.rawPayload.length, 0);
  const stale = await app.inject({ method: "GET", url: "/api/job/2/model", headers: { "if-none-match": '"0xabc"' } });
  t.equal(stale.statusCode, 200);

  const early = await app.inject({ method: "GET", url: "/api/job/2/finish-proof" });
  t.equal(early.statusCode, 409);
  t.equal(early.json().error, "JOB_NOT_FINISHED");

  const finished = app.events.waitFor("job:finished", (e) => e.jobId === 2);
  const update = await trainUpdate(SMALL_SPEC, model.rawPayload, (await mnistIdxPair("train", 300)).data, 1, 0.1);
  const res = await signedInject(app, randomWallet(), { method: "POST", url: "/api/job/2/update?round=0&numSamples=10", body: update });
  t.equal(res.statusCode, 200, res.body);
  await finished;
  const proof = await app.inject({ method: "GET", url: "/api/job/2/finish-proof" });
  t.equal(proof.statusCode, 200);
  t.equal(proof.json().evaluator, app.evaluator.address);
  t.equal(proof.json().trainingPool, trainingPool);
  t.equal(proof.json().signature, app.evaluator.finishProof(2));
  const after = await app.inject({ method: "GET", url: "/api/job/2/model" });
  t.equal(after.headers["x-quackmesh-job-status"], "finished");
  t.equal(after.headers["x-quackmesh-round"], "1");
  t.not(after.headers.etag, model.headers.etag);
  const closedUpdate = await signedInject(app, randomWallet(), { method: "POST", url: "/api/job/2/update?round=0&numSamples=10", body: update });
  t.equal(closedUpdate.json().error, "JOB_NOT_ACTIVE");

  t.same((await app.inject({ method: "GET", url: "/api/cluster/2" })).json(), { jobId: 2, orchestratorVersion: "0.1.0", cluster: null, machines: [] });
  await app.repo.upsertClusterMachine({ jobId: 2, machineId: 5, rentalId: 9, provider: randomWallet().address, host: "10.0.0.5", port: 7070, status: "ready", updatedAt: 1 });
  t.equal((await app.inject({ method: "GET", url: "/api/cluster/2" })).json().machines[0].host, "10.0.0.5");
  for (const url of ["/api/cluster/77", "/api/job/77", "/api/job/77/model", "/api/job/77/finish-proof"]) {
    const r = await app.inject({ method: "GET", url });
    t.equal(r.statusCode, 404, url);
    t.equal(r.json().error, "JOB_NOT_FOUND", url);
  }
  t.equal((await app.inject({ method: "GET", url: "/api/job/abc" })).json().error, "VALIDATION_FAILED");
});

t.test("service routes: info, healthz, metrics, docs, 404, and 500 without internals", async (t) => {
  const { app, trainingPool } = await testApp(t, { chain: { chainId: 31337, trainingPool: randomWallet().address, contracts: { DuckToken: "0x" + "1".repeat(40) } } });
  const info = (await app.inject({ method: "GET", url: "/api/info" })).json();
  t.equal(info.evaluator, app.evaluator.address);
  t.equal(info.chainId, 31337);
  t.equal(info.contracts.TrainingPool, trainingPool);
  t.equal(info.contracts.DuckToken, "0x" + "1".repeat(40));
  t.match(info.version, /^\d+\.\d+\.\d+/);
  t.same(info.signing.headers, ["x-quackmesh-address", "x-quackmesh-timestamp", "x-quackmesh-signature", "x-quackmesh-content-sha256"]);

  t.equal((await app.inject({ method: "GET", url: "/healthz" })).json().status, "ok");

  await signedInject(app, randomWallet(), { method: "POST", url: "/api/job/5/update?round=0&numSamples=1", body: Buffer.from("x") });
  const metrics = await app.inject({ method: "GET", url: "/metrics" });
  t.match(metrics.headers["content-type"], /^text\/plain/);
  t.match(metrics.body, /quackmesh_updates_rejected_total\{code="JOB_NOT_FOUND"\} 1/);
  t.match(metrics.body, /quackmesh_updates_accepted_total 0/);
  t.match(metrics.body, /quackmesh_rounds_closed_total 0/);
  t.match(metrics.body, /quackmesh_http_request_duration_seconds_bucket\{le="0.005",method="GET",route="\/healthz",status="200"\}/);
  t.match(metrics.body, /process_resident_memory_bytes \d+/, "the process metrics come along");

  const docs = await app.inject({ method: "GET", url: "/docs/json" });
  t.equal(docs.statusCode, 200);
  const spec = docs.json();
  for (const path of ["/api/job", "/api/job/{jobId}", "/api/job/{jobId}/update", "/api/job/{jobId}/model", "/api/job/{jobId}/finish-proof", "/api/cluster/{jobId}", "/api/info"]) {
    t.ok(spec.paths[path], `OpenAPI documents ${path}`);
  }
  t.ok(spec.components.schemas, "shared schemas are components");
  t.equal((await app.inject({ method: "GET", url: "/docs" })).statusCode < 400, true);

  const missing = await app.inject({ method: "GET", url: "/api/nothing" });
  t.equal(missing.statusCode, 404);
  t.equal(missing.json().error, "NOT_FOUND");

  // A stored model vanishing from disk is an internal failure: 500, generic message, no path.
  const requester = randomWallet();
  const draft = await readyDraft(app, requester, {});
  await announceJob(app, { jobId: 6, requester: requester.address, modelHash: draft.modelHash! });
  await rm(app.blobs.path(draft.modelHash!));
  const broken = await app.inject({ method: "GET", url: "/api/job/6/model" });
  t.equal(broken.statusCode, 500);
  t.same(broken.json(), { error: "INTERNAL", message: ERRORS.INTERNAL.message });
});
