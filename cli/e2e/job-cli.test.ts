import t from "tap";
import { execFile, spawn } from "node:child_process";
import { cp, mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import ort from "onnxruntime-node";
import { Network } from "../../native/index.js";
import { loadDataset } from "../../native/data.js";
import { decodeSafetensors, sha256Hex } from "../../native/safetensors.js";
import { OrchestratorClient } from "../../orchestrator/client.js";
import { freePort } from "../lib/chain/localChain.js";
import { devAccount } from "../lib/chain/accounts.js";
import { cliEntry } from "../lib/demo/processes.js";
import { buildProgram } from "../program.js";
import { TINY_SPEC, startTestNetwork } from "./network.js";

// `quackmesh job …` and `quackmesh contribute` as a user runs them (the built CLI: npm run build:ts).
const net = await startTestNetwork(t.teardown);
const validation = await net.dataDir("validation", 50_000, 500);
const shard = await net.dataDir("shard", 0, 2000);
const base = ["--rpc", net.chain.url, "--orchestrator", net.server.url];

function quackmesh(args: string[]): Promise<{ code: number; stdout: string; stderr: string; lines: Array<Record<string, unknown>> }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [cliEntry(), ...args], { env: { ...process.env, ...net.env } }, (err, stdout, stderr) => {
      const lines = stdout.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Record<string, unknown>);
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr, lines });
    });
  });
}
const errorOf = (r: { stderr: string }) => JSON.parse(r.stderr.trim().split("\n").at(-1)!) as { error: string; message: string; fix?: string };
const createArgs = (over: Record<string, string> = {}) =>
  Object.entries({ "--model": net.specFile, "--validation": validation, "--reward": "30", "--rounds": "1", "--min-updates": "1", "--threshold": "0.5", "--seed": "1", ...over }).flat();

/** What a refused `job create` must not have changed: the payer's nonce and DUCK, the job count. */
async function spendingSnapshot(address: string) {
  return {
    nonce: await net.provider.getTransactionCount(address),
    duck: (await net.contracts.duck.getFunction("balanceOf")(address)) as bigint,
    jobs: (await net.contracts.trainingPool.getFunction("jobCount")()) as bigint,
  };
}

t.test("job create refuses before spending anything", async (t) => {
  const requester = net.requester.address;
  const before = await spendingSnapshot(requester);
  const badSpec = join(net.dir, "bad-spec.json");
  await writeFile(badSpec, JSON.stringify({ input: [784], layers: [{ type: "dense", units: 0 }], loss: "cross-entropy" }));
  const cases: Array<{ what: string; args: string[]; error: string; message: RegExp; payer?: string; exit?: number }> = [
    { what: "a bad spec", args: createArgs({ "--model": badSpec }), error: "BAD_SPEC", message: /units/ },
    { what: "a spec that is not JSON", args: createArgs({ "--model": validation }), error: "BAD_SPEC", message: /Cannot read|not valid JSON/ },
    { what: "unreadable data", args: createArgs({ "--validation": join(net.dir, "nowhere") }), error: "DATA_NOT_FOUND", message: /nowhere/ },
    { what: "a threshold above 1", args: createArgs({ "--threshold": "70" }), error: "BAD_ARGUMENT", message: /--threshold/ },
    { what: "a round budget above the pool", args: createArgs({ "--round-budget": "31" }), error: "BAD_AMOUNT", message: /round budget/ },
    { what: "not enough DUCK", args: [...createArgs({ "--reward": "5000" })], error: "NOT_ENOUGH_DUCK", message: /5000 DUCK/ },
    { what: "an unreachable orchestrator", args: [...createArgs(), "--orchestrator", `http://127.0.0.1:${await freePort()}`], error: "ORCHESTRATOR_UNREACHABLE", message: /Cannot reach/, exit: 3 },
  ];
  for (const c of cases) {
    const r = await quackmesh(["job", "create", ...base, ...c.args, "--json"]);
    t.equal(r.code, c.exit ?? 1, `${c.what}: exit code ${c.exit ?? 1}`);
    t.match(errorOf(r), { error: c.error, message: c.message, fix: /\S/ }, `${c.what}: ${c.error} with a fix`);
  }
  t.same(await spendingSnapshot(requester), before, "no transaction, no DUCK moved, no job");
  const drafts = await net.server.app.repo.listJobs();
  t.equal(drafts.length, 0, "no job on the orchestrator");
});

