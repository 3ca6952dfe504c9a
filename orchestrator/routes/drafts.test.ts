import t from "tap";
import { createHash } from "node:crypto";
import { Network } from "../../native/index.js";
import { encodeSafetensors } from "../../native/safetensors.js";
import { SMALL_SPEC, announceJob, mnistIdxPair, randomWallet, signedInject, testApp } from "../testing/fixtures.js";

const weightsOf = (seed: number) => encodeSafetensors(Network.create(SMALL_SPEC, { seed }).weights());

t.test("draft creation: the body is checked before anything is stored", async (t) => {
  const { app } = await testApp(t);
  const w = randomWallet();
  const post = (body: unknown) => signedInject(app, w, { method: "POST", url: "/api/job", body: body as object });
  const cases: Array<[string, unknown, number, string]> = [
    ["units 0", { spec: { ...SMALL_SPEC, layers: [{ type: "dense", units: 0 }] } }, 400, "VALIDATION_FAILED"],
    ["unknown field", { spec: SMALL_SPEC, colour: "blue" }, 400, "VALIDATION_FAILED"],
    ["relu on the logits", { spec: { ...SMALL_SPEC, layers: [{ type: "dense", units: 10, activation: "relu" }] } }, 400, "INVALID_MODEL_SPEC"],
    ["minUpdatesAtDeadline > minUpdates", { spec: SMALL_SPEC, settings: { minUpdates: 2, minUpdatesAtDeadline: 3 } }, 400, "INVALID_SETTINGS"],
    ["krum without enough updates", { spec: SMALL_SPEC, settings: { minUpdates: 4, strategy: { name: "krum", f: 1 } } }, 400, "INVALID_SETTINGS"],
    ["beta on fedavg", { spec: SMALL_SPEC, settings: { strategy: { name: "fedavg", beta: 0.1 } } }, 400, "INVALID_SETTINGS"],
    ["unknown strategy", { spec: SMALL_SPEC, settings: { strategy: { name: "mean-ish" } } }, 400, "VALIDATION_FAILED"],
    ["unknown optimizer", { spec: SMALL_SPEC, settings: { train: { optimizer: "rmsprop" } } }, 400, "VALIDATION_FAILED"],
    ["negative FedProx μ", { spec: SMALL_SPEC, settings: { train: { proximalMu: -0.1 } } }, 400, "VALIDATION_FAILED"],
    ["unknown training field", { spec: SMALL_SPEC, settings: { train: { lr: 0.1 } } }, 400, "VALIDATION_FAILED"],
    ["Nesterov with Adam", { spec: SMALL_SPEC, settings: { train: { optimizer: "adam", nesterov: true } } }, 400, "INVALID_SETTINGS"],
  ];
  for (const [what, body, status, code] of cases) {
    const res = await post(body);
    t.equal(res.statusCode, status, what);
    t.equal(res.json().error, code, `${what}: ${res.body}`);
  }
  let deep = "1";
  for (let i = 0; i < 40; i++) deep = `[${deep}]`;
  const tooDeep = await signedInject(app, w, { method: "POST", url: "/api/job", body: `{"spec":${deep}}`, contentType: "application/json" });
  t.equal(tooDeep.json().error, "JSON_TOO_DEEP");
  const badJson = await signedInject(app, w, { method: "POST", url: "/api/job", body: '{"spec": ', contentType: "application/json" });
  t.equal(badJson.statusCode, 400);
  t.equal(badJson.json().error, "BAD_JSON");
  const huge = await signedInject(app, w, { method: "POST", url: "/api/job", body: `{"spec":"${"x".repeat(1_100_000)}"}`, contentType: "application/json" });
  t.equal(huge.statusCode, 413);
  t.equal(huge.json().error, "BODY_TOO_LARGE");
  const unsigned = await app.inject({ method: "POST", url: "/api/job", payload: { spec: SMALL_SPEC } });
  t.equal(unsigned.json().error, "SIGNATURE_MISSING");
  t.equal((await app.repo.findReadyDrafts("0x" + "0".repeat(64), w.address)).length, 0);
});

