import t from "tap";
import { spawnSync } from "node:child_process";
import { chmod, mkdtemp, readdir, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Network } from "../../../native/index.js";
import { loadMnist, splitHoldout, subset } from "../../../native/data.js";
import { encodeSafetensors } from "../../../native/safetensors.js";
import type { Dataset, ModelSpec, Tensor } from "../../../native/types.js";
import { parseTrainerCommand, readTrainerUpdate, resolveTrainerArgv, runTrainerRound, writeTrainerData, type ExternalTrainer } from "./trainer.js";

const SPEC: ModelSpec = {
  input: [784],
  layers: [
    { type: "dense", units: 16, activation: "relu" },
    { type: "dense", units: 10, activation: "none" },
  ],
  loss: "cross-entropy",
  normalize: { mean: 0.13, std: 0.31 },
};

const root = await mkdtemp(join(tmpdir(), "qm-trainer-test-"));
t.teardown(() => rm(root, { recursive: true, force: true }));
const mnist = await loadMnist("train", { limit: 1200 });
const global = Network.create(SPEC, { seed: 7 }).weights();
const modelBytes = encodeSafetensors(global, { format: "pt" });
const data = await writeTrainerData(root, subset(mnist, Array.from({ length: 1000 }, (_, i) => i)));
const TRAIN = { epochs: 1, batchSize: 1000, lr: 0.1, momentum: 0.9, seed: 11, device: "cpu" as const };

/** A trainer written as a /bin/sh script (a stand-in for a user's program). */
async function shTrainer(name: string, body: string, timeoutMs = 30_000): Promise<ExternalTrainer> {
  const path = join(root, `${name}.sh`);
  await writeFile(path, `#!/bin/sh\nset -e\n${body}\n`);
  await chmod(path, 0o755);
  return { argv: [path], timeoutMs };
}

const round = (trainer: ExternalTrainer, over: Partial<Parameters<typeof runTrainerRound>[1]> = {}) =>
  runTrainerRound(trainer, { root, data, jobId: 1, round: 0, spec: SPEC, modelBytes, global, train: TRAIN, ...over });

t.test("the command is split like a shell's words, without a shell", async (t) => {
  t.same(parseTrainerCommand(`python3 train.py --name "a b" 'c "d"' e\\ f`), ["python3", "train.py", "--name", "a b", 'c "d"', "e f"]);
  t.same(parseTrainerCommand(`x "say \\"hi\\"" '' $HOME|cat`), ["x", 'say "hi"', "", "$HOME|cat"], "quotes escape, empty words kept, no variables or pipes");
  for (const bad of ["", "   ", `python3 "open`, "x 'open", "x \\"]) t.throws(() => parseTrainerCommand(bad), { code: "BAD_ARGUMENT" }, JSON.stringify(bad));
  const here = resolve(".");
  t.same(resolveTrainerArgv(["./bin/x", "python3", "package.json", "--out=package.json", "nope.txt"], here), [join(here, "bin/x"), "python3", join(here, "package.json"), "--out=package.json", "nope.txt"], "existing files and a program path become absolute");
});

t.test("a trainer that copies the model back passes; the folder holds the protocol's files and is removed after", async (t) => {
  const seen = join(root, "seen.txt");
  const trainer = await shTrainer("copy", `ls > ${seen}; grep -q '"protocol": 1' round.json; cp model.safetensors update.safetensors`);
  const out = await round(trainer);
  t.same(out.tensors.map((x) => x.name), global.map((x) => x.name));
  t.same(out.tensors.map((x) => Array.from(x.data.subarray(0, 4))), global.map((x) => Array.from(x.data.subarray(0, 4))));
  t.equal(out.metrics, null, "no metrics.json: none reported");
  const { readFile } = await import("node:fs/promises");
  t.same((await readFile(seen, "utf8")).trim().split("\n").sort(), ["model.safetensors", "round.json", "spec.json"]);
  t.same((await readdir(root)).filter((n) => n.startsWith("job")), [], "the round folder is gone");

  // A trainer is someone's program: it does not see the wallet key the contributor signs with.
  process.env.QUACKMESH_PRIVATE_KEY = "0x" + "11".repeat(32);
  t.teardown(() => void delete process.env.QUACKMESH_PRIVATE_KEY);
  await t.resolves(round(await shTrainer("nokey", '[ -z "$QUACKMESH_PRIVATE_KEY" ] || exit 9; [ -n "$PATH" ] || exit 8; cp model.safetensors update.safetensors')), "the key is not in its environment, the rest is");
});

