// POST /api/infer/:id and GET /api/infer/:id/usage against a real Hardhat node with the deployed
// contracts: every refusal (and that it stores nothing), then a paid run, its retry and settlement.
import t from "tap";
import { createHash } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Wallet, type Contract } from "ethers";
import { loadMnist } from "../../native/data.js";
import { Network } from "../../native/index.js";
import { decodeSafetensors } from "../../native/safetensors.js";
import { devAccount } from "../../cli/lib/chain/accounts.js";
import { connectContracts } from "../../protocol/chain/contracts.js";
import { deployAll } from "../../cli/lib/chain/deploy.js";
import { freePort, startLocalChain } from "../../cli/lib/chain/localChain.js";
import { makeProvider } from "../../protocol/chain/networks.js";
import { faucet } from "../../cli/lib/chain/wallet.js";
import { encodeClusterBody, encodeInput } from "../inference/input.js";
import { generateSshKeyPair } from "../../protocol/market/sshKeys.js";
import { inferencePoolDomain, recoverUsageSigner, signUsage } from "../../protocol/chain/eip712.js";
import { announceJob, randomWallet, readyDraft, signedInject, testApp } from "../testing/fixtures.js";

const DUCK = 10n ** 18n;
const dir = await mkdtemp(join(tmpdir(), "qm-infer-routes-"));
t.teardown(() => rm(dir, { recursive: true, force: true }));
const chain = await startLocalChain({ port: 0 });
t.teardown(() => chain.stop());
const provider = makeProvider(chain.url, chain.chainId);
t.teardown(() => provider.destroy());
const settings = { network: "local", rpc: chain.url, deploymentsDir: join(dir, "deployments"), duckToken: undefined };
const deployment = await deployAll(settings, new Wallet(devAccount("operator").privateKey, provider));
const requester = new Wallet(devAccount("requester").privateKey, provider);
const stranger = new Wallet(devAccount("contributor1").privateKey, provider);
const contracts = await connectContracts(settings, requester);
await faucet(contracts, provider, requester.address, { duck: 1000n * DUCK, eth: 0n });
const poolAddress = await contracts.inferencePool.getAddress();
await (await contracts.duck.getFunction("approve")(poolAddress, 1000n * DUCK)).wait();

const FEATURES = 784;
const evaluatorKey = randomWallet().privateKey;
const evaluator = new Wallet(evaluatorKey);
const payout = randomWallet().address;
const chainOpts = { chainId: chain.chainId, trainingPool: deployment.contracts.TrainingPool, contracts: deployment.contracts, rpcUrl: chain.url, pollMs: 60_000 };
const { app } = await testApp(t, { evaluatorKey, chain: chainOpts, inference: { payout, inputBytes: 4 * FEATURES * 4 } });

const draft = await readyDraft(app, requester);
await announceJob(app, { jobId: 1, requester: requester.address, modelHash: draft.modelHash! });
const modelHash = draft.modelHash!;

/** Escrows an inference job from `from` and returns its id. */
async function escrow(opts: { model?: string; max?: bigint; orchestrator?: string } = {}): Promise<number> {
  const pool = contracts.inferencePool as Contract;
  const receipt = await (await pool.getFunction("createInferenceJob")(opts.model ?? modelHash, opts.max ?? 5n * DUCK, opts.orchestrator ?? evaluator.address)).wait();
  const log = receipt!.logs.map((l: { topics: string[]; data: string }) => pool.interface.parseLog(l)).find((p: { name: string } | null) => p?.name === "InferenceJobCreated");
  return Number(log!.args.jobId);
}

const test = await loadMnist("test", { limit: 3 });
const body = encodeInput(test.x);
const infer = (wallet: Wallet, id: number, o: { job?: number; count?: number; payload?: Buffer } = {}) =>
  signedInject(app, wallet, { method: "POST", url: `/api/infer/${id}?job=${o.job ?? 1}&count=${o.count ?? 3}`, body: o.payload ?? body });

t.test("GET /api/infer names the orchestrator address, the pool, the price and the input limit", async (t) => {
  t.same((await app.inject({ method: "GET", url: "/api/infer" })).json(), {
    orchestrator: evaluator.address,
    inferencePool: poolAddress,
    chainId: chain.chainId,
    payout,
    pricePerSecond: String(DUCK / 100n),
    minimumFee: String(DUCK / 1000n),
    inputBytes: 4 * FEATURES * 4,
  });
});

