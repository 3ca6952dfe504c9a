/**
 * Requests are bounded before any work: the signature, the rate limit, the body's size and the
 * caller's quotas are checked from the headers, before the body is read; the body is cut at its
 * budget and must hash to what was signed. Refusals change nothing in the store or the blobs.
 */
import t from "tap";
import { request } from "node:http";
import { gzipSync } from "node:zlib";
import { Readable } from "node:stream";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Network } from "../native/index.js";
import { encodeSafetensors } from "../native/safetensors.js";
import { BODY_HASH_HEADER, signRequest } from "./auth.js";
import { startServer } from "./server.js";
import { SMALL_SPEC, announceJob, mnistIdxPair, randomWallet, readyDraft, signedInject, testApp } from "./testing/fixtures.js";
import { StoreWatch } from "./testing/invariants.js";

const weightsOf = (seed: number) => encodeSafetensors(Network.create(SMALL_SPEC, { seed }).weights());

/**
 * Send the headers of a `declared`-byte body and only `send` bytes of it, then wait for the
 * answer: a server that read the body first would never answer (the rest never comes).
 */
function answerWithPartialBody(url: string, method: string, path: string, headers: Record<string, string>, declared: number, send: number) {
  return new Promise<{ status: number; body: { error: string } }>((resolve, reject) => {
    const req = request(url + path, { method, headers: { ...headers, "content-length": String(declared), "content-type": "application/octet-stream" } });
    req.on("response", (res) => {
      let text = "";
      res.on("data", (d: Buffer) => (text += d.toString()));
      res.on("end", () => {
        resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as { error: string } });
        req.destroy();
      });
    });
    req.on("error", reject);
    req.write(Buffer.alloc(send));
  });
}

t.test("a real server answers from the headers alone: bad signature, rate limit, size, unknown draft", async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), "quackmesh-limits-"));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const server = await startServer({
    dataDir,
    host: "127.0.0.1",
    port: 0,
    evaluatorKey: randomWallet().privateKey,
    chain: { chainId: 31337, trainingPool: randomWallet().address },
    limits: { rate: { capacity: 3, refillPerSecond: 0.001 } },
  });
  t.teardown(() => server.close());
  const requester = randomWallet();
  const draft = await readyDraft(server.app, requester);
  await announceJob(server.app, { jobId: 1, requester: requester.address, modelHash: draft.modelHash! });
  const watch = new StoreWatch(dataDir);
  t.teardown(() => watch.close());
  const before = await watch.snapshot();
  const declared = 200 * 1024 * 1024;
  const update = "/api/job/1/update?round=0&numSamples=10";

  const forged = { ...(await signRequest(randomWallet(), "POST", update, Buffer.alloc(declared))), "x-quackmesh-address": randomWallet().address };
  const a = await answerWithPartialBody(server.url, "POST", update, forged, declared, 64 * 1024);
  t.equal(a.status, 401, "a forged signature is refused with 200 MB still unsent");
  t.equal(a.body.error, "SIGNATURE_INVALID");

  const contributor = randomWallet();
  const oversize = await signRequest(contributor, "POST", update, Buffer.alloc(declared));
  const b = await answerWithPartialBody(server.url, "POST", update, oversize, declared, 64 * 1024);
  t.equal(b.status, 413, "an update larger than the job's model is refused from its content-length");
  t.equal(b.body.error, "BODY_TOO_LARGE");

  const missing = "/api/job/7/update?round=0&numSamples=10";
  const c = await answerWithPartialBody(server.url, "POST", missing, await signRequest(contributor, "POST", missing, Buffer.alloc(1000)), 1000, 10);
  t.equal(c.body.error, "JOB_NOT_FOUND", "an unknown job is refused before its body");

  const weights = `/api/job/draft/${"a".repeat(32)}/weights`;
  const unknown = await answerWithPartialBody(server.url, "PUT", weights, await signRequest(contributor, "PUT", weights, Buffer.alloc(1000)), 1000, 10);
  t.equal(unknown.body.error, "DRAFT_NOT_FOUND", "an unknown draft is refused before its body");
  const d = await answerWithPartialBody(server.url, "PUT", weights, await signRequest(contributor, "PUT", weights, Buffer.alloc(1000)), 1000, 10);
  t.equal(d.body.error, "RATE_LIMITED", "the fourth signed request of a burst of 3 is refused before its body");
  const other = await answerWithPartialBody(server.url, "PUT", weights, await signRequest(randomWallet(), "PUT", weights, Buffer.alloc(1000)), 1000, 10);
  t.equal(other.body.error, "DRAFT_NOT_FOUND", "another address has its own bucket");
  // A small refused body is drained, not cut off: the client reads the answer, every time.
  const small = Buffer.alloc(512 * 1024, 1);
  for (let i = 0; i < 3; i++) {
    const forgedSmall = { ...(await signRequest(randomWallet(), "POST", update, small)), "x-quackmesh-address": randomWallet().address };
    const res = await fetch(server.url + update, { method: "POST", body: small, headers: { ...forgedSmall, "content-type": "application/octet-stream" } });
    t.equal(res.status, 401);
    t.equal(((await res.json()) as { error: string }).error, "SIGNATURE_INVALID", "the answer arrives whole");
  }
  t.same(await watch.snapshot(), before, "nothing stored");
});

