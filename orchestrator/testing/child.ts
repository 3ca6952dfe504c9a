/** Start and kill the orchestrator child process (testing/child-server.ts) from tests and benchmarks. */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createInterface } from "node:readline";

export interface Child {
  url: string;
  evaluator: string;
  process: ChildProcess;
  exited: Promise<void>;
}

/** The entry file next to this one: .ts under the test runner, .js from dist. */
function entry(): { file: string; execArgv: string[] } {
  const here = dirname(fileURLToPath(import.meta.url));
  const js = join(here, "child-server.js");
  if (import.meta.url.endsWith(".js") && existsSync(js)) return { file: js, execArgv: [] };
  // Under tap: reuse only the TypeScript loader (tsx), not tap's own instrumentation.
  return { file: join(here, "child-server.ts"), execArgv: process.execArgv.filter((a) => a === "--import=tsx" || a.includes("@tapjs/typescript")) };
}

export async function startChild(config: Record<string, unknown>, opts: { timeoutMs?: number } = {}): Promise<Child> {
  const { file, execArgv } = entry();
  // e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof" to profile the orchestrator under load
  const extra = (process.env.QUACKMESH_CHILD_NODE_ARGS ?? "").split(" ").filter(Boolean);
  execArgv.push(...extra);
  const child = spawn(process.execPath, [...execArgv, file, JSON.stringify(config)], { stdio: ["ignore", "pipe", "pipe"] });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const lines = createInterface({ input: child.stdout! });
  const ready = new Promise<{ url: string; evaluator: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`orchestrator child not ready in time:\n${stderr}`)), opts.timeoutMs ?? 60_000);
    lines.on("line", (line) => {
      const m = /^READY (\S+) (\S+)/.exec(line);
      if (m) {
        clearTimeout(timer);
        resolve({ url: m[1], evaluator: m[2] });
      }
    });
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`orchestrator child exited before it was ready:\n${stderr}`));
    });
  });
  try {
    return { ...(await ready), process: child, exited };
  } catch (err) {
    child.kill("SIGKILL");
    throw err;
  }
}

/** kill -9 and wait for the process to be gone. */
export async function killHard(child: Child): Promise<void> {
  if (child.process.exitCode === null && child.process.signalCode === null) child.process.kill("SIGKILL");
  await child.exited;
}

/** SIGTERM (a clean close), SIGKILL if it has not exited after `graceMs`. */
export async function stopChild(child: Child, graceMs = 5000): Promise<void> {
  if (child.process.exitCode !== null || child.process.signalCode !== null) return;
  child.process.kill("SIGTERM");
  const timer = setTimeout(() => child.process.kill("SIGKILL"), graceMs);
  await child.exited;
  clearTimeout(timer);
}
