import t from "tap";
import { decodeSafetensors, encodeSafetensors } from "../../native/safetensors.js";
import { loadMnist } from "../../native/data.js";
import type { Tensor } from "../../native/types.js";
import { signRequest } from "../auth.js";
import { recoverAttestationSigner } from "../evaluator/signer.js";
import { SMALL_SPEC, announceJob, randomWallet, readyDraft, signedInject, testApp, trainUpdate } from "../testing/fixtures.js";

/** The global model with `delta` added to every value (or applied by `edit`). */
function perturbed(globalBytes: Buffer, delta: number, edit?: (tensors: Tensor[]) => Tensor[]): Buffer {
  let tensors: Tensor[] = decodeSafetensors(globalBytes).tensors.map((x) => ({ ...x, data: x.data.map((v) => v + delta) }));
  if (edit) tensors = edit(tensors);
  return encodeSafetensors(tensors);
}

t.test("update refusals: each names what was wrong and changes nothing", async (t) => {
  const { app } = await testApp(t, { limits: { uploadBytes: 200_000 } });
  const requester = randomWallet();
  const draft = await readyDraft(app, requester, { settings: { minUpdates: 50, normBound: 5 }, validation: 200 });
  await announceJob(app, { jobId: 1, requester: requester.address, modelHash: draft.modelHash!, rounds: 3 });
  const global = (await app.inject({ method: "GET", url: "/api/job/1/model" })).rawPayload;
  const good = perturbed(global, 0.001);
  const url = "/api/job/1/update?round=0&numSamples=100";
  const alice = randomWallet();

  const post = (w = alice, body: Buffer = good, extra: Partial<Parameters<typeof signedInject>[2]> = {}) =>
    signedInject(app, w, { method: "POST", url, body, ...extra });
  const expectError = async (res: Awaited<ReturnType<typeof post>>, status: number, code: string, what: string) => {
    t.equal(res.statusCode, status, `${what}: status`);
    t.equal(res.json().error, code, `${what}: ${res.body}`);
    t.ok(res.json().message.length > 10, `${what}: has a message`);
  };

  await t.test("signature", async () => {
    await expectError(await app.inject({ method: "POST", url, payload: good, headers: { "content-type": "application/octet-stream" } }), 401, "SIGNATURE_MISSING", "unsigned");
    const headers = await signRequest(alice, "POST", url, good);
    await expectError(
      await app.inject({ method: "POST", url, payload: good, headers: { ...headers, "x-quackmesh-address": randomWallet().address, "content-type": "application/octet-stream" } }),
      401, "SIGNATURE_INVALID", "address of someone else",
    );
    const tampered = Buffer.from(good);
    tampered[tampered.length - 1] ^= 1;
    await expectError(await app.inject({ method: "POST", url, payload: tampered, headers: { ...headers, "content-type": "application/octet-stream" } }), 401, "SIGNATURE_INVALID", "body changed after signing");
    await expectError(
      await app.inject({ method: "POST", url: "/api/job/1/update?round=0&numSamples=999", payload: good, headers: { ...headers, "content-type": "application/octet-stream" } }),
      401, "SIGNATURE_INVALID", "query changed after signing",
    );
    await expectError(await post(alice, good, { at: Date.now() - 6 * 60_000 }), 401, "SIGNATURE_STALE", "6 minutes old");
    await expectError(await post(alice, good, { at: Date.now() + 6 * 60_000 }), 401, "SIGNATURE_STALE", "6 minutes ahead");
    await expectError(
      await app.inject({ method: "POST", url, payload: good, headers: { ...headers, "x-quackmesh-signature": "0x1234", "content-type": "application/octet-stream" } }),
      401, "SIGNATURE_INVALID", "garbage signature",
    );
  });

  await t.test("request shape", async () => {
    await expectError(await signedInject(app, alice, { method: "POST", url: "/api/job/1/update?round=0", body: good }), 400, "VALIDATION_FAILED", "numSamples missing");
    await expectError(await signedInject(app, alice, { method: "POST", url: "/api/job/1/update?round=-1&numSamples=5", body: good }), 400, "VALIDATION_FAILED", "negative round");
    await expectError(await post(alice, good, { contentType: "text/plain" }), 415, "UNSUPPORTED_MEDIA_TYPE", "text body");
    await expectError(await post(alice, Buffer.alloc(250_000, 1)), 413, "BODY_TOO_LARGE", "over the upload limit");
    await expectError(await post(alice, Buffer.alloc(0)), 400, "BODY_EMPTY", "no bytes");
    await expectError(await signedInject(app, alice, { method: "POST", url }), 400, "BODY_EMPTY", "no body at all");
  });

  await t.test("job and round", async () => {
    await expectError(await signedInject(app, alice, { method: "POST", url: "/api/job/99/update?round=0&numSamples=5", body: good }), 404, "JOB_NOT_FOUND", "unknown job");
    await expectError(await signedInject(app, alice, { method: "POST", url: "/api/job/1/update?round=2&numSamples=5", body: good }), 409, "ROUND_NOT_OPEN", "future round");
  });

  await t.test("content", async () => {
    await expectError(await post(alice, Buffer.from("definitely not safetensors")), 400, "MALFORMED_SAFETENSORS", "garbage bytes");
    const wrongShape = perturbed(global, 0.001, (ts) => ts.map((x) => (x.name === "2.bias" ? { ...x, shape: [5], data: x.data.slice(0, 5) } : x)));
    const res = await post(alice, wrongShape);
    await expectError(res, 422, "SHAPE_MISMATCH", "bias of 5");
    t.match(res.json().message, /2\.bias/);
    const missing = perturbed(global, 0.001, (ts) => ts.filter((x) => x.name !== "0.bias"));
    await expectError(await post(alice, missing), 422, "SHAPE_MISMATCH", "tensor missing");
    const nan = perturbed(global, 0.001, (ts) => {
      ts[2].data[3] = NaN;
      return ts;
    });
    const nanRes = await post(alice, nan);
    await expectError(nanRes, 422, "NON_FINITE", "NaN");
    t.equal(nanRes.json().details.tensor, "2.weight");
    await expectError(await post(alice, perturbed(global, 1)), 422, "NORM_BOUND_EXCEEDED", "far from the global model");
    await expectError(await post(alice, Buffer.from(global)), 422, "IDENTICAL_TO_GLOBAL", "the global model itself");
  });

  await t.test("nothing above changed the job", async () => {
    const job = (await app.inject({ method: "GET", url: "/api/job/1" })).json();
    t.same(job.updates, { accepted: 0, rejected: 0 });
  });

  await t.test("accepted, then resend and duplicate", async () => {
    const first = await post(alice, good);
    t.equal(first.statusCode, 200, first.body);
    const att = first.json();
    t.equal(att.jobId, 1);
    t.equal(att.round, 0);
    t.equal(att.numSamples, 100);
    t.equal(att.evaluator, app.evaluator.address);
    const signer = recoverAttestationSigner(app.evaluator.domain, att, att.signature);
    t.equal(signer, app.evaluator.address, "attestation is the evaluator's EIP-712 signature");
    const again = await post(alice, good);
    t.equal(again.statusCode, 200, "the same update again gets the same answer");
    t.same(again.json(), att);
    await expectError(await post(alice, perturbed(global, 0.002)), 409, "DUPLICATE_UPDATE", "a second, different update");
    const job = (await app.inject({ method: "GET", url: "/api/job/1" })).json();
    t.same(job.updates, { accepted: 1, rejected: 0 });
  });

  await t.test("replay of a signed request", async () => {
    const bob = randomWallet();
    const body = perturbed(global, 0.003);
    const headers = { ...(await signRequest(bob, "POST", url, body)), "content-type": "application/octet-stream" };
    t.equal((await app.inject({ method: "POST", url, payload: body, headers })).statusCode, 200);
    await expectError(await app.inject({ method: "POST", url, payload: body, headers }), 401, "SIGNATURE_REPLAYED", "same signed request twice");
  });
});