t.test("the body must hash to the signed value; a streamed body is cut at its budget", async (t) => {
  const { app, dataDir } = await testApp(t);
  const requester = randomWallet();
  const created = await signedInject(app, requester, { method: "POST", url: "/api/job", body: { spec: SMALL_SPEC } });
  const draftId = created.json().draftId as string;
  const url = `/api/job/draft/${draftId}/weights`;
  const watch = new StoreWatch(dataDir);
  t.teardown(() => watch.close());
  const before = await watch.snapshot();

  const signedFor = await signRequest(requester, "PUT", url, weightsOf(1));
  const swapped = await app.inject({ method: "PUT", url, payload: weightsOf(2), headers: { ...signedFor, "content-type": "application/octet-stream" } });
  t.equal(swapped.statusCode, 401);
  t.equal(swapped.json().error, "SIGNATURE_INVALID");
  t.match(swapped.json().message, /sha256/);

  const lied = { ...(await signRequest(requester, "PUT", url, weightsOf(1))), [BODY_HASH_HEADER]: "0".repeat(64) };
  const lie = await app.inject({ method: "PUT", url, payload: weightsOf(1), headers: { ...lied, "content-type": "application/octet-stream" } });
  t.equal(lie.json().error, "SIGNATURE_INVALID", "a hash header other than the signed one fails the signature");
  const notHex = await app.inject({ method: "PUT", url, payload: weightsOf(1), headers: { ...signedFor, [BODY_HASH_HEADER]: "xyz", "content-type": "application/octet-stream" } });
  t.equal(notHex.json().error, "SIGNATURE_INVALID");

  const noHash = await signRequest(requester, "PUT", url, weightsOf(3));
  delete (noHash as Record<string, string>)[BODY_HASH_HEADER];
  const bare = await app.inject({ method: "PUT", url, payload: weightsOf(3), headers: { ...noHash, "content-type": "application/octet-stream" } });
  t.equal(bare.json().error, "SIGNATURE_INVALID", "without the hash header the body must be empty");

  // No content-length: the body is cut at the model's size, not buffered to the upload limit.
  const big = Buffer.alloc(2_000_000, 7);
  const streamed = await signRequest(requester, "PUT", url, big);
  const chunked = await app.inject({
    method: "PUT",
    url,
    payload: Readable.from(Array.from({ length: 20 }, (_, i) => big.subarray(i * 100_000, (i + 1) * 100_000))),
    headers: { ...streamed, "content-type": "application/octet-stream", "transfer-encoding": "chunked" },
  });
  t.equal(chunked.statusCode, 413);
  t.equal(chunked.json().error, "BODY_TOO_LARGE");
  t.same(await watch.snapshot(), before, "nothing stored");

  const ok = await signedInject(app, requester, { method: "PUT", url, body: weightsOf(1) });
  t.equal(ok.statusCode, 200, ok.body);
  const again = await signedInject(app, requester, { method: "PUT", url, body: weightsOf(1) });
  t.equal(again.statusCode, 200, "the same bytes again are accepted");
  const after = await watch.snapshot();
  const other = await signedInject(app, requester, { method: "PUT", url, body: weightsOf(2) });
  t.equal(other.statusCode, 409);
  t.equal(other.json().error, "DRAFT_UPLOADED", "other weights for the same draft are refused (they would pile up unreferenced)");
  t.same(await watch.snapshot(), after);
});