t.test("create, contribute, watch, status, list, finish, export and cancel through the CLI", async (t) => {
  // The job asks its contributors for Adam with FedProx's term.
  const created = await quackmesh(["job", "create", ...base, ...createArgs({ "--optimizer": "adam", "--prox-mu": "0.01" }), "--json"]);
  t.equal(created.code, 0, created.stderr);
  const result = created.lines.at(-1)!;
  t.match(result, { event: "created", jobId: Number, txHash: /^0x[0-9a-f]{64}$/, modelHash: /^0x[0-9a-f]{64}$/, requester: devAccount("requester").address });
  t.same(result.train, { optimizer: "adam", proximalMu: 0.01 }, "the training settings asked");
  t.same(created.lines.map((l) => l.event), ["checked", "uploaded", "approved", "escrowed", "activated", "created"]);
  const jobId = String(result.jobId);

  const contributed = await quackmesh(["contribute", ...base, "--data", shard, "--job", jobId, "--account", "contributor1", "--rounds", "1", "--lr", "0.003", "--json"]);
  t.equal(contributed.code, 0, contributed.stderr);
  t.same(contributed.lines.find((l) => l.event === "trained")?.training, { optimizer: "adam", proximalMu: 0.01 }, "the contributor trained with the job's optimizer and μ");
  t.match(contributed.lines.find((l) => l.event === "submitted"), { round: 0, reward: "0" });
  t.match(contributed.lines.find((l) => l.event === "rewarded"), { round: 0, amount: "30000000000000000000", excluded: null }, "the only useful update earns the whole round budget");

  const watched = await quackmesh(["job", "watch", jobId, ...base, "--poll", "100", "--json"]);
  t.equal(watched.code, 0, watched.stderr);
  t.match(watched.lines.find((l) => l.event === "round"), { round: 0, accuracy: Number });
  t.match(watched.lines.find((l) => l.event === "reward"), { contributor: devAccount("contributor1").address, amount: "30000000000000000000" });
  t.match(watched.lines.at(-1), { event: "finished", rounds: 1, totalPaid: "30000000000000000000" });

  const status = await quackmesh(["job", "status", jobId, ...base, "--json"]);
  t.match(status.lines[0], { jobId: Number(jobId), orchestrator: { status: "finished", settings: { train: { optimizer: "adam", proximalMu: 0.01 } } }, chain: { finished: false, remaining: "0" } });
  const list = await quackmesh(["job", "list", "--orchestrator", net.server.url, "--json"]);
  t.match(list.lines[0], { jobs: [{ jobId: Number(jobId), status: "finished" }] });

  const finished = await quackmesh(["job", "finish", jobId, ...base, "--json"]);
  t.equal(finished.code, 0, finished.stderr);
  t.match(finished.lines[0], { jobId: Number(jobId), refund: "0", how: "proof" });
  const again = await quackmesh(["job", "finish", jobId, ...base, "--json"]);
  t.match(errorOf(again), { error: "JOB_ALREADY_FINISHED" });

  const out = join(net.dir, "model.safetensors");
  const exported = await quackmesh(["job", "export", jobId, "--orchestrator", net.server.url, "--out", out, "--json"]);
  t.equal(exported.code, 0, exported.stderr);
  t.same(decodeSafetensors(await readFile(out)).tensors.map((x) => x.name), ["0.weight", "0.bias", "2.weight", "2.bias"]);
  // The same model as ONNX: onnxruntime runs the file and gives the engine's class probabilities.
  const onnxFile = join(net.dir, "model.onnx");
  const onnx = await quackmesh(["job", "export", jobId, "--orchestrator", net.server.url, "--format", "onnx", "--out", onnxFile, "--json"]);
  t.equal(onnx.code, 0, onnx.stderr);
  const onnxBytes = await readFile(onnxFile);
  t.match(onnx.lines[0], { format: "onnx", out: onnxFile, bytes: onnxBytes.length, sha256: sha256Hex(onnxBytes), round: 0 });
  const rows = await loadDataset(validation);
  const session = await ort.InferenceSession.create(onnxBytes);
  const theirs = (await session.run({ input: new ort.Tensor("float32", rows.x, [rows.count, 784]) })).probabilities.data as Float32Array;
  const ours = await Network.fromWeights(TINY_SPEC, decodeSafetensors(await readFile(out)).tensors).predict(rows.x, rows.count);
  t.ok(ours.every((p, i) => Math.abs(p - theirs[i]) <= 1e-4), "onnxruntime's probabilities are the engine's within 1e-4");
  const badFormat = buildProgram().parseAsync(["job", "export", jobId, "--orchestrator", net.server.url, "--format", "pt", "--out", join(net.dir, "model.pt")], { from: "user" });
  await t.rejects(badFormat, { code: "BAD_ARGUMENT", message: /--format 'pt'/, fix: /--format onnx/ });
  await t.rejects(stat(join(net.dir, "model.pt")), { code: "ENOENT" }, "an unknown format writes nothing");

  // A job nobody trains: the requester takes the pool back after the deadline, not before.
  const idle = await quackmesh(["job", "create", ...base, ...createArgs({ "--deadline-hours": "1" }), "--json"]);
  const idleId = String(idle.lines.at(-1)!.jobId);
  const early = await quackmesh(["job", "cancel", idleId, "--rpc", net.chain.url, "--json"]);
  t.match(errorOf(early), { error: "JOB_STILL_RUNNING", fix: /job finish/ });
  const stranger = await quackmesh(["job", "cancel", idleId, "--rpc", net.chain.url, "--account", "contributor2", "--json"]);
  t.match(errorOf(stranger), { error: "NOT_REQUESTER" });
  await net.provider.send("evm_increaseTime", [3601]);
  await net.provider.send("evm_mine", []);
  const cancelled = await quackmesh(["job", "cancel", idleId, "--rpc", net.chain.url, "--json"]);
  t.match(cancelled.lines[0], { jobId: Number(idleId), refund: "30000000000000000000", how: "deadline" });
});