t.test("below threshold: refused, stored as rejected, no attestation", async (t) => {
  const { app } = await testApp(t);
  const requester = randomWallet();
  const draft = await readyDraft(app, requester, { settings: { minUpdates: 5 } });
  await announceJob(app, { jobId: 3, requester: requester.address, modelHash: draft.modelHash!, thresholdBps: 9500 });
  const global = (await app.inject({ method: "GET", url: "/api/job/3/model" })).rawPayload;
  const w = randomWallet();
  const res = await signedInject(app, w, { method: "POST", url: "/api/job/3/update?round=0&numSamples=10", body: perturbed(global, 0.001) });
  t.equal(res.statusCode, 422);
  t.equal(res.json().error, "BELOW_THRESHOLD");
  t.equal(res.json().details.thresholdBps, 9500);
  t.ok(res.json().details.accuracyBps < 9500);
  t.notOk("signature" in res.json());
  const job = (await app.inject({ method: "GET", url: "/api/job/3" })).json();
  t.same(job.updates, { accepted: 0, rejected: 1 });
  const again = await signedInject(app, w, { method: "POST", url: "/api/job/3/update?round=0&numSamples=10", body: perturbed(global, 0.001) });
  t.equal(again.json().error, "BELOW_THRESHOLD", "resending the same update gets the same refusal");
});