t.test("failures are refused with their code, the fix and the output tail", async (t) => {
  const noisy = await shTrainer("fails", `i=0; while [ $i -lt 2000 ]; do echo "line $i"; i=$((i+1)); done; echo "boom: CUDA out of memory" >&2; exit 3`);
  const failed = await round(noisy).catch((e: unknown) => e as Error & { code: string; fix: string; details: { output: string; exitCode: number } });
  t.match(failed, { code: "TRAINER_FAILED", details: { exitCode: 3 } });
  t.match(failed.message, /exited with status 3; nothing was sent[\s\S]*boom: CUDA out of memory/);
  t.ok(failed.details.output.length <= 8192, "the output kept is bounded");
  t.match(failed.fix, /Run it by hand/);

  await t.rejects(round({ argv: ["/nonexistent/trainer"], timeoutMs: 5000 }), { code: "TRAINER_FAILED", details: { reason: "ENOENT" } });

  const slow = await shTrainer("slow", "sleep 30", 300);
  await t.rejects(round(slow), { code: "TRAINER_TIMEOUT", fix: /--trainer-timeout/ });
  // A child that outlives the killed parent must not keep the round waiting either.
  const forks = await shTrainer("forks", "sleep 30 & sleep 30", 300);
  await t.rejects(round(forks), { code: "TRAINER_TIMEOUT" });

  const stop = new AbortController();
  const running = round(await shTrainer("stopped", "sleep 30"), { signal: stop.signal });
  setTimeout(() => stop.abort(), 200);
  await t.rejects(running, { code: "ABORTED" });
});

t.test("wrong or missing update files are refused before anything is signed", async (t) => {
  const write = async (name: string, tensors: Tensor[], opts: { dtype?: "F64" } = {}) => {
    const path = join(root, `${name}.safetensors`);
    await writeFile(path, opts.dtype ? f64Safetensors(tensors) : encodeSafetensors(tensors));
    return path;
  };
  const bad = (path: string) => shTrainer(`put-${path.length}-${Math.random().toString(36).slice(2)}`, `cp ${path} update.safetensors`);
  await t.rejects(round(await shTrainer("nothing", "true")), { code: "TRAINER_BAD_UPDATE", details: { reason: "MISSING" } });
  await t.rejects(round(await shTrainer("link", "ln -s /dev/zero update.safetensors")), { code: "TRAINER_BAD_UPDATE", details: { reason: "NOT_A_FILE" } });
  await t.rejects(round(await shTrainer("garbage", "head -c 100 /dev/urandom > update.safetensors")), { code: "TRAINER_BAD_UPDATE" });
  await t.rejects(round(await shTrainer("huge", "head -c 3000000 /dev/zero > update.safetensors")), { code: "TRAINER_BAD_UPDATE", details: { reason: "TOO_LARGE" } });

  const reshaped = global.map((x, i) => (i === 0 ? { ...x, shape: [x.shape[1], x.shape[0]] } : x));
  await t.rejects(round(await bad(await write("shape", reshaped))), { code: "TRAINER_BAD_UPDATE", details: { reason: "SHAPE_MISMATCH" }, message: /0\.weight/ });
  const renamed = global.map((x, i) => (i === 3 ? { ...x, name: "3.bias" } : x));
  await t.rejects(round(await bad(await write("name", renamed))), { code: "TRAINER_BAD_UPDATE", details: { reason: "SHAPE_MISMATCH" } });
  await t.rejects(round(await bad(await write("missing", global.slice(0, 3)))), { code: "TRAINER_BAD_UPDATE", details: { reason: "SHAPE_MISMATCH" } });
  const nan = global.map((x, i) => (i === 2 ? { ...x, data: Float32Array.from(x.data, (v, j) => (j === 5 ? NaN : v)) } : x));
  await t.rejects(round(await bad(await write("nan", nan))), { code: "TRAINER_BAD_UPDATE", details: { reason: "NON_FINITE", tensor: "2.weight", index: 5 } });
  await t.rejects(round(await bad(await write("f64", global, { dtype: "F64" }))), { code: "TRAINER_BAD_UPDATE", details: { reason: "WRONG_DTYPE" } });

  const reordered = await write("reordered", [...global].reverse());
  t.same((await readTrainerUpdate(reordered, global)).map((x) => x.name), global.map((x) => x.name), "tensors in another order are put in the model's order");
});