t.test("refusals answer a clear code and store nothing", async (t) => {
  const id = await escrow();
  const unsigned = await app.inject({ method: "POST", url: `/api/infer/${id}?job=1&count=3`, payload: body, headers: { "content-type": "application/octet-stream" } });
  t.match(unsigned.json(), { error: "SIGNATURE_MISSING" });
  t.equal(unsigned.statusCode, 401);

  const cases: Array<{ what: string; res: Promise<{ statusCode: number; json(): unknown }>; status: number; error: string; message?: RegExp }> = [
    { what: "another wallet than the requester", res: infer(stranger, id), status: 403, error: "NOT_REQUESTER", message: new RegExp(requester.address) },
    { what: "an inference job that does not exist", res: infer(requester, 999), status: 404, error: "INFERENCE_JOB_NOT_FOUND", message: /no job 999/ },
    { what: "a training job the orchestrator does not run", res: infer(requester, id, { job: 7 }), status: 404, error: "JOB_NOT_FOUND" },
    { what: "a body that is not count × 784 floats", res: infer(requester, id, { payload: body.subarray(0, 1000) }), status: 422, error: "INVALID_INPUT", message: /1000 bytes/ },
    { what: "a count that does not match the body", res: infer(requester, id, { count: 2 }), status: 422, error: "INVALID_INPUT", message: /holds 3 samples/ },
    { what: "NaN in the input", res: infer(requester, id, { payload: encodeInput(Float32Array.from(test.x, (v, i) => (i === FEATURES + 5 ? NaN : v))) }), status: 422, error: "INVALID_INPUT", message: /Sample 1, feature 5/ },
    { what: "an input above the limit", res: infer(requester, id, { count: 5, payload: encodeInput(new Float32Array(5 * FEATURES)) }), status: 413, error: "BODY_TOO_LARGE" },
    { what: "a count of 0", res: infer(requester, id, { count: 0 }), status: 400, error: "VALIDATION_FAILED" },
  ];
  for (const c of cases) {
    const res = await c.res;
    t.equal(res.statusCode, c.status, `${c.what}: HTTP ${c.status}`);
    t.match(res.json(), { error: c.error, ...(c.message ? { message: c.message } : {}) }, `${c.what}: ${c.error}`);
  }
  const empty = await signedInject(app, requester, { method: "POST", url: `/api/infer/${id}?job=1&count=3`, body: Buffer.alloc(0), contentType: "application/octet-stream" });
  t.match(empty.json(), { error: "BODY_EMPTY" });
  t.equal(await app.repo.getInference(id), null, "nothing stored");
  t.match((await app.inject({ method: "GET", url: `/api/infer/${id}/usage` })).json(), { error: "INFERENCE_JOB_NOT_FOUND" });
});

