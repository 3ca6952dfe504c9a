/**
 * Structure-aware generated writes against a live app (inject), signed as the client signs them:
 * model specs and settings, initial weights and updates shaped like the job's model (with odd
 * values, names, shapes, bytes), validation and training data as IDX pairs and CSV, cluster keys,
 * inference input. No answer is a 5xx; a refused write changes nothing in the store or the blobs.
 */
import t from "tap";
import fc from "fast-check";
import type { Wallet } from "ethers";
import { Network } from "../../native/index.js";
import { encodeSafetensors } from "../../native/safetensors.js";
import type { Tensor } from "../../native/types.js";
import { signRequest } from "../auth.js";
import { SMALL_SPEC, announceJob, randomWallet, readyDraft, signedInject, testApp } from "../testing/fixtures.js";
import { StoreWatch } from "../testing/invariants.js";
import { check, mutated, serverFault } from "./testkit.js";

const FILE = "orchestrator/fuzz/routes-signed.test.ts";
const TINY = { input: [784], layers: [{ type: "dense", units: 4, activation: "relu" }, { type: "dense", units: 10 }], loss: "cross-entropy" };

t.test("signed writes shaped like real ones: no 5xx, and refusals change nothing", async (t) => {
  const { app, dataDir } = await testApp(t, { limits: { modelParameters: 50_000, rate: { capacity: 1e9, refillPerSecond: 1e9 }, draftsPerAddress: 1e6 } });
  const requester = randomWallet();
  const draft = await readyDraft(app, requester, { validation: 100 });
  await announceJob(app, { jobId: 1, requester: requester.address, modelHash: draft.modelHash!, rounds: 1000 });
  const global = Network.create(SMALL_SPEC, { seed: 1 }).weights();
  const wallets: Wallet[] = [requester, ...Array.from({ length: 6 }, randomWallet)];
  const watch = new StoreWatch(dataDir);
  t.teardown(() => watch.close());
  // Fresh drafts of the requester to upload into (a draft takes each file once).
  const drafts: string[] = [];
  for (let i = 0; i < 8; i++) drafts.push((await signedInject(app, requester, { method: "POST", url: "/api/job", body: { spec: TINY } })).json().draftId);

  const value = fc.oneof({ arbitrary: fc.float({ min: -0.5, max: 0.5, noNaN: true }), weight: 8 }, { arbitrary: fc.constantFrom(NaN, Infinity, -Infinity, 1e30, -0), weight: 1 });
  /** The global model's tensors with a few values, a name or a shape changed. */
  const weightsLike = (base: Tensor[]) =>
    fc
      .record({
        noise: fc.array(fc.tuple(fc.nat(), value), { maxLength: 4 }),
        scale: fc.constantFrom(0, 1e-3, 0.05, 1, 1e3),
        rename: fc.option(fc.tuple(fc.nat(base.length - 1), fc.string({ maxLength: 6 }))),
        reshape: fc.option(fc.tuple(fc.nat(base.length - 1), fc.array(fc.integer({ min: 0, max: 20 }), { minLength: 1, maxLength: 3 }))),
        drop: fc.option(fc.nat(base.length - 1)),
        seed: fc.nat(),
      })
      .map((m) => {
        let ts = base.map((x) => ({ name: x.name, shape: [...x.shape], data: Float32Array.from(x.data, (v, i) => v + m.scale * Math.sin(i * 12.9898 + m.seed)) }));
        for (const [at, v] of m.noise) {
          const tensor = ts[at % ts.length];
          if (tensor.data.length) tensor.data[at % tensor.data.length] = v;
        }
        if (m.rename) ts[m.rename[0]].name = m.rename[1] || "x";
        if (m.reshape) {
          const shape = m.reshape[1];
          ts[m.reshape[0]] = { ...ts[m.reshape[0]], shape, data: new Float32Array(shape.reduce((a, d) => a * d, 1)) };
        }
        if (m.drop !== null) ts = ts.filter((_, i) => i !== m.drop);
        try {
          return new Uint8Array(encodeSafetensors(ts));
        } catch {
          return new Uint8Array(encodeSafetensors(base));
        }
      });
  const safetensors = mutated(weightsLike(global));
  const idxPair = fc.record({ count: fc.integer({ min: 0, max: 30 }), rows: fc.constantFrom(28, 1, 0, 27), cols: fc.constantFrom(28, 784, 0), label: fc.integer({ min: 0, max: 12 }), labelCount: fc.option(fc.integer({ min: 0, max: 30 })) }).map((p) => {
    const images = Buffer.alloc(16 + p.count * p.rows * p.cols, 17);
    images.writeUInt32BE(0x803, 0);
    images.writeUInt32BE(p.count, 4);
    images.writeUInt32BE(p.rows, 8);
    images.writeUInt32BE(p.cols, 12);
    const n = p.labelCount ?? p.count;
    const labels = Buffer.alloc(8 + n, p.label);
    labels.writeUInt32BE(0x801, 0);
    labels.writeUInt32BE(n, 4);
    return new Uint8Array(Buffer.concat([images, labels]));
  });
  const csv = fc.array(fc.tuple(fc.integer({ min: -1, max: 12 }), fc.array(fc.oneof(fc.integer({ min: 0, max: 255 }).map(String), fc.constantFrom("", "x", "nan", "1e40")), { minLength: 0, maxLength: 784 })), { maxLength: 5 }).map((rows) => rows.map(([l, f]) => [l, ...f].join(",")).join("\n"));
  const specLike = fc.record(
    {
      input: fc.oneof(fc.constant([784]), fc.array(fc.integer({ min: 0, max: 3000 }), { minLength: 1, maxLength: 3 })),
      layers: fc.array(fc.record({ type: fc.constantFrom("dense", "conv2d"), units: fc.integer({ min: 0, max: 400 }), activation: fc.constantFrom("relu", "none") }, { requiredKeys: ["type", "units"] }), { minLength: 1, maxLength: 3 }),
      loss: fc.constantFrom("cross-entropy", "mse"),
    },
    { requiredKeys: ["input", "layers"] },
  );
  const settings = fc.option(fc.record({ minUpdates: fc.integer({ min: -1, max: 6 }), rounds: fc.integer({ min: 0, max: 5 }), strategy: fc.record({ name: fc.constantFrom("fedavg", "median", "krum", "trimmed-mean", "x"), f: fc.integer({ min: 0, max: 3 }) }, { requiredKeys: ["name"] }) }, { requiredKeys: [] }), { nil: undefined });

  type Write = { method: "POST" | "PUT"; url: string; body: Uint8Array | string | object; contentType?: string };
  const draftUrl = fc.oneof({ arbitrary: fc.constantFrom(...drafts, draft.draftId), weight: 5 }, { arbitrary: fc.constantFrom("0".repeat(32), "zz"), weight: 1 });
  const write: fc.Arbitrary<Write> = fc.oneof(
    fc.record({ spec: fc.oneof(specLike, fc.constant(TINY)), settings, seed: fc.option(fc.nat(), { nil: undefined }) }).map((body) => ({ method: "POST" as const, url: "/api/job", body: JSON.parse(JSON.stringify(body)) as object })),
    fc.tuple(draftUrl, safetensors).map(([id, body]) => ({ method: "PUT" as const, url: `/api/job/draft/${id}/weights`, body })),
    fc.tuple(draftUrl, fc.oneof(idxPair, mutated(idxPair))).map(([id, body]) => ({ method: "PUT" as const, url: `/api/job/draft/${id}/validation`, body })),
    fc.tuple(draftUrl, csv).map(([id, body]) => ({ method: "PUT" as const, url: `/api/job/draft/${id}/validation`, body, contentType: "text/csv" })),
    fc.tuple(fc.nat(3), fc.nat(2), fc.oneof(fc.nat(1000), fc.constant(2 ** 53 - 1)), safetensors).map(([job, round, n, body]) => ({ method: "POST" as const, url: `/api/job/${job}/update?round=${round}&numSamples=${n}`, body })),
    fc.tuple(fc.oneof(draftUrl.map((d) => `/api/job/draft/${d}`), fc.constant("/api/job/1")), fc.record({ privateKey: fc.oneof(fc.string({ maxLength: 60 }), fc.constant("-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n")), machines: fc.integer({ min: 0, max: 4 }) })).map(([base, body]) => ({ method: "PUT" as const, url: `${base}/cluster-key`, body })),
    fc.tuple(fc.oneof(draftUrl.map((d) => `/api/job/draft/${d}`), fc.constant("/api/job/1")), fc.oneof(idxPair, csv)).map(([base, body]) => ({ method: "PUT" as const, url: `${base}/train-data`, body, contentType: typeof body === "string" ? "text/csv" : undefined })),
    fc.tuple(fc.nat(5), fc.nat(3), fc.nat(4), fc.uint8Array({ maxLength: 64 })).map(([id, job, count, body]) => ({ method: "POST" as const, url: `/api/infer/${id}?job=${job}&count=${count}`, body })),
    fc.nat(3).map((job) => ({ method: "POST" as const, url: `/api/job/${job}/abort`, body: {} })),
  );

  const statuses = new Map<number, number>();
  const n = await check(
    FILE,
    1000,
    fc.asyncProperty(write, fc.oneof({ arbitrary: fc.constant(0), weight: 3 }, { arbitrary: fc.nat(wallets.length - 1), weight: 2 }), fc.oneof({ arbitrary: fc.constant("ok" as const), weight: 8 }, { arbitrary: fc.constantFrom("stale" as const, "other-body" as const), weight: 1 }), async (w, who, how) => {
      const wallet = wallets[who];
      const isJson = !(w.body instanceof Uint8Array) && typeof w.body === "object";
      const payload = isJson ? JSON.stringify(w.body) : Buffer.from(w.body as Uint8Array | string);
      const signedBody = how === "other-body" ? Buffer.concat([Buffer.from(payload), Buffer.from([0])]) : payload;
      const headers = await signRequest(wallet, w.method, w.url, signedBody, Date.now() - (how === "stale" ? 3_600_000 : 0));
      const before = await watch.snapshot();
      const res = await app.inject({ method: w.method, url: w.url, payload, headers: { ...headers, "content-type": w.contentType ?? (isJson ? "application/json" : "application/octet-stream") } });
      statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
      const fault = serverFault(res.statusCode, res.body);
      if (fault) throw new Error(`${w.method} ${w.url}: ${fault}`);
      if (res.statusCode >= 400) {
        const after = await watch.snapshot();
        if (JSON.stringify(after) !== JSON.stringify(before)) throw new Error(`${w.method} ${w.url} was refused (${res.statusCode} ${res.body.slice(0, 200)}) but changed the store: ${JSON.stringify(before.rows)} → ${JSON.stringify(after.rows)}`);
      }
      return true;
    }),
  );
  t.pass(`${n} signed writes; statuses ${JSON.stringify(Object.fromEntries([...statuses].sort((a, b) => a[0] - b[0])))}`);
  t.equal((await app.inject({ method: "GET", url: "/healthz" })).statusCode, 200, "still serving");
});
