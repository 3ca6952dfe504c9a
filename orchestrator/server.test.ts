import t from "tap";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadMnist } from "../native/data.js";
import { Network } from "../native/index.js";
import { encodeSafetensors } from "../native/safetensors.js";
import { OrchestratorClient } from "./client.js";
import { startServer } from "./server.js";
import { SMALL_SPEC, announceJob, mnistIdxPair, randomWallet, trainUpdate } from "./testing/fixtures.js";

t.test("a real server on 127.0.0.1:0 driven by OrchestratorClient", async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), "quackmesh-server-"));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const server = await startServer({
    dataDir,
    host: "127.0.0.1",
    port: 0,
    evaluatorKey: randomWallet().privateKey,
    chain: { chainId: 31337, trainingPool: randomWallet().address },
    limits: { uploadBytes: 2_000_000 },
  });
  t.teardown(() => server.close());
  t.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  t.not(server.port, 0);

  const requester = randomWallet();
  const client = new OrchestratorClient(server.url, { signer: requester });
  const info = await client.info();
  t.equal(info.evaluator, server.app.evaluator.address);

  const draft = await client.createJob({ spec: SMALL_SPEC, settings: { minUpdates: 2, rounds: 2 } });
  t.equal(draft.status, "awaiting-weights");
  const weights = encodeSafetensors(Network.create(SMALL_SPEC, { seed: 8 }).weights());
  const withWeights = await client.uploadWeights(draft.draftId, weights);
  t.equal(withWeights.status, "awaiting-validation");
  const { images, labels, data: validation } = await mnistIdxPair("test", 500);
  const initial = await Network.fromWeights(SMALL_SPEC, Network.create(SMALL_SPEC, { seed: 8 }).weights()).evaluate(validation);
  const ready = await client.uploadValidation(draft.draftId, { images, labels });
  t.equal(ready.status, "ready");
  t.equal(ready.validationSamples, 500);
  t.same(await client.getDraft(draft.draftId), ready);

  await announceJob(server.app, { jobId: 1, requester: requester.address, modelHash: ready.modelHash!, rounds: 2 });
  t.equal((await client.listJobs()).length, 1);

  const model = await client.getModel(1);
  if (model.notModified) throw new Error("expected bytes");
  t.equal(model.round, 0);
  t.equal(model.modelHash, ready.modelHash);
  t.same(Buffer.from(model.bytes), weights);
  const again = await client.getModel(1, { etag: model.modelHash });
  t.equal(again.notModified, true, "304 when unchanged");

  await t.rejects(client.finishProof(1), { code: "JOB_NOT_FINISHED", details: { status: 409 } });
  await t.rejects(client.getJob(9), { code: "JOB_NOT_FOUND" });

  const train = await loadMnist("train", { limit: 600 });
  const halves = [0, 1].map((i) => ({ count: 300, features: 784, x: train.x.subarray(i * 300 * 784, (i + 1) * 300 * 784), y: train.y.subarray(i * 300, (i + 1) * 300) }));
  const closed = server.app.events.waitFor("round:closed", (e) => e.round === 0);
  const contributors = [randomWallet(), randomWallet()].map((w) => new OrchestratorClient(server.url, { signer: w }));
  const atts = await Promise.all(contributors.map(async (c, i) => c.submitUpdate(1, 0, 300, await trainUpdate(SMALL_SPEC, model.bytes, halves[i], i + 1))));
  t.equal(atts.length, 2);
  for (const a of atts) t.match(a.signature, /^0x[0-9a-f]{130}$/);
  const closedRound = await closed;
  t.ok(closedRound.accuracy > initial.accuracy + 0.05, `the aggregate beats the initial model (${closedRound.accuracy} vs ${initial.accuracy})`);
  const job = await client.getJob(1);
  t.equal(job.currentRound, 1);
  t.equal(job.history[0].accuracy, closedRound.accuracy);
  await t.rejects(contributors[0].submitUpdate(1, 0, 300, weights), { code: "ROUND_CLOSED", details: { status: 409 } });
  t.same(await client.cluster(1), { jobId: 1, orchestratorVersion: "0.1.0", cluster: null, machines: [] }, "a job without a cluster");

  // A streamed upload (no content-length) above the limit is cut off with 413 and leaves no temp file.
  const big = new ReadableStream({
    start(controller) {
      for (let i = 0; i < 40; i++) controller.enqueue(new Uint8Array(100_000));
      controller.close();
    },
  });
  const draft2 = await client.createJob({ spec: SMALL_SPEC });
  const { signRequest } = await import("./auth.js");
  const path = `/api/job/draft/${draft2.draftId}/weights`;
  const headers = await signRequest(requester, "PUT", path, Buffer.alloc(4_000_000));
  const res = await fetch(server.url + path, { method: "PUT", body: big, headers: { ...headers, "content-type": "application/octet-stream" }, duplex: "half" } as RequestInit);
  t.equal(res.status, 413);
  t.equal(((await res.json()) as { error: string }).error, "BODY_TOO_LARGE");
  t.same(await readdir(join(dataDir, "tmp")), [], "the partial upload was removed");

  await t.rejects(new OrchestratorClient(server.url).createJob({ spec: SMALL_SPEC }), { code: "NO_SIGNER" });
  await server.close();
  await t.rejects(client.info(), { code: "ORCHESTRATOR_UNREACHABLE" });
});
