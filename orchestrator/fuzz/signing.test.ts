/**
 * Generated requests against signed-request verification: every request signed as the client
 * signs it verifies, to its signer and its body hash; any one change to what was signed (method,
 * target, timestamp, body hash, signature, address) is refused with a SIGNATURE_* code; arbitrary
 * headers are refused with a code, never with anything else.
 */
import t from "tap";
import fc from "fast-check";
import { Wallet } from "ethers";
import { ADDRESS_HEADER, BODY_HASH_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sha256HexOf, signRequest, verifySignedHeaders } from "../auth.js";
import { isApiError } from "../errors.js";
import { check } from "./testkit.js";

const FILE = "orchestrator/fuzz/signing.test.ts";
const NOW = 1_760_000_000_000;
const wallets = Array.from({ length: 4 }, (_, i) => new Wallet("0x" + String(i + 1).padStart(64, "7")));

function refusedWithCode(fn: () => unknown): boolean {
  try {
    fn();
  } catch (e) {
    if (isApiError(e) && e.code.startsWith("SIGNATURE_")) return true;
    throw new Error(`refused with something other than a SIGNATURE_* ApiError: ${(e as Error)?.stack ?? String(e)}`);
  }
  return false;
}

const method = fc.constantFrom("GET", "POST", "PUT", "DELETE", "PATCH");
const target = fc.oneof(
  fc.constantFrom("/api/job", "/api/job/1/update?round=0&numSamples=5", "/api/job/draft/" + "a".repeat(32) + "/weights"),
  fc.webPath().map((p) => p || "/"),
  fc.string({ maxLength: 40 }).map((s) => "/" + s),
);
const request = fc.record({ wallet: fc.nat(wallets.length - 1), method, url: target, body: fc.uint8Array({ maxLength: 64 }), skew: fc.integer({ min: -290_000, max: 290_000 }) });

t.test("signed as the client signs, a request verifies to its signer and body hash; one change and it does not", async (t) => {
  const change = fc.oneof(
    fc.constant("method" as const),
    fc.constant("url" as const),
    fc.constant("timestamp" as const),
    fc.constant("hash" as const),
    fc.constant("address" as const),
    fc.nat(64).map((i) => ({ signatureByte: i })),
  );
  const n = await check(
    FILE,
    400,
    fc.asyncProperty(request, change, async (r, c) => {
      const at = NOW + r.skew;
      const headers: Record<string, string> = { ...(await signRequest(wallets[r.wallet], r.method, r.url, r.body, at)) };
      const ok = verifySignedHeaders({ method: r.method, url: r.url, headers, now: NOW });
      if (ok.address !== wallets[r.wallet].address || ok.bodySha256 !== sha256HexOf(r.body)) return false;
      let { method: m, url } = r;
      if (c === "method") m = r.method === "POST" ? "PUT" : "POST";
      else if (c === "url") url = r.url + "x";
      else if (c === "timestamp") headers[TIMESTAMP_HEADER] = String(at + 1);
      else if (c === "hash") headers[BODY_HASH_HEADER] = sha256HexOf(Buffer.concat([Buffer.from(r.body), Buffer.from([1])]));
      else if (c === "address") headers[ADDRESS_HEADER] = wallets[(r.wallet + 1) % wallets.length].address;
      else {
        const sig = Buffer.from(headers[SIGNATURE_HEADER].slice(2), "hex");
        sig[c.signatureByte] ^= 0x01;
        headers[SIGNATURE_HEADER] = "0x" + sig.toString("hex");
      }
      return refusedWithCode(() => verifySignedHeaders({ method: m, url, headers, now: NOW }));
    }),
  );
  t.pass(`${n} signed-request cases`);
});

t.test("arbitrary and half-right headers are refused with a SIGNATURE_* code", async (t) => {
  const value = fc.oneof(
    fc.string({ maxLength: 140 }),
    fc.constantFrom("", "0x", "0x" + "0".repeat(40), wallets[0].address, wallets[0].address.toLowerCase(), String(NOW), "1e12", "-1", "0x" + "f".repeat(130), "00".repeat(32), "G".repeat(64)),
    fc.array(fc.string({ maxLength: 20 }), { maxLength: 3 }),
  );
  const headers = fc.record(
    { [ADDRESS_HEADER]: value, [TIMESTAMP_HEADER]: value, [SIGNATURE_HEADER]: value, [BODY_HASH_HEADER]: value },
    { requiredKeys: [] },
  ) as fc.Arbitrary<Record<string, string | string[]>>;
  const n = await check(
    FILE,
    1500,
    fc.property(method, target, headers, (m, url, h) => refusedWithCode(() => verifySignedHeaders({ method: m, url, headers: h, now: NOW }))),
  );
  t.pass(`${n} header cases`);
});
