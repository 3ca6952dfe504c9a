import t from "tap";
import { canonicalMessage, sha256HexOf, signRequest, verifySignedRequest } from "./auth.js";
import { TokenBuckets } from "./rate-limit.js";
import { randomWallet } from "./testing/fixtures.js";

t.test("signRequest headers verify; any change to method, path, time or body does not", async (t) => {
  const w = randomWallet();
  const now = 1_700_000_000_000;
  const body = Buffer.from("payload");
  const headers = await signRequest(w, "post", "/api/job/1/update?round=0&numSamples=5", body, now);
  t.equal(headers["x-quackmesh-address"], w.address);
  t.equal(headers["x-quackmesh-timestamp"], String(now));
  t.equal(canonicalMessage("post", "/p", now, sha256HexOf(body)), `quackmesh:v1\nPOST\n/p\n${now}\n${sha256HexOf(body)}`);
  const input = { method: "POST", url: "/api/job/1/update?round=0&numSamples=5", headers, bodySha256: sha256HexOf(body), now };
  const ok = verifySignedRequest(input);
  t.equal(ok.address, w.address);
  t.equal(ok.timestamp, now);
  t.match(ok.requestId, /^[0-9a-f]{64}$/);
  t.throws(() => verifySignedRequest({ ...input, method: "PUT" }), { code: "SIGNATURE_INVALID" });
  t.throws(() => verifySignedRequest({ ...input, url: "/api/job/2/update?round=0&numSamples=5" }), { code: "SIGNATURE_INVALID" });
  t.throws(() => verifySignedRequest({ ...input, bodySha256: sha256HexOf("other") }), { code: "SIGNATURE_INVALID" });
  t.throws(() => verifySignedRequest({ ...input, headers: { ...headers, "x-quackmesh-timestamp": String(now + 1) } }), { code: "SIGNATURE_INVALID" });
  t.throws(() => verifySignedRequest({ ...input, now: now + 5 * 60_000 + 1 }), { code: "SIGNATURE_STALE" });
  t.throws(() => verifySignedRequest({ ...input, now: now - 5 * 60_000 - 1 }), { code: "SIGNATURE_STALE" });
  t.doesNotThrow(() => verifySignedRequest({ ...input, now: now + 5 * 60_000 }));
  t.throws(() => verifySignedRequest({ ...input, headers: { ...headers, "x-quackmesh-address": "0x12" } }), { code: "SIGNATURE_INVALID" });
  t.throws(() => verifySignedRequest({ ...input, headers: { ...headers, "x-quackmesh-timestamp": "soon" } }), { code: "SIGNATURE_INVALID" });
  t.throws(() => verifySignedRequest({ ...input, headers: {} }), { code: "SIGNATURE_MISSING", details: { missing: ["x-quackmesh-address", "x-quackmesh-timestamp", "x-quackmesh-signature"] } });
  t.equal(sha256HexOf(), sha256HexOf(Buffer.alloc(0)), "no body hashes like an empty one");
});

t.test("token buckets: a burst of capacity, then refill over time, per key", async (t) => {
  const b = new TokenBuckets({ capacity: 2, refillPerSecond: 1 });
  t.equal(b.take("a", 0), 0);
  t.equal(b.take("a", 0), 0);
  t.equal(b.take("a", 0), 1, "empty: wait a second");
  t.equal(b.take("b", 0), 0, "other keys have their own bucket");
  t.equal(b.take("a", 1000), 0, "refilled after a second");
  t.equal(b.take("a", 1000), 1);
});
