// `quackmesh infer` as a user runs it (the built CLI: npm run build:ts), on a real Hardhat node and
// a real orchestrator with its own payout address: a job trained for one round on MNIST, then paid
// inference on IDX and on a features-only CSV, checked against the same model run here; exact DUCK
// movements; a retry that pays nothing twice; refusals that spend nothing; the escrow reclaimed.
import t from "tap";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Wallet } from "ethers";
import { loadMnist, subset, writeIdx } from "../../native/data.js";
import { Network } from "../../native/index.js";
import { decodeSafetensors } from "../../native/safetensors.js";
import { OrchestratorClient } from "../../orchestrator/client.js";
import { startServer } from "../../orchestrator/server.js";
import { devAccount } from "../lib/chain/accounts.js";
import { connectContracts } from "../../protocol/chain/contracts.js";
import { deployAll } from "../lib/chain/deploy.js";
import { freePort, startLocalChain } from "../lib/chain/localChain.js";
import { makeProvider } from "../../protocol/chain/networks.js";
import { packageRoot } from "../../protocol/package.js";
import { faucet } from "../lib/chain/wallet.js";
import { TINY_SPEC } from "./network.js";

const DUCK = 10n ** 18n;
const dir = await mkdtemp(join(tmpdir(), "qm-e2e-infer-"));
t.teardown(() => rm(dir, { recursive: true, force: true }));
const chain = await startLocalChain({ port: 0 });
t.teardown(() => chain.stop());
const provider = makeProvider(chain.url, chain.chainId);
t.teardown(() => provider.destroy());
const settings = { network: "local", rpc: chain.url, deploymentsDir: join(dir, "deployments"), duckToken: undefined };
const deployment = await deployAll(settings, new Wallet(devAccount("operator").privateKey, provider));
const payout = Wallet.createRandom().address;
const server = await startServer({
  dataDir: join(dir, "orchestrator"),
  port: 0,
  evalConcurrency: 1,
  chain: { chainId: chain.chainId, trainingPool: deployment.contracts.TrainingPool, contracts: deployment.contracts, rpcUrl: chain.url, startBlock: deployment.block, pollMs: 100 },
  inference: { payout },
});
t.teardown(() => server.close());
const requester = new Wallet(devAccount("requester").privateKey, provider);
const contracts = await connectContracts(settings, requester);
await faucet(contracts, provider, requester.address, { duck: 1000n * DUCK, eth: 0n });
const env = { QUACKMESH_DEPLOYMENTS: join(dir, "deployments"), QUACKMESH_HOME: join(dir, "home"), QUACKMESH_PRIVATE_KEY: "", QUACKMESH_NETWORK: "", QUACKMESH_RPC_URL: "", QUACKMESH_ORCHESTRATOR: "" };
const base = ["--rpc", chain.url, "--orchestrator", server.url];

function quackmesh(args: string[]): Promise<{ code: number; stderr: string; lines: Array<Record<string, unknown>> }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [join(packageRoot(), "dist", "cli", "index.js"), ...args], { env: { ...process.env, ...env }, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const lines = stdout.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Record<string, unknown>);
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stderr, lines });
    });
  });
}
const errorOf = (r: { stderr: string }) => JSON.parse(r.stderr.trim().split("\n").at(-1)!) as { error: string; message: string; fix?: string; details?: Record<string, unknown> };
const balance = async (a: string) => (await contracts.duck.getFunction("balanceOf")(a)) as bigint;
const pool = contracts.inferencePool;
const poolAddress = deployment.contracts.InferencePool;