t.test("model size is bounded before the engine is touched: the one-request crash answers 4xx and the server keeps serving", async (t) => {
  const { app } = await testApp(t, { limits: { modelParameters: 1_000_000, activationBytes: 8 * 1024 * 1024 } });
  const w = randomWallet();
  const post = (spec: unknown) => signedInject(app, w, { method: "POST", url: "/api/job", body: { spec, seed: 1 } });
  const dense = (units: number) => ({ type: "dense", units });
  const cases: Array<[string, unknown, string, RegExp]> = [
    ["a 10^12-input layer (std::bad_alloc in the engine before)", { input: [1000000, 1000000], layers: [dense(10)], loss: "cross-entropy" }, "INVALID_MODEL_SPEC", /parameters, above the limit of 1,000,000/],
    ["a 10^24-input layer (500 INTERNAL before)", { input: [1000000, 1000000, 1000000, 1000000], layers: [dense(10)], loss: "cross-entropy" }, "INVALID_MODEL_SPEC", /parameters/],
    ["20000 x 20000 (6 GB of memory before)", { input: [20000], layers: [dense(20000), dense(10)], loss: "cross-entropy" }, "INVALID_MODEL_SPEC", /parameters/],
    ["wide activations under the parameter limit", { input: [1], layers: [dense(200000), dense(2)], loss: "cross-entropy" }, "INVALID_MODEL_SPEC", /MiB of activations/],
    ["an input dimension above the schema's width", { input: [2 ** 21], layers: [dense(10)], loss: "cross-entropy" }, "VALIDATION_FAILED", /./],
  ];
  for (const [what, spec, code, message] of cases) {
    const res = await post(spec);
    t.equal(res.statusCode, 400, what);
    t.equal(res.json().error, code, what);
    t.match(res.json().message, message, what);
  }
  const info = (await app.inject({ method: "GET", url: "/api/info" })).json();
  t.match(info.limits, { modelParameters: 1_000_000, activationBytes: 8 * 1024 * 1024 });
  t.equal((await app.inject({ method: "GET", url: "/healthz" })).statusCode, 200, "still serving");
  t.equal((await post(SMALL_SPEC)).statusCode, 201, "a model within the limits is accepted");
});

t.test("uploads: weights and validation, checked, content-addressed; only the uploader may write", async (t) => {
  const { app } = await testApp(t, { limits: { uploadBytes: 1_000_000 } });
  const owner = randomWallet();
  const created = await signedInject(app, owner, { method: "POST", url: "/api/job", body: { spec: SMALL_SPEC, settings: { rounds: 2, minUpdates: 3 } } });
  t.equal(created.statusCode, 201, created.body);
  const draft = created.json();
  t.equal(draft.status, "awaiting-weights");
  t.equal(draft.modelHash, null);
  t.equal(draft.evaluator, app.evaluator.address);
  t.same(draft.settings.strategy, { name: "fedavg" });
  t.equal(draft.settings.minUpdatesAtDeadline, 1);

  const put = (url: string, body: Buffer, o: { wallet?: ReturnType<typeof randomWallet>; contentType?: string } = {}) =>
    signedInject(app, o.wallet ?? owner, { method: "PUT", url, body, contentType: o.contentType ?? "application/octet-stream" });
  const weights = weightsOf(3);

  const stranger = await put(draft.uploads.weights, weights, { wallet: randomWallet() });
  t.equal(stranger.statusCode, 403);
  t.equal(stranger.json().error, "NOT_UPLOADER");
  t.equal((await put("/api/job/draft/" + "a".repeat(32) + "/weights", weights)).json().error, "DRAFT_NOT_FOUND");
  t.equal((await put(draft.uploads.weights, Buffer.from("nope"))).json().error, "MALFORMED_SAFETENSORS");
  t.equal((await put(draft.uploads.weights, Buffer.alloc(0))).json().error, "BODY_EMPTY");
  const other = encodeSafetensors(Network.create({ ...SMALL_SPEC, layers: [{ type: "dense", units: 10 }] }, { seed: 1 }).weights());
  const wrong = await put(draft.uploads.weights, other);
  t.equal(wrong.statusCode, 422);
  t.equal(wrong.json().error, "INVALID_WEIGHTS");
  t.equal((await put(draft.uploads.weights, Buffer.alloc(1_200_000))).statusCode, 413);

  const ok = await put(draft.uploads.weights, weights);
  t.equal(ok.statusCode, 200, ok.body);
  t.equal(ok.json().modelHash, "0x" + createHash("sha256").update(weights).digest("hex"), "modelHash = sha256 of the bytes");
  t.equal(ok.json().status, "awaiting-validation");
  t.ok(await app.blobs.has(ok.json().modelHash));

  const csvWrongWidth = Buffer.from("label,a,b\n1,0.5,0.5\n");
  t.equal((await put(draft.uploads.validation, csvWrongWidth, { contentType: "text/csv" })).json().error, "INVALID_DATASET");
  const pixels = Array.from({ length: 784 }, () => "0").join(",");
  const badLabel = await put(draft.uploads.validation, Buffer.from(`12,${pixels}\n`), { contentType: "text/csv" });
  t.equal(badLabel.json().error, "INVALID_DATASET");
  t.match(badLabel.json().message, /label 12/);
  const garbage = await put(draft.uploads.validation, Buffer.from("not idx at all"));
  t.equal(garbage.json().error, "INVALID_DATASET");
  t.notMatch(garbage.json().message, /\/tmp|datasets/, "no server paths in messages");

  const csv = Buffer.from([`3,${pixels}`, `7,${pixels}`].join("\n") + "\n");
  const val = await put(draft.uploads.validation, csv, { contentType: "text/csv" });
  t.equal(val.statusCode, 200, val.body);
  t.equal(val.json().status, "ready");
  t.equal(val.json().validationSamples, 2);

  const got = await app.inject({ method: "GET", url: `/api/job/draft/${draft.draftId}` });
  t.same(got.json(), val.json());
  t.equal((await app.inject({ method: "GET", url: "/api/job/draft/zzz" })).statusCode, 400);
});