t.test("contribute checks the job on chain before any work", async (t) => {
  const unknown = await quackmesh(["contribute", ...base, "--data", shard, "--job", "999", "--json"]);
  t.match(errorOf(unknown), { error: "UNKNOWN_JOB", message: /no job 999/ });
  const badJob = await quackmesh(["contribute", ...base, "--data", shard, "--job", "first", "--json"]);
  t.match(errorOf(badJob), { error: "BAD_ID" });
  const noData = await quackmesh(["contribute", ...base, "--data", join(net.dir, "nothing"), "--job", "1", "--json"]);
  t.match(errorOf(noData), { error: "DATA_NOT_FOUND" });
  const finished = await quackmesh(["contribute", ...base, "--data", shard, "--job", "1", "--json"]);
  t.match(errorOf(finished), { error: "JOB_ALREADY_FINISHED" });

  // An orchestrator that does not answer yet is waited for (said on each try), not a reason to exit.
  const gone = `http://127.0.0.1:${await freePort()}`;
  const child = spawn(process.execPath, [cliEntry(), "contribute", "--rpc", net.chain.url, "--orchestrator", gone, "--data", shard, "--job", "1", "--json"], { env: { ...process.env, ...net.env } });
  const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
  let out = "";
  const waiting = await new Promise<Record<string, unknown> | null>((resolve) => {
    child.stdout.on("data", (d: Buffer) => {
      out += d;
      const lines = out.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Record<string, unknown>);
      if (lines.filter((l) => l.event === "waiting").length >= 2) resolve(lines.find((l) => l.event === "waiting")!);
    });
    void exited.then(() => resolve(null));
    setTimeout(() => resolve(null), 60_000).unref();
  });
  child.kill();
  t.match(waiting, { event: "waiting", jobId: 1, reason: /Cannot reach the orchestrator/ }, "contribute waits for the orchestrator at its start, saying why");
  t.not(await exited, 3, "and did not exit with the transient status");
});

t.test("cluster workers train a job without claiming on chain and speak the worker protocol", async (t) => {
  const created = await quackmesh(["job", "create", ...base, ...createArgs({ "--min-updates": "2", "--optimizer": "sgd", "--weight-decay": "0.0001" }), "--nesterov", "--json"]);
  const jobId = String(created.lines.at(-1)!.jobId);
  const rentals = await Promise.all(["r1", "r2"].map(async (name, i) => {
    const cwd = join(net.dir, "rentals", name);
    await mkdir(cwd, { recursive: true });
    await cp(await net.dataDir(`worker-${i}`, 10_000 + i * 1000, 1000), join(cwd, "shard"), { recursive: true });
    return cwd;
  }));
  const poolBefore = await net.contracts.duck.getFunction("balanceOf")(net.deployment.contracts.TrainingPool);
  const runs = await Promise.all(
    rentals.map(
      (cwd) =>
        new Promise<{ code: number; lines: Array<Record<string, unknown>> }>((resolve) =>
          execFile(process.execPath, [cliEntry(), "worker", "--job", jobId, "--data", "shard", "--orchestrator", net.server.url, "--heartbeat", "200"], { cwd, env: { ...process.env, ...net.env } }, (err, stdout) =>
            resolve({ code: err ? 1 : 0, lines: stdout.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>) }),
          ),
        ),
    ),
  );
  for (const [i, r] of runs.entries()) {
    t.equal(r.code, 0);
    t.ok(r.lines.every((l) => typeof l.event === "string"), "every line is a protocol object");
    t.match(r.lines.find((l) => l.step === "attested"), { event: "progress", round: 0, accuracyBps: Number });
    t.same(r.lines.find((l) => l.step === "trained")?.training, { optimizer: "sgd", nesterov: true, weightDecay: 0.0001 }, "the worker trained with the job's settings");
    t.notOk(r.lines.some((l) => l.step === "submitted"), "no claim on chain");
    t.match(r.lines.at(-1), { event: "done", reason: "job-finished", rounds: 1 });
    const key = await stat(join(rentals[i], "worker.key"));
    t.equal(key.mode & 0o777, 0o600, "the key file is private");
  }
  t.equal(await net.contracts.duck.getFunction("balanceOf")(net.deployment.contracts.TrainingPool), poolBefore, "nothing paid from the pool");
  t.equal((await new OrchestratorClient(net.server.url).getJob(Number(jobId))).status, "finished");
  const version = await quackmesh(["worker", "--version"]);
  t.match(version.lines[0], { event: "version" });
});