// A job trained one round by one contributor: its final model answers.
const train = await loadMnist("train");
const test = await loadMnist("test");
async function idxFolder(name: string, ds: typeof train, from: number, count: number): Promise<string> {
  const out = join(dir, "data", name);
  await writeIdx(out, subset(ds, Array.from({ length: count }, (_, i) => from + i)), "data");
  return out;
}
const specFile = join(dir, "tiny.json");
await writeFile(specFile, JSON.stringify(TINY_SPEC));
const validation = await idxFolder("validation", train, 50_000, 300);
const shard = await idxFolder("shard", train, 0, 2000);
const created = await quackmesh(["job", "create", ...base, "--model", specFile, "--validation", validation, "--reward", "10", "--rounds", "1", "--min-updates", "1", "--threshold", "0.3", "--seed", "3", "--json"]);
if (created.code !== 0) throw new Error(created.stderr);
const jobId = Number(created.lines.at(-1)!.jobId);
const contributed = await quackmesh(["contribute", ...base, "--data", shard, "--job", String(jobId), "--account", "contributor1", "--rounds", "1", "--json"]);
if (contributed.code !== 0) throw new Error(contributed.stderr);
const client = new OrchestratorClient(server.url);
for (let i = 0; (await client.getJob(jobId)).status !== "finished"; i++) {
  if (i > 600) throw new Error("the job did not finish");
  await new Promise((r) => setTimeout(r, 100));
}
const job = await client.getJob(jobId);
const model = await client.getModel(jobId);
if (model.notModified) throw new Error("no model");
/** The job's final model, run here. */
const local = Network.fromWeights(job.spec, decodeSafetensors(model.bytes).tensors);

const SAMPLES = 200;
const input = await idxFolder("input", test, 0, SAMPLES);
const inputData = subset(test, Array.from({ length: SAMPLES }, (_, i) => i));

type Predictions = { inferenceJobId: number; jobId: number; count: number; accuracy?: number; predictions: Array<{ class: number; probabilities: number[]; label?: number }> };

t.test("pays for inference on the job's final model: predictions as here, exact DUCK movements", async (t) => {
  const out = join(dir, "predictions.json");
  const [reqBefore, payoutBefore] = [await balance(requester.address), await balance(payout)];
  const r = await quackmesh(["infer", ...base, "--job", String(jobId), "--input", input, "--max-payment", "2", "--out", out, "--json"]);
  t.equal(r.code, 0, r.stderr);
  t.same(r.lines.map((l) => l.event), ["checked", "approved", "escrowed", "predicted", "settled", "done"]);
  const done = r.lines.at(-1)!;
  t.match(done, { event: "done", jobId, modelHash: job.modelHash, count: SAMPLES, classes: 10, payout, maxPayment: String(2n * DUCK), settleTx: /^0x[0-9a-f]{64}$/, roundsClosed: 1 });
  t.match(r.lines[0], { event: "checked", roundsClosed: 1 }, "a trained job: no warning");
  const fee = BigInt(done.fee as string);
  t.equal(BigInt(done.paid as string), fee);
  t.equal(BigInt(done.refund as string), 2n * DUCK - fee);
  t.ok(fee >= DUCK / 1000n, "at least the minimum fee");
  t.equal(await balance(payout), payoutBefore + fee, "the payout address got exactly the fee");
  t.equal(await balance(requester.address), reqBefore - fee, "the requester paid exactly the fee (escrow out, refund in)");
  t.equal(await balance(poolAddress), 0n, "nothing left in escrow");

  const written = JSON.parse(await readFile(out, "utf8")) as Predictions;
  const probs = await local.predict(inputData.x, SAMPLES);
  const rows = Array.from({ length: SAMPLES }, (_, i) => Array.from(probs.subarray(i * 10, i * 10 + 10)));
  t.same(written.predictions.map((p) => p.probabilities), rows, "every probability equals the model run here");
  const classes = rows.map((row) => row.indexOf(Math.max(...row)));
  t.same(written.predictions.map((p) => p.class), classes);
  t.same(written.predictions.map((p) => p.label), Array.from(inputData.y), "labels from the IDX input kept");
  const accuracy = classes.filter((c, i) => c === inputData.y[i]).length / SAMPLES;
  t.equal(written.accuracy, accuracy);
  t.ok(accuracy > 0.7, `a trained model (${accuracy})`);

  // The retry: the same answer, nothing paid twice, and the contract refuses a second settle.
  const id = Number(done.inferenceJobId);
  const again = await quackmesh(["infer", ...base, "--job", String(jobId), "--input", input, "--out", out + ".again", "--resume", String(id), "--json"]);
  t.equal(again.code, 0, again.stderr);
  t.same(again.lines.map((l) => l.event), ["checked", "predicted", "settled", "done"], "no approval, no escrow");
  t.match(again.lines.at(-1), { inferenceJobId: id, settleTx: null, fee: done.fee, paid: done.paid, refund: done.refund });
  t.equal(await readFile(out + ".again", "utf8"), await readFile(out, "utf8"), "the same predictions");
  const statement = await client.inferenceUsage(id);
  let refused = "";
  try {
    await (await pool.getFunction("settle")(id, statement.usage.providers, statement.usage.amounts, statement.signature)).wait();
  } catch (err) {
    refused = pool.interface.parseError((err as { data: string }).data)?.name ?? String(err);
  }
  t.equal(refused, "AlreadySettled", "a second settle is refused");
  t.equal(await balance(payout), payoutBefore + fee, "still paid once");
});

