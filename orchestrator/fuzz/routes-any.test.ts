/**
 * Generated requests against every documented route of a live app (inject): random methods,
 * path parameters, query strings, headers and bodies, signed or not. No answer is a 5xx, and a
 * refused request changes nothing in the store or the blob folder.
 */
import t from "tap";
import fc from "fast-check";
import type { Wallet } from "ethers";
import { signRequest } from "../auth.js";
import { SMALL_SPEC, announceJob, randomWallet, readyDraft, testApp } from "../testing/fixtures.js";
import { StoreWatch } from "../testing/invariants.js";
import { check, documentedRoutes, fillPath, serverFault } from "./testkit.js";

const FILE = "orchestrator/fuzz/routes-any.test.ts";

t.test("every route, any request: no 5xx, and refusals change nothing", async (t) => {
  const { app, dataDir } = await testApp(t, { limits: { modelParameters: 50_000, rate: { capacity: 1e9, refillPerSecond: 1e9 } } });
  const requester = randomWallet();
  const draft = await readyDraft(app, requester, { validation: 200 });
  await announceJob(app, { jobId: 1, requester: requester.address, modelHash: draft.modelHash! });
  const open = await readyDraft(app, requester, { validation: 100, seed: 2 });
  const wallets: Wallet[] = [requester, randomWallet(), randomWallet()];
  const routes = documentedRoutes(app.swagger() as never);
  t.ok(routes.length >= 15, `${routes.length} documented routes`);
  const watch = new StoreWatch(dataDir);
  t.teardown(() => watch.close());

  const param = fc.oneof(
    fc.constantFrom("1", "2", "0", "-1", "9007199254740993", "1e3", "0x1", draft.draftId, open.draftId, requester.address, "a".repeat(32), "..", "%00", " "),
    fc.nat().map(String),
    fc.string({ maxLength: 24 }),
  );
  const query = fc
    .dictionary(fc.constantFrom("round", "numSamples", "job", "count", "limit", "before", "address", "source", "name", "x"), fc.oneof(fc.nat(5).map(String), fc.string({ maxLength: 10 }), fc.constant("")), { maxKeys: 3 })
    .map((q) => (Object.keys(q).length ? "?" + new URLSearchParams(q).toString() : ""));
  const contentType = fc.constantFrom(undefined, "application/json", "application/octet-stream", "text/csv", "text/plain", "multipart/form-data; boundary=x", "application/json; charset=utf-16", "");
  const body = fc.oneof(
    fc.constant(undefined),
    fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
    fc.json({ maxDepth: 3 }).map((s) => Buffer.from(s)),
    fc.string({ maxLength: 100 }).map((s) => Buffer.from(s)),
  );
  const headers = fc.dictionary(fc.constantFrom("if-none-match", "accept", "x-quackmesh-round", "x-forwarded-for", "range", "accept-encoding", "x-other"), fc.string({ maxLength: 30 }), { maxKeys: 2 });
  const requestArb = fc.record({
    route: fc.constantFrom(...routes),
    method: fc.oneof({ arbitrary: fc.constant(null), weight: 4 }, { arbitrary: fc.constantFrom("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"), weight: 1 }),
    params: fc.array(param, { minLength: 1, maxLength: 3 }),
    query,
    contentType,
    body,
    headers,
    signer: fc.oneof(fc.constant(-1), fc.nat(wallets.length - 1)),
    skew: fc.oneof(fc.constant(0), fc.integer({ min: -600_000, max: 600_000 })),
  });

  let statuses = new Map<number, number>();
  const n = await check(
    FILE,
    2200,
    fc.asyncProperty(requestArb, async (r) => {
      const method = (r.method ?? r.route.method) as "GET";
      const url = fillPath(r.route.path, r.params) + r.query;
      const h: Record<string, string> = { ...r.headers };
      if (r.contentType !== undefined) h["content-type"] = r.contentType;
      if (r.signer >= 0) Object.assign(h, await signRequest(wallets[r.signer], method, url, r.body ?? null, Date.now() + r.skew));
      const before = await watch.snapshot();
      const res = await app.inject({ method, url, headers: h, payload: method === "GET" || method === "HEAD" ? undefined : r.body });
      statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
      // A HEAD answer has no body to name its code: the GET of the same target names it.
      const shown = method === "HEAD" && res.statusCode >= 500 ? await app.inject({ method: "GET", url }) : res;
      const fault = serverFault(shown.statusCode, shown.body);
      if (fault) throw new Error(`${method} ${url}: ${fault}`);
      if (res.statusCode >= 400) {
        const after = await watch.snapshot();
        if (JSON.stringify(after) !== JSON.stringify(before)) throw new Error(`${method} ${url} was refused (${res.statusCode} ${res.body.slice(0, 200)}) but changed the store: ${JSON.stringify(before.rows)} → ${JSON.stringify(after.rows)}`);
      }
      return true;
    }),
  );
  t.pass(`${n} requests; statuses ${JSON.stringify(Object.fromEntries([...statuses].sort((a, b) => a[0] - b[0])))}`);
  statuses = new Map();
  t.equal((await app.inject({ method: "GET", url: "/healthz" })).statusCode, 200, "still serving");
});
