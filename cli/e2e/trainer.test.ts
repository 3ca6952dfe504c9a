import t from "tap";
import { spawnSync } from "node:child_process";
import { chmod, readFile, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { Network } from "../../native/index.js";
import { loadDataset } from "../../native/data.js";
import { decodeSafetensors } from "../../native/safetensors.js";
import { OrchestratorClient } from "../../orchestrator/client.js";
import { createJob } from "../lib/job/create.js";
import { planJob } from "../lib/job/params.js";
import { spawnCli } from "../lib/demo/processes.js";
import { TINY_SPEC, startTestNetwork } from "./network.js";

// `quackmesh contribute --trainer` as separate processes (built CLI: npm run build:ts first)
// against a real Hardhat node, the contracts and an orchestrator, on real MNIST.
const net = await startTestNetwork(t.teardown);
const validation = await net.dataDir("validation", 50_000, 1000);
const shard = await net.dataDir("a", 0, 3000);
const python = ["python3", "/usr/bin/python3"].find((p) => spawnSync(p, ["-c", "import torch"], { stdio: "ignore" }).status === 0);
const PYTORCH_TRAINER = resolve("scripts/trainers/pytorch_trainer.py");

const newJob = async (rounds: number, train: { optimizer?: string; proxMu?: string } = {}) =>
  createJob(
    await planJob({ model: net.specFile, validation, reward: "30", roundBudget: "10", flatPerUpdate: "2", rounds: String(rounds), minUpdates: "1", threshold: "0.5", seed: "3", ...train }),
    net.deps(),
    { pollMs: 100 },
  );

async function contribute(account: string, jobId: number, extra: string[]) {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const child = spawnCli(["contribute", "--data", shard, "--job", String(jobId), "--rpc", net.chain.url, "--orchestrator", net.server.url, "--account", account, "--json", ...extra], {
    name: account,
    env: net.env,
    onStdout: (l) => stdout.push(l),
    onStderr: (l) => stderr.push(l),
  });
  t.teardown(() => child.stop());
  const exit = await child.exited;
  return { code: exit.code, events: stdout.map((l) => JSON.parse(l) as { event: string; round?: number }), stderr };
}

t.test("a contributor training with PyTorch is attested and paid each round, and improves the model like the engine", { skip: python ? false : "no Python with `import torch` here (Debian: apt-get install python3-torch)" }, async (t) => {
  const [viaTorch, viaEngine] = [await newJob(2), await newJob(2)];
  const client = new OrchestratorClient(net.server.url);
  const initial = await client.getModel(viaTorch.jobId);
  if (initial.notModified) throw new Error("unexpected 304");
  const initialAccuracy = (await Network.fromWeights(TINY_SPEC, decodeSafetensors(initial.bytes).tensors).evaluate(await loadDataset(validation))).accuracy;

  // A round closes on a useful update (one that improves the model): gentle settings make round 1's one.
  const settings = ["--epochs", "2", "--lr", "0.05", "--momentum", "0.5"];
  const [torch, engine] = await Promise.all([
    contribute("contributor1", viaTorch.jobId, [...settings, "--trainer", `${python} ${PYTORCH_TRAINER}`]),
    contribute("contributor2", viaEngine.jobId, settings),
  ]);
  t.equal(torch.code, 0, `the PyTorch contributor exited cleanly: ${torch.stderr.join("\n")}`);
  t.equal(engine.code, 0, `the engine contributor exited cleanly: ${engine.stderr.join("\n")}`);
  t.same(torch.events.filter((e) => e.event === "attested").map((e) => e.round), [0, 1], "the evaluator attested the PyTorch update of every round");
  t.same(torch.events.filter((e) => e.event === "submitted").map((e) => e.round), [0, 1], "and it was claimed on chain every round");
  const paid = await net.contracts.trainingPool.getFunction("hasSubmitted")(viaTorch.jobId, 1, net.wallet("contributor1").address);
  t.equal(paid, true, "TrainingPool records the claim");

  const [a, b] = [await client.getJob(viaTorch.jobId), await client.getJob(viaEngine.jobId)];
  const torchAcc = a.history.map((r) => r.accuracy!);
  const engineAcc = b.history.map((r) => r.accuracy!);
  t.ok(torchAcc[0] > initialAccuracy + 0.3, `PyTorch round 0 ${torchAcc[0]} beats the initial model ${initialAccuracy}`);
  t.ok(torchAcc[1] >= torchAcc[0] - 0.01, `and round 1 keeps it: ${torchAcc.join(" → ")}`);
  t.ok(Math.abs(torchAcc[1] - engineAcc[1]) < 0.03, `PyTorch ${torchAcc[1]} and the engine ${engineAcc[1]} reach the same accuracy (same model, data and settings)`);
});

t.test("a trainer that fails, runs too long or writes a bad file is refused with its code, and nothing is sent", async (t) => {
  // The job asks for AdamW with FedProx's term: round.json carries it, under the contributor's own --prox-mu.
  const job = await newJob(1, { optimizer: "adamw", proxMu: "0.01" });
  const seen = join(net.dir, "round-seen.json");
  const script = async (name: string, body: string) => {
    const path = join(net.dir, `${name}.sh`);
    await writeFile(path, `#!/bin/sh\n${body}\n`);
    await chmod(path, 0o755);
    return path;
  };
  const cases = [
    { account: "contributor3", code: "TRAINER_FAILED", trainer: await script("fails", `cp round.json ${seen}; echo "Traceback: no module named torch" >&2; exit 2`), extra: ["--prox-mu", "0.5"] },
    { account: "contributor4", code: "TRAINER_TIMEOUT", trainer: await script("slow", "sleep 60"), extra: ["--trainer-timeout", "1"] },
    { account: "15", code: "TRAINER_BAD_UPDATE", trainer: await script("bad", "cp model.safetensors update.safetensors; printf 'xx' >> update.safetensors"), extra: [] },
  ];
  const runs = await Promise.all(cases.map((c) => contribute(c.account, job.jobId, ["--trainer", c.trainer, ...c.extra])));
  runs.forEach((r, i) => {
    t.equal(r.code, 1, `${cases[i].code}: exit status 1 (refused)`);
    const error = JSON.parse(r.stderr.at(-1) ?? "{}") as { error?: string; fix?: string };
    t.equal(error.error, cases[i].code, `${cases[i].code}: the error names it: ${r.stderr.join("\n")}`);
    t.ok(error.fix, `${cases[i].code}: with a fix`);
    t.notOk(r.events.some((e) => e.event === "trained" || e.event === "attested" || e.event === "submitted"), `${cases[i].code}: nothing trained, attested or claimed`);
  });
  t.match(JSON.parse(await readFile(seen, "utf8")), { train: { optimizer: "adamw", proximalMu: 0.5, lr: 0.1, seed: Number } }, "round.json: the job's optimizer, the contributor's own μ");
  // The cluster worker takes the same flag: its protocol line names the code.
  const lines: string[] = [];
  const worker = spawnCli(["worker", "--job", String(job.jobId), "--data", shard, "--orchestrator", net.server.url, "--key", join(net.dir, "worker.key"), "--state", join(net.dir, "worker-state"), "--trainer", cases[0].trainer], {
    name: "worker",
    env: net.env,
    onStdout: (l) => lines.push(l),
  });
  t.teardown(() => worker.stop());
  t.equal((await worker.exited).code, 1, "the worker exits 1");
  t.match(JSON.parse(lines.at(-1) ?? "{}"), { event: "error", code: "TRAINER_FAILED" }, "and reports TRAINER_FAILED");
  t.same(await net.server.app.repo.listJobUpdates(job.jobId), [], "the orchestrator received no update");
});