const pixelRows = Array.from({ length: 5 }, (_, i) => Array.from(inputData.x.subarray(i * 784, (i + 1) * 784), (v) => Math.round(v * 255)).join(","));
const pixelCsv = join(dir, "features.csv");
await writeFile(pixelCsv, pixelRows.join("\n") + "\n");

t.test("a CSV of 0-255 pixels without labels, divided by --scale 255 like the IDX pixels", async (t) => {
  const out = join(dir, "csv-predictions.json");
  const r = await quackmesh(["infer", ...base, "--job", String(jobId), "--input", pixelCsv, "--scale", "255", "--max-payment", "0.5", "--out", out, "--json"]);
  t.equal(r.code, 0, r.stderr);
  t.match(r.lines[0], { event: "checked", samples: 5, labelled: false });
  t.notOk(r.lines.some((l) => l.event === "warning"), "an explicit scale: no warning");
  const written = JSON.parse(await readFile(out, "utf8")) as Predictions;
  const probs = await local.predict(inputData.x.slice(0, 5 * 784), 5);
  t.same(written.predictions.map((p) => p.probabilities), [0, 1, 2, 3, 4].map((i) => Array.from(probs.subarray(i * 10, i * 10 + 10))));
  t.equal(written.accuracy, undefined, "no labels, no accuracy");
});

t.test("a job that closed no round and a CSV of raw pixels without --scale: both said before paying", async (t) => {
  const untrained = await quackmesh(["job", "create", ...base, "--model", specFile, "--validation", validation, "--reward", "10", "--rounds", "1", "--min-updates", "1", "--threshold", "0.3", "--seed", "4", "--json"]);
  t.equal(untrained.code, 0, untrained.stderr);
  const id = Number(untrained.lines.at(-1)!.jobId);
  const r = await quackmesh(["infer", ...base, "--job", String(id), "--input", pixelCsv, "--max-payment", "0.5", "--out", join(dir, "untrained.json"), "--json"]);
  t.equal(r.code, 0, r.stderr);
  t.same(r.lines.slice(0, 4).map((l) => l.event), ["checked", "warning", "warning", "approved"], "the warnings come before the approval and the escrow");
  t.match(r.lines[0], { roundsClosed: 0 });
  t.match(r.lines[1], { warning: new RegExp(`Job ${id} has not closed any round \\(round 0 of rounds 0–0 is open\\).*untrained.*quackmesh job watch ${id}`) });
  t.match(r.lines[2], { warning: /features\.csv: features are whole numbers up to 255, like raw 0–255 pixels.*--scale 255/ });
  t.match(r.lines.at(-1), { event: "done", roundsClosed: 0 });
  const human = await quackmesh(["infer", ...base, "--job", String(id), "--input", input, "--max-payment", "0.5", "--out", join(dir, "untrained2.json")]);
  t.equal(human.code, 0, human.stderr);
  t.match(human.stderr, /warning: Job \d+ has not closed any round/, "the text output says it too");
});

