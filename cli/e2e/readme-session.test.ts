// README's "session by hand", run as written: its commands are read from README.md (so this fails
// when the README drifts from what works) and run in order, each through bash like a user's
// terminal, with `quackmesh` on the PATH as `npm link` puts it (the built dist/: npm run build:ts
// first). What differs from a user's machine, and only that: the chain and the orchestrator get
// free ports (`--port` added to those two lines; the other commands reach them through
// QUACKMESH_RPC_URL and QUACKMESH_ORCHESTRATOR), the /tmp folders it names are this test's own,
// and the working folder is a fresh one holding the README's spec.json and a link to dist/.
import t from "tap";
import { spawn, type ChildProcess } from "node:child_process";
import { chmod, mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../lib/chain/localChain.js";
import { packageRoot } from "../../protocol/package.js";

/** The commands of README's session by hand (continuation lines joined) and its spec.json. */
function readmeSession(readme: string): { steps: string[]; spec: string } {
  const at = readme.indexOf("A session by hand");
  if (at < 0) throw new Error("README.md has no 'A session by hand' section");
  const block = /```sh\n([\s\S]*?)```/.exec(readme.slice(at));
  const json = /with `spec\.json`:\s*```json\n([\s\S]*?)```/.exec(readme.slice(at));
  if (!block || !json) throw new Error("README.md's session by hand lost its sh block or its spec.json");
  const steps = block[1].replace(/\\\n\s*/g, "").split("\n").map((l) => l.trim()).filter((l) => l !== "" && !l.startsWith("#"));
  return { steps, spec: json[1] };
}

const root = packageRoot();
const dir = await mkdtemp(join(tmpdir(), "qm-readme-"));
const { steps, spec } = readmeSession(await readFile(join(root, "README.md"), "utf8"));
const [chainPort, serverPort] = [await freePort(), await freePort()];
const bin = join(dir, "bin");
await mkdir(bin);
await writeFile(join(bin, "quackmesh"), `#!/bin/sh\nexec "${process.execPath}" "${join(root, "dist", "cli", "index.js")}" "$@"\n`);
await chmod(join(bin, "quackmesh"), 0o755);
const work = join(dir, "work");
await mkdir(work);
await symlink(join(root, "dist"), join(work, "dist"));
await writeFile(join(work, "spec.json"), spec);
const env: NodeJS.ProcessEnv = {
  ...process.env,
  PATH: `${bin}:${process.env.PATH}`,
  QUACKMESH_HOME: join(dir, "home"),
  QUACKMESH_RPC_URL: `http://127.0.0.1:${chainPort}`,
  QUACKMESH_ORCHESTRATOR: `http://127.0.0.1:${serverPort}`,
};
for (const name of ["QUACKMESH_PRIVATE_KEY", "QUACKMESH_NETWORK", "QUACKMESH_DEPLOYMENTS", "QUACKMESH_DUCK_TOKEN", "QUACKMESH_DATABASE_URL"]) delete env[name];

/** The README line as this machine runs it: free ports for the two servers, this test's folders. */
function localize(step: string): string {
  let s = step.replaceAll("/tmp/qm-orchestrator", join(dir, "orchestrator")).replaceAll("/tmp/mnist", join(dir, "mnist"));
  if (/^quackmesh chain\b/.test(s)) s += ` --port ${chainPort}`;
  if (/^quackmesh serve\b/.test(s)) s += ` --port ${serverPort}`;
  return s;
}

interface Step {
  line: string;
  child: ChildProcess;
  output: () => string;
  exit: Promise<number | null>;
}

const running: Step[] = [];
t.teardown(async () => {
  for (const s of running.reverse()) if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill("SIGINT");
  await Promise.all(running.map((s) => Promise.race([s.exit, new Promise((r) => setTimeout(r, 10_000))])));
  await rm(dir, { recursive: true, force: true });
});

function start(line: string): Step {
  const child = spawn("bash", ["-c", localize(line)], { cwd: work, env, stdio: ["ignore", "pipe", "pipe"] });
  let text = "";
  child.stdout!.on("data", (d) => (text += d));
  child.stderr!.on("data", (d) => (text += d));
  const exit = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const step = { line, child, output: () => text, exit };
  running.push(step);
  return step;
}

/** A guard, not a measurement: a step that hangs fails the test instead of the suite's timeout. */
async function finished(step: Step, limitMs = 300_000): Promise<number | null> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<"late">((r) => (timer = setTimeout(() => r("late"), limitMs)));
  const code = await Promise.race([step.exit, late]);
  clearTimeout(timer);
  if (code === "late") {
    step.child.kill("SIGKILL");
    throw new Error(`'${step.line}' did not end:\n${step.output().slice(-4000)}`);
  }
  return code;
}

async function until(what: string, ready: () => Promise<boolean>, step: Step): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (step.child.exitCode !== null) throw new Error(`'${step.line}' exited before ${what}:\n${step.output().slice(-4000)}`);
    if (await ready().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${what}: not ready:\n${step.output().slice(-4000)}`);
}

const rpcAnswers = async () => (await fetch(env.QUACKMESH_RPC_URL!, { method: "POST", headers: { "content-type": "application/json" }, body: '{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}' })).ok;
const healthy = async () => (await fetch(`${env.QUACKMESH_ORCHESTRATOR}/healthz`)).ok;

t.test("README's session by hand runs as written, step by step", async (t) => {
  t.ok(steps.length >= 8, `${steps.length} steps read from README.md`);
  const together: Step[] = [];
  const began = Date.now();
  for (const line of steps) {
    const stepBegan = Date.now();
    // The lines that keep running in their own terminal: the two servers, and the contributors
    // (they run alongside each other and `job watch`, and end when the job is done).
    if (/^quackmesh chain\b/.test(line)) {
      await until("the chain answers", rpcAnswers, start(line));
    } else if (/^quackmesh serve\b/.test(line)) {
      await until("the orchestrator answers", healthy, start(line));
    } else if (/^quackmesh contribute\b.*--until-done/.test(line)) {
      together.push(start(line));
    } else {
      // A step after the contributors (job export, finish, history) comes once they are done, as a
      // person reads `job watch` to its end and lets the contributors claim their last round.
      if (together.length > 0 && !/^quackmesh job watch\b/.test(line)) {
        for (const c of together.splice(0)) t.equal(await finished(c), 0, `'${c.line}' ends with the job:\n${c.output().slice(-2000)}`);
      }
      const step = start(line);
      t.equal(await finished(step), 0, `'${line}' exits 0:\n${step.output().slice(-2000)}`);
      if (/^quackmesh job watch\b/.test(line)) t.match(step.output(), /job 1 finished after \d+ rounds/, "job watch follows the job to its end");
      if (/^quackmesh job export\b/.test(line)) {
        t.match(step.output(), /Job 1 finished/i, "finish confirms");
        const rounds = Number(/--rounds (\d+)/.exec(steps.join(" "))?.[1]);
        t.ok((await stat(join(work, `job-1-round-${rounds - 1}.safetensors`))).size > 0, "the final model, exported to ./job-1-round-<last>.safetensors");
      }
      if (/^quackmesh history\b/.test(line)) t.match(step.output(), /Updates sent\n\s+job 1 round 0: accuracy/, "the contributor's own history lists its updates");
    }
    // Printed, not asserted: how long each line took here (the contributors' time is in job watch's).
    t.comment(`${((Date.now() - stepBegan) / 1000).toFixed(1)} s  ${line}`);
  }
  t.comment(`${((Date.now() - began) / 1000).toFixed(1)} s  the whole session`);
});