/** A minimal safetensors writer for float64 (the product only writes float32). */
function f64Safetensors(tensors: Tensor[]): Buffer {
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const x of tensors) {
    header[x.name] = { dtype: "F64", shape: x.shape, data_offsets: [offset, offset + x.data.length * 8] };
    offset += x.data.length * 8;
  }
  let json = JSON.stringify(header);
  json += " ".repeat((8 - (json.length % 8)) % 8);
  const out = Buffer.alloc(8 + json.length + offset);
  out.writeBigUInt64LE(BigInt(json.length), 0);
  out.write(json, 8);
  let at = 8 + json.length;
  for (const x of tensors) for (const v of x.data) (out.writeDoubleLE(v, at), (at += 8));
  return out;
}

// The shipped PyTorch trainer, where a Python with torch exists.
const python = ["python3", "/usr/bin/python3"].find((p) => spawnSync(p, ["-c", "import torch"], { stdio: "ignore" }).status === 0);
const TRAINER_SCRIPT = resolve("scripts/trainers/pytorch_trainer.py");

t.test("scripts/trainers/pytorch_trainer.py trains the same model as the engine", { skip: python ? false : "no Python with `import torch` here (Debian: apt-get install python3-torch)" }, async (t) => {
  const trainer = { argv: [python!, TRAINER_SCRIPT], timeoutMs: 120_000 };
  // Full-batch steps do not depend on the shuffling: PyTorch and the engine must agree to float32 tolerance.
  const settings = { ...TRAIN, epochs: 2, batchSize: 1000 };
  const out = await round(trainer, { train: settings });
  const engine = Network.fromWeights(SPEC, global);
  await engine.train(subset(mnist, Array.from({ length: 1000 }, (_, i) => i)), settings);
  const ours = engine.weights();
  let worst = 0;
  out.tensors.forEach((x, k) => x.data.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - ours[k].data[i])))));
  t.ok(worst < 1e-4, `two full-batch momentum steps: PyTorch and the engine differ by at most ${worst.toExponential(2)}`);
  t.ok(out.metrics && out.metrics.loss > 0 && out.metrics.accuracy >= 0, "metrics.json was read");

  // Mini-batch training (CSV data this time) improves the model on held-out data.
  const { train, holdout } = splitHoldout(subset(mnist, Array.from({ length: 1200 }, (_, i) => i)), 0.2, 1);
  const csvRoot = await mkdtemp(join(root, "csv-"));
  const scaled: Dataset = { ...train, x: Float32Array.from(train.x, (v) => v * 0.5 + 0.001) };
  const csv = await writeTrainerData(csvRoot, scaled);
  t.equal(csv.format, "csv", "non-pixel data travels as CSV");
  const before = await Network.fromWeights(SPEC, global).evaluate({ ...holdout, x: Float32Array.from(holdout.x, (v) => v * 0.5 + 0.001) });
  const fit = await round(trainer, { root: csvRoot, data: csv, train: { ...TRAIN, epochs: 2, batchSize: 32, lr: 0.05 } });
  const after = await Network.fromWeights(SPEC, fit.tensors).evaluate({ ...holdout, x: Float32Array.from(holdout.x, (v) => v * 0.5 + 0.001) });
  t.ok(after.accuracy > before.accuracy + 0.3, `held-out accuracy ${before.accuracy.toFixed(3)} → ${after.accuracy.toFixed(3)}`);
});
t.test("pytorch_trainer.py builds a CNN layer by layer and trains it with the round's optimizer and FedProx μ", { skip: python ? false : "no Python with `import torch` here (Debian: apt-get install python3-torch)" }, async (t) => {
  const trainer = { argv: [python!, TRAINER_SCRIPT], timeoutMs: 120_000 };
  // Every layer kind the engine has, so each maps to its nn.Sequential entry and state-dict names.
  const cnn: ModelSpec = {
    input: [1, 28, 28],
    layers: [
      { type: "conv2d", outChannels: 4, kernel: 3, padding: 1 },
      { type: "relu" },
      { type: "maxpool2d", kernel: 2 },
      { type: "conv2d", outChannels: 6, kernel: [3, 3], stride: 2 },
      { type: "gelu" },
      { type: "avgpool2d", kernel: 2, stride: 1 },
      { type: "sigmoid" },
      { type: "flatten" },
      { type: "dense", units: 16, activation: "relu" },
      { type: "tanh" },
      { type: "dense", units: 10 },
    ],
    loss: "cross-entropy",
    normalize: { mean: 0.13, std: 0.31 },
  };
  const cnnGlobal = Network.create(cnn, { seed: 3 }).weights();
  t.same(cnnGlobal.map((x) => x.name), ["0.weight", "0.bias", "3.weight", "3.bias", "8.weight", "8.bias", "11.weight", "11.bias"], "the engine's names: a dense relu is its own entry");
  const cnnRound = (train: Parameters<typeof runTrainerRound>[1]["train"]) =>
    round(trainer, { spec: cnn, global: cnnGlobal, modelBytes: encodeSafetensors(cnnGlobal, { format: "pt" }), train });
  const sample = subset(mnist, Array.from({ length: 1000 }, (_, i) => i));

  // Full-batch steps do not depend on the shuffling: Adam with weight decay and FedProx's term as
  // the engine takes them, so PyTorch and the engine must end at the same weights.
  const settings = { ...TRAIN, epochs: 3, batchSize: 1000, lr: 0.01, optimizer: "adam" as const, weightDecay: 0.001, proximalMu: 0.5 };
  const out = await cnnRound(settings);
  t.same(out.tensors.map((x) => [x.name, x.shape]), cnnGlobal.map((x) => [x.name, x.shape]), "the update has the model's names and shapes");
  const engine = Network.fromWeights(cnn, cnnGlobal);
  await engine.train(sample, settings);
  const ours = engine.weights();
  let worst = 0;
  out.tensors.forEach((x, k) => x.data.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - ours[k].data[i])))));
  t.ok(worst < 1e-4, `three full-batch Adam steps with weight decay and μ: PyTorch and the engine differ by at most ${worst.toExponential(2)}`);

  // Mini-batches with Nesterov SGD, dropout and μ on a plain CNN: the update loads back into the engine and lowers the loss.
  const small: ModelSpec = {
    input: [1, 28, 28],
    layers: [{ type: "conv2d", outChannels: 4, kernel: 5, stride: 2 }, { type: "relu" }, { type: "flatten" }, { type: "dropout", p: 0.2 }, { type: "dense", units: 10 }],
    loss: "cross-entropy",
    normalize: { mean: 0.13, std: 0.31 },
  };
  const smallGlobal = Network.create(small, { seed: 3 }).weights();
  const before = await Network.fromWeights(small, smallGlobal).evaluate(sample);
  const fit = await round(trainer, { spec: small, global: smallGlobal, modelBytes: encodeSafetensors(smallGlobal, { format: "pt" }), train: { ...TRAIN, epochs: 1, batchSize: 32, lr: 0.05, nesterov: true, weightDecay: 1e-4, proximalMu: 0.01 } });
  t.same(fit.tensors.map((x) => [x.name, x.shape]), [["0.weight", [4, 1, 5, 5]], ["0.bias", [4]], ["4.weight", [10, 576]], ["4.bias", [10]]]);
  const after = await Network.fromWeights(small, fit.tensors).evaluate(sample);
  t.ok(after.loss < before.loss * 0.5, `training loss ${before.loss.toFixed(3)} → ${after.loss.toFixed(3)}`);
});
if (!python) console.log("# skipped the PyTorch trainer test: no Python with `import torch` here (Debian: apt-get install python3-torch)");