t.test("refusals before the escrow spend nothing", async (t) => {
  const snapshot = async () => ({ nonce: await provider.getTransactionCount(requester.address), duck: await balance(requester.address), jobs: (await pool.getFunction("jobCount")()) as bigint });
  const before = await snapshot();
  const wrongCsv = join(dir, "wrong.csv");
  await writeFile(wrongCsv, "1,2,3\n4,5,6\n");
  const args = (over: Record<string, string>) => Object.entries({ "--job": String(jobId), "--input": input, "--max-payment": "1", ...over }).flat();
  const cases: Array<{ what: string; args: string[]; error: string; message: RegExp }> = [
    { what: "a job the orchestrator does not run", args: args({ "--job": "99" }), error: "JOB_NOT_FOUND", message: /99/ },
    { what: "a missing input", args: args({ "--input": join(dir, "nowhere") }), error: "DATA_NOT_FOUND", message: /nowhere/ },
    { what: "an input of the wrong size", args: args({ "--input": wrongCsv }), error: "BAD_DATA", message: /3 columns, but the model takes 784/ },
    { what: "more DUCK than the wallet holds", args: args({ "--max-payment": "100000" }), error: "NOT_ENOUGH_DUCK", message: /100000 DUCK/ },
    { what: "a bad amount", args: args({ "--max-payment": "lots" }), error: "BAD_AMOUNT", message: /--max-payment/ },
    { what: "a scale that is no number above 0", args: args({ "--scale": "0" }), error: "BAD_ARGUMENT", message: /--scale '0'/ },
    { what: "a scale for IDX images", args: args({ "--scale": "255" }), error: "BAD_ARGUMENT", message: /IDX pair.*CSV only/ },
    { what: "no --input", args: ["--job", String(jobId)], error: "MISSING_OPTION", message: /--input/ },
  ];
  for (const c of cases) {
    const r = await quackmesh(["infer", ...base, ...c.args, "--json"]);
    t.equal(r.code, 1, `${c.what}: exit code 1`);
    t.match(errorOf(r), { error: c.error, message: c.message, fix: /\S/ }, `${c.what}: ${c.error} with a fix`);
  }
  const down = await quackmesh(["infer", "--rpc", chain.url, "--orchestrator", `http://127.0.0.1:${await freePort()}`, ...args({}), "--json"]);
  t.match(errorOf(down), { error: "ORCHESTRATOR_UNREACHABLE", fix: /\S/ });
  t.same(await snapshot(), before, "no transaction, no DUCK moved, no inference job");
});

t.test("an escrow nobody settles comes back to the requester after 24 h, and only then", async (t) => {
  const orchestrator = (await client.inferenceInfo()).orchestrator;
  await (await contracts.duck.getFunction("approve")(poolAddress, DUCK)).wait();
  const receipt = await (await pool.getFunction("createInferenceJob")(job.modelHash, DUCK, orchestrator)).wait();
  const id = Number(pool.interface.parseLog(receipt!.logs.find((l: { address: string }) => l.address === poolAddress)!)!.args.jobId);
  const early = await quackmesh(["infer", "--rpc", chain.url, "--reclaim", String(id), "--json"]);
  t.match(errorOf(early), { error: "RECLAIM_TOO_EARLY", details: { availableAt: Number } });
  await provider.send("evm_increaseTime", [86_400]);
  await provider.send("evm_mine", []);
  const notMine = await quackmesh(["infer", "--rpc", chain.url, "--reclaim", String(id), "--account", "contributor2", "--json"]);
  t.match(errorOf(notMine), { error: "NOT_REQUESTER" });
  const before = await balance(requester.address);
  const reclaimed = await quackmesh(["infer", "--rpc", chain.url, "--reclaim", String(id), "--json"]);
  t.equal(reclaimed.code, 0, reclaimed.stderr);
  t.match(reclaimed.lines[0], { event: "reclaimed", inferenceJobId: id, refund: String(DUCK), requester: requester.address });
  t.equal(await balance(requester.address), before + DUCK, "the whole escrow back");
  const twice = await quackmesh(["infer", "--rpc", chain.url, "--reclaim", String(id), "--json"]);
  t.match(errorOf(twice), { error: "INFERENCE_SETTLED" });
  const late = await quackmesh(["infer", ...base, "--job", String(jobId), "--input", input, "--resume", String(id), "--json"]);
  t.match(errorOf(late), { error: "INFERENCE_SETTLED", details: { inferenceJobId: id } });
});