t.test("activation: requester, model hash and evaluator must match; either order works", async (t) => {
  const { app } = await testApp(t);
  const owner = randomWallet();
  const activated: number[] = [];
  const ignored: number[] = [];
  app.events.on("job:activated", (e) => activated.push(e.jobId));
  app.events.on("job:ignored", (e) => ignored.push(e.jobId));

  const draft = (await signedInject(app, owner, { method: "POST", url: "/api/job", body: { spec: SMALL_SPEC, seed: 5 } })).json();
  t.match(draft.modelHash, /^0x[0-9a-f]{64}$/, "seeded draft has its weights at once");
  t.equal(draft.status, "awaiting-validation");

  await announceJob(app, { jobId: 11, requester: owner.address, modelHash: draft.modelHash, evaluator: randomWallet().address });
  t.same(ignored, [11], "another evaluator's job is ignored");
  await announceJob(app, { jobId: 12, requester: randomWallet().address, modelHash: draft.modelHash });
  await announceJob(app, { jobId: 13, requester: owner.address, modelHash: draft.modelHash, rounds: 4, thresholdBps: 100 });
  t.same(activated, [], "nothing activates before the validation set arrives");
  t.equal((await app.inject({ method: "GET", url: "/api/job/13" })).statusCode, 404);

  const { images, labels } = await mnistIdxPair("test", 100);
  const up = await signedInject(app, owner, { method: "PUT", url: draft.uploads.validation, body: Buffer.concat([images, labels]) });
  t.equal(up.json().status, "active");
  t.equal(up.json().jobId, 13);
  t.same(activated, [13], "job 12 (other requester) stays inactive");
  const job = (await app.inject({ method: "GET", url: "/api/job/13" })).json();
  t.equal(job.rounds, 4, "rounds from the chain");
  t.equal(job.settings.thresholdBps, 100, "threshold from the chain");
  t.equal(job.requester, owner.address);
  t.equal(job.history.length, 1);
  t.equal(job.history[0].status, "open");

  const locked = await signedInject(app, owner, { method: "PUT", url: draft.uploads.weights, body: weightsOf(9) });
  t.equal(locked.statusCode, 409);
  t.equal(locked.json().error, "DRAFT_LOCKED");

  // The chain first, the upload second, with a fresh draft of the same weights.
  const second = (await signedInject(app, owner, { method: "POST", url: "/api/job", body: { spec: SMALL_SPEC, seed: 5 } })).json();
  t.equal(second.modelHash, draft.modelHash, "same seed, same bytes, same hash");
  await announceJob(app, { jobId: 14, requester: owner.address, modelHash: second.modelHash });
  t.same(activated, [13]);
  const up2 = await signedInject(app, owner, { method: "PUT", url: second.uploads.validation, body: Buffer.concat([images, labels]) });
  t.equal(up2.json().jobId, 14);
  t.same(activated, [13, 14]);
});