t.test("per-address quotas: drafts and stored bytes, shown in /api/info, counted over 24 h", async (t) => {
  let clock = Date.now();
  const { app, dataDir } = await testApp(t, { now: () => clock, limits: { draftsPerAddress: 2, storedBytesPerAddress: 300_000 } });
  const info = (await app.inject({ method: "GET", url: "/api/info" })).json();
  t.match(info.limits, { draftsPerAddress: 2, storedBytesPerAddress: 300_000, datasetBytes: 64 * 1024 * 1024, rate: { capacity: 60 } });
  t.ok(info.signing.headers.includes(BODY_HASH_HEADER));

  const alice = randomWallet();
  let seed = 0;
  const create = (w = alice) => signedInject(app, w, { method: "POST", url: "/api/job", body: { spec: SMALL_SPEC, seed: ++seed }, at: clock });
  const first = await create();
  t.equal(first.statusCode, 201);
  const watch = new StoreWatch(dataDir);
  t.teardown(() => watch.close());

  // 500 MNIST samples are 392 kB: more than the 300 kB quota leaves; refused from the content-length.
  const { images, labels } = await mnistIdxPair("test", 500);
  const before = await watch.snapshot();
  const tooMuch = await signedInject(app, alice, { method: "PUT", url: first.json().uploads.validation, body: Buffer.concat([images, labels]), at: clock });
  t.equal(tooMuch.statusCode, 429);
  t.equal(tooMuch.json().error, "STORAGE_QUOTA_EXCEEDED");
  t.same(await watch.snapshot(), before);
  const small = await mnistIdxPair("test", 100);
  const fits = await signedInject(app, alice, { method: "PUT", url: first.json().uploads.validation, body: Buffer.concat([small.images, small.labels]), at: clock });
  t.equal(fits.statusCode, 200, fits.body);

  t.equal((await create()).statusCode, 201);
  const third = await create();
  t.equal(third.statusCode, 429);
  t.equal(third.json().error, "DRAFT_QUOTA_EXCEEDED");
  t.equal((await create(randomWallet())).statusCode, 201, "another address has its own quota");

  clock += 25 * 60 * 60 * 1000;
  t.equal((await create()).statusCode, 201, "drafts older than 24 h no longer count");
});

t.test("data sets: bounded once unpacked, checked before they are stored", async (t) => {
  const { app, dataDir } = await testApp(t, { limits: { datasetBytes: 1_000_000 } });
  const requester = randomWallet();
  const created = await signedInject(app, requester, { method: "POST", url: "/api/job", body: { spec: SMALL_SPEC, seed: 1 } });
  const url = created.json().uploads.validation as string;
  const watch = new StoreWatch(dataDir);
  t.teardown(() => watch.close());
  const before = await watch.snapshot();

  const bomb = gzipSync(Buffer.alloc(200_000_000));
  t.ok(bomb.length < 1_000_000, "the bomb itself is within the upload limit");
  const idxBomb = await signedInject(app, requester, { method: "PUT", url, body: bomb });
  t.equal(idxBomb.json().error, "INVALID_DATASET");
  t.match(idxBomb.json().message, /decompresses to more than 1000000 bytes/);
  const csvBomb = await signedInject(app, requester, { method: "PUT", url, body: bomb, contentType: "text/csv" });
  t.equal(csvBomb.json().error, "INVALID_DATASET");

  const { images, labels } = await mnistIdxPair("test", 50);
  labels[8] = 12; // a label the 10-output model does not have
  const badLabel = await signedInject(app, requester, { method: "PUT", url, body: Buffer.concat([images, labels]) });
  t.equal(badLabel.json().error, "INVALID_DATASET");
  const tooBig = await signedInject(app, requester, { method: "PUT", url, body: Buffer.alloc(1_000_001) });
  t.equal(tooBig.json().error, "BODY_TOO_LARGE");
  t.same(await watch.snapshot(), before, "refused data sets leave no blob and no row");
});

t.test("a body that no route reads cannot end the process with its hash error (found by the route fuzzer)", async (t) => {
  const { app } = await testApp(t);
  const w = randomWallet();
  // A signed GET (the round replay download) verifies its headers, then ignores its body.
  for (const [method, url] of [["GET", "/api/job/9/round/0/input"], ["GET", "/api/job/1/round/0/update/0x" + "1".repeat(64)]] as const) {
    // Signed over bytes it does not send: the check fails at the body's end, after the answer.
    const headers = await signRequest(w, method, url, Buffer.from("never sent"));
    const res = await app.inject({ method, url, headers });
    t.ok(res.statusCode < 500, `${method} ${url}: ${res.statusCode}`);
  }
  await new Promise((r) => setTimeout(r, 50));
  t.equal((await app.inject({ method: "GET", url: "/healthz" })).statusCode, 200, "still serving");
});
