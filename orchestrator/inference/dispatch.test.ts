// dispatchParts against machines that cheat, each an embedded SSH gateway whose worker is a
// wrapper around the real `quackmesh worker --infer` (the built CLI): one bills a billion
// milliseconds per part, one corrupts its answer file after reporting its sha256, one loads the
// model and then never answers. The honest work still comes back complete and identical, the
// cheats' parts are redone, and no cheat is credited with a part or more time than was seen.
import t from "tap";
import { createHash } from "node:crypto";
import { existsSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateSshKeyPair } from "../../protocol/market/sshKeys.js";
import { Network } from "../../native/index.js";
import { loadMnist } from "../../native/data.js";
import { encodeSafetensors } from "../../native/safetensors.js";
import type { ModelSpec } from "../../native/types.js";
import { cliEntry } from "../../cli/lib/demo/processes.js";
import { SshGateway } from "../../cli/lib/market/gateway.js";
import { dispatchParts, type DispatchEvent, type InferMachine } from "./dispatch.js";
import { splitRows } from "./parts.js";

if (!existsSync(cliEntry())) {
  t.skip("the built CLI is missing: run npm run build:ts first");
  process.exit(0);
}
const dir = await mkdtemp(join(tmpdir(), "qm-dispatch-"));
t.teardown(() => rm(dir, { recursive: true, force: true }));

/** A worker entry that runs the real worker with its arguments, rewriting what it says with `tamper`. */
function wrapper(name: string, tamper: string): string {
  const file = join(dir, `${name}.mjs`);
  writeFileSync(
    file,
    `import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
const child = spawn(process.execPath, [${JSON.stringify(cliEntry())}, ...process.argv.slice(2)], { stdio: ["pipe", "pipe", "inherit"] });
process.stdin.pipe(child.stdin);
child.on("exit", (code) => process.exit(code ?? 1));
createInterface({ input: child.stdout }).on("line", (line) => {
  let m; try { m = JSON.parse(line); } catch { return console.log(line); }
  ${tamper}
  console.log(JSON.stringify(m));
});
`,
  );
  return file;
}

const silent = join(dir, "silent.mjs");
writeFileSync(
  silent,
  `import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
const sha = createHash("sha256").update(readFileSync("infer/model.safetensors")).digest("hex");
console.log(JSON.stringify({ event: "ready", features: 784, classes: 10, modelSha256: sha }));
process.stdin.resume();
`,
);

const entries = {
  honest: cliEntry(),
  inflates: wrapper("inflates", `if (m.event === "part") m.computeMs = 1e9;`),
  corrupts: wrapper("corrupts", `if (m.event === "part") { const f = "infer/out-" + m.part + ".f32"; const b = readFileSync(f); b[0] ^= 1; writeFileSync(f, b); }`),
  silent,
};

const spec: ModelSpec = { input: [784], layers: [{ type: "dense", units: 32, activation: "relu" }, { type: "dense", units: 10 }], loss: "cross-entropy" };
const net = Network.create(spec, { seed: 3 });
const safetensors = encodeSafetensors(net.weights());
const ROWS = 1200;
const x = (await loadMnist("test")).x.subarray(0, ROWS * 784);
const whole = await net.predict(x, ROWS);

const pair = generateSshKeyPair();
const machines: InferMachine[] = [];
for (const [i, [name, workerEntry]] of Object.entries(entries).entries()) {
  const g = await SshGateway.start({ hostKeyFile: join(dir, `${name}-host`), rentalsRoot: join(dir, name), workerEntry });
  t.teardown(() => g.close());
  g.grant(BigInt(i + 1), pair.public);
  machines.push({ rentalId: String(i + 1), provider: name, pricePerHour: 1n, target: { host: g.host, port: g.port, username: "quackmesh", privateKey: pair.private, hostKeyFingerprint: g.hostKeyFingerprint } });
}

t.test("cheating machines: the result is complete and identical, their parts redone, their claims capped", async (t) => {
  const parts = splitRows(ROWS, machines.length, 100);
  const events: DispatchEvent[] = [];
  const started = performance.now();
  const run = await dispatchParts(
    { machines, parts, x, features: 784, model: { safetensors, spec, sha256: createHash("sha256").update(safetensors).digest("hex") } },
    { onEvent: (e) => events.push(e), partTimeoutMs: 5000 },
  );
  const wallMs = performance.now() - started;
  t.ok(parts.every((p) => run.results[p.part]), "every part answered");
  t.ok(
    parts.every((p) => run.results[p.part]!.probabilities.every((v, j) => v === whole[p.from * 10 + j])),
    "bit for bit the model's probabilities on the whole input",
  );
  t.same(run.failed.map((f) => [f.provider, f.code]).sort(), [["corrupts", "BAD_WORKER_ANSWER"], ["silent", "WORKER_TIMEOUT"]], "the corrupting and the silent machine are dropped");
  const credited = new Set(run.results.map((r) => r!.provider));
  t.notOk(credited.has("corrupts") || credited.has("silent"), `no part credited to a dropped machine (credited: ${[...credited].join(", ")})`);
  const requeued = events.filter((e) => e.event === "machine-failed").map((e) => (e as { requeued: number | null }).requeued);
  t.same(requeued.filter((p) => p !== null).length, 2, "each dropped machine's part in flight went back to the queue");
  const inflated = run.results.filter((r) => r!.provider === "inflates");
  t.ok(inflated.length > 0, "the inflating machine answered parts");
  t.ok(inflated.every((r) => r!.computeMs <= wallMs), `its billion-millisecond claims were cut to the time seen (${inflated.map((r) => r!.computeMs).join(", ")} ms)`);
});