t.test("cluster runs: every refusal answers a clear code and starts nothing", async (t) => {
  const id = await escrow();
  const key = generateSshKeyPair().private;
  const cluster = (wallet: Wallet, o: { rentals?: string; payload?: Buffer; job?: number } = {}) =>
    signedInject(app, wallet, { method: "POST", url: `/api/infer/${id}/cluster?job=${o.job ?? 1}&count=3&rentals=${o.rentals ?? "1"}`, body: o.payload ?? encodeClusterBody(key, test.x) });
  const unsigned = await app.inject({ method: "POST", url: `/api/infer/${id}/cluster?job=1&count=3&rentals=1`, payload: encodeClusterBody(key, test.x), headers: { "content-type": "application/octet-stream" } });
  t.equal(unsigned.statusCode, 401, "unsigned: 401");
  // One at a time: a start request while another for the same job is checked is refused (UNAVAILABLE).
  const cases: Array<{ what: string; res: () => Promise<{ statusCode: number; json(): unknown }>; status: number; error: string; message?: RegExp }> = [
    { what: "a body too short to hold a key length", res: () => cluster(requester, { payload: Buffer.from([1, 2]) }), status: 422, error: "INVALID_INPUT", message: /SSH private key's length/ },
    { what: "no key, for a job without a training cluster", res: () => cluster(requester, { payload: encodeClusterBody("", test.x) }), status: 400, error: "INVALID_SSH_KEY", message: /Job 1 has no cluster of rented machines/ },
    { what: "a key that is not an SSH private key", res: () => cluster(requester, { payload: encodeClusterBody("not a key", test.x) }), status: 400, error: "INVALID_SSH_KEY" },
    { what: "another wallet than the requester", res: () => cluster(stranger), status: 403, error: "NOT_REQUESTER" },
    { what: "a rental that does not exist", res: () => cluster(requester, { rentals: "999" }), status: 409, error: "RENTAL_NOT_USABLE", message: /Rental 999 does not exist/ },
    { what: "a malformed rental list", res: () => cluster(requester, { rentals: "1,,2" }), status: 400, error: "VALIDATION_FAILED" },
    { what: "samples that do not fit the model", res: () => cluster(requester, { payload: encodeClusterBody(key, test.x.subarray(0, 100)) }), status: 422, error: "INVALID_INPUT" },
  ];
  for (const c of cases) {
    const res = await c.res();
    t.equal(res.statusCode, c.status, `${c.what}: HTTP ${c.status}`);
    t.match(res.json(), { error: c.error, ...(c.message ? { message: c.message } : {}) }, `${c.what}: ${c.error}`);
  }
  const status = await signedInject(app, requester, { method: "GET", url: `/api/infer/${id}/cluster` });
  t.match(status.json(), { error: "INFERENCE_JOB_NOT_FOUND" }, "no run was started");
});

t.test("cluster runs are kept in the store: a finished one is answered again, one a restart cut short can run again", async (t) => {
  const id = await escrow();
  const key = generateSshKeyPair().private;
  const payload = encodeClusterBody(key, test.x);
  const url = `/api/infer/${id}/cluster`;
  const post = (wallet: Wallet, p: Buffer = payload) => signedInject(app, wallet, { method: "POST", url: `${url}?job=1&count=3&rentals=1`, body: p });
  const record = { requester: requester.address, modelJobId: 1, inputSha256: createHash("sha256").update(payload).digest("hex") };

  // Started, then the process died: nothing was signed, so the same request may run it again.
  await app.repo.setMeta(`cluster-inference:${id}`, JSON.stringify(record));
  const lost = await signedInject(app, requester, { method: "GET", url });
  t.equal(lost.statusCode, 404);
  t.match(lost.json(), { error: "INFERENCE_JOB_NOT_FOUND", message: /restarted during the cluster run/, details: { lost: true } });
  t.match((await post(requester)).json(), { error: "RENTAL_NOT_USABLE" }, "a new start of the lost run goes through every check again");

  // Finished: its stored answer, to its requester only, for the same input only.
  const answer = { inferenceJobId: id, jobId: 1, requester: requester.address, state: "done", rowsDone: 3, rowsTotal: 3, parts: 1, startedAt: 1, finishedAt: 2, machines: [], answered: [{ part: 0, rentalId: "4", rows: 3, computeMs: 5 }] };
  const blob = await app.blobs.put(Buffer.from(JSON.stringify(answer)));
  await app.repo.setMeta(`cluster-inference:${id}`, JSON.stringify({ ...record, reply: blob }));
  t.match((await signedInject(app, requester, { method: "GET", url })).json(), answer, "GET answers the stored run");
  const again = await post(requester);
  t.equal(again.statusCode, 202);
  t.match(again.json(), answer, "the same request gets the stored run, not a second one");
  t.match((await post(requester, encodeClusterBody(key, new Float32Array(3 * FEATURES)))).json(), { error: "INPUT_MISMATCH" }, "other input is refused");
  t.match((await signedInject(app, stranger, { method: "GET", url })).json(), { error: "NOT_REQUESTER" }, "nobody else reads it");
});

t.test("refuses jobs for another orchestrator or model, and settled or reclaimed ones", async (t) => {
  const other = await escrow({ orchestrator: randomWallet().address });
  const wrong = await infer(requester, other);
  t.equal(wrong.statusCode, 409);
  t.match(wrong.json(), { error: "WRONG_ORCHESTRATOR", details: { orchestrator: evaluator.address } });
  const foreign = await escrow({ model: "0x" + "ab".repeat(32) });
  t.match((await infer(requester, foreign)).json(), { error: "MODEL_MISMATCH", details: { modelHash } });

  const settled = await escrow();
  const domain = inferencePoolDomain(chain.chainId, poolAddress);
  const none = signUsage(evaluator, domain, { jobId: settled, providers: [], amounts: [] });
  await (await contracts.inferencePool.getFunction("settle")(settled, [], [], none)).wait();
  const late = await infer(requester, settled);
  t.equal(late.statusCode, 409);
  t.match(late.json(), { error: "INFERENCE_SETTLED" });

  const reclaimed = await escrow();
  await provider.send("evm_increaseTime", [86_400]);
  await provider.send("evm_mine", []);
  await (await contracts.inferencePool.getFunction("reclaim")(reclaimed)).wait();
  t.match((await infer(requester, reclaimed)).json(), { error: "INFERENCE_SETTLED" });
  for (const id of [other, foreign, settled, reclaimed]) t.equal(await app.repo.getInference(id), null, `job ${id}: nothing stored`);
});

t.test("runs the model, signs the usage, answers the same again, and the statement settles once", async (t) => {
  const id = await escrow({ max: 5n * DUCK });
  const res = await infer(requester, id);
  t.equal(res.statusCode, 200, res.body);
  const reply = res.json();
  const net = Network.fromWeights((await app.repo.getJob(1))!.spec, decodeSafetensors(await app.blobs.get(modelHash)).tensors);
  const local = await net.predict(test.x, 3);
  t.same(reply.predictions.map((p: { probabilities: number[] }) => p.probabilities), [0, 1, 2].map((i) => Array.from(local.subarray(i * 10, i * 10 + 10))), "the local model's probabilities, exactly");
  t.same(reply.predictions.map((p: { class: number }) => p.class), [0, 1, 2].map((i) => { const row = Array.from(local.subarray(i * 10, i * 10 + 10)); return row.indexOf(Math.max(...row)); }));
  t.match(reply, { inferenceJobId: id, jobId: 1, modelHash, requester: requester.address, count: 3, classes: 10, payout, orchestrator: evaluator.address, inferencePool: poolAddress, chainId: chain.chainId, maxPayment: String(5n * DUCK) });
  const fee = BigInt(reply.fee);
  const byTime = (BigInt(reply.computeMs) * (DUCK / 100n) + 999n) / 1000n;
  t.equal(fee, byTime > DUCK / 1000n ? byTime : DUCK / 1000n, "0.01 DUCK per second of compute, at least 0.001 DUCK");
  t.same(reply.usage, { jobId: id, providers: [payout], amounts: [reply.fee] });
  t.equal(recoverUsageSigner(inferencePoolDomain(chain.chainId, poolAddress), reply.usage, reply.signature), evaluator.address);

  const again = await infer(requester, id);
  t.same(again.json(), reply, "a retry gets the stored answer");
  const other = await infer(requester, id, { count: 1, payload: body.subarray(0, FEATURES * 4) });
  t.equal(other.statusCode, 409);
  t.match(other.json(), { error: "INPUT_MISMATCH" });
  t.match((await infer(stranger, id)).json(), { error: "NOT_REQUESTER" });
  const statement = (await app.inject({ method: "GET", url: `/api/infer/${id}/usage` })).json();
  t.same(statement, { inferenceJobId: id, usage: reply.usage, signature: reply.signature, orchestrator: evaluator.address, inferencePool: poolAddress, chainId: chain.chainId });

  const before = (await contracts.duck.getFunction("balanceOf")(payout)) as bigint;
  await (await contracts.inferencePool.getFunction("settle")(id, [payout], [fee], reply.signature)).wait();
  t.equal((await contracts.duck.getFunction("balanceOf")(payout)) as bigint, before + fee, "the payout address is paid the fee");
  t.same((await infer(requester, id)).json(), reply, "after settlement a retry still gets the stored answer");
});

t.test("without a readable InferencePool the route answers UNAVAILABLE", async (t) => {
  const down = `http://127.0.0.1:${await freePort()}`;
  const { app: offline } = await testApp(t, { evaluatorKey, chain: { ...chainOpts, rpcUrl: down, provider: undefined } });
  const id = 1;
  await readyDraft(offline, requester).then((d) => announceJob(offline, { jobId: 1, requester: requester.address, modelHash: d.modelHash! }));
  const res = await signedInject(offline, requester, { method: "POST", url: `/api/infer/${id}?job=1&count=3`, body });
  t.equal(res.statusCode, 503);
  t.match(res.json(), { error: "UNAVAILABLE" });
  const { app: nopool } = await testApp(t, { chain: { chainId: chain.chainId, trainingPool: deployment.contracts.TrainingPool } });
  const res2 = await signedInject(nopool, requester, { method: "POST", url: `/api/infer/1?job=1&count=3`, body });
  t.equal(res2.statusCode, 503);
  t.match(res2.json(), { error: "UNAVAILABLE" });
});