t.test("stragglers get ROUND_CLOSED; the round closes at minUpdates", async (t) => {
  const { app } = await testApp(t);
  const requester = randomWallet();
  const draft = await readyDraft(app, requester, { settings: { minUpdates: 1 } });
  await announceJob(app, { jobId: 4, requester: requester.address, modelHash: draft.modelHash!, rounds: 3 });
  const global = (await app.inject({ method: "GET", url: "/api/job/4/model" })).rawPayload;
  const data = await loadMnist("train", { limit: 300 });
  const closing = app.events.waitFor("round:closing", (e) => e.jobId === 4 && e.round === 0);
  const closed = app.events.waitFor("round:closed", (e) => e.jobId === 4 && e.round === 0);
  const first = await signedInject(app, randomWallet(), { method: "POST", url: "/api/job/4/update?round=0&numSamples=300", body: await trainUpdate(SMALL_SPEC, global, data, 1) });
  t.equal(first.statusCode, 200, first.body);
  // The round is scored after the answer; it stops taking updates once that check marks it closing.
  await closing;
  const late = await signedInject(app, randomWallet(), { method: "POST", url: "/api/job/4/update?round=0&numSamples=300", body: perturbed(global, 0.001) });
  t.equal(late.statusCode, 409);
  t.equal(late.json().error, "ROUND_CLOSED");
  await closed;
  const job = (await app.inject({ method: "GET", url: "/api/job/4" })).json();
  t.equal(job.currentRound, 1);
  t.equal(job.history[0].status, "closed");
  t.same(job.history[0].contributors, [first.json().contributor]);
  t.equal(job.history[1].inputModelHash, job.modelHash);
  const afterClose = await signedInject(app, randomWallet(), { method: "POST", url: "/api/job/4/update?round=0&numSamples=300", body: perturbed(global, 0.001) });
  t.equal(afterClose.json().error, "ROUND_CLOSED");
  t.equal(afterClose.json().details.currentRound, 1);
});

t.test("rate limit per address", async (t) => {
  const { app } = await testApp(t, { limits: { rate: { capacity: 2, refillPerSecond: 0.01 } } });
  const w = randomWallet();
  const codes: number[] = [];
  for (let i = 0; i < 3; i++) codes.push((await signedInject(app, w, { method: "POST", url: "/api/job/1/update?round=0&numSamples=1", body: Buffer.from("x") })).statusCode);
  t.same(codes, [404, 404, 429]);
  const limited = await signedInject(app, w, { method: "POST", url: "/api/job/1/update?round=0&numSamples=1", body: Buffer.from("x") });
  t.equal(limited.json().error, "RATE_LIMITED");
  t.ok(Number(limited.headers["retry-after"]) >= 1);
  const other = await signedInject(app, randomWallet(), { method: "POST", url: "/api/job/1/update?round=0&numSamples=1", body: Buffer.from("x") });
  t.equal(other.statusCode, 404, "another address is not limited");
});
