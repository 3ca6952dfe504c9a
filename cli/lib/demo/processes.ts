/**
 * `quackmesh` child processes (the demo's contributors, scripts/run-contributors): spawned with
 * the built CLI, read line by line, stopped on request, and never outliving their parent: each
 * child exits when its end of the stdin pipe closes, which happens even if the parent is killed.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { packageRoot } from "../../../protocol/package.js";
import { PARENT_GUARD } from "../parentGuard.js";

export interface CliChild {
  name: string;
  pid: number;
  /** Settles with the exit code (null when killed by a signal) and the signal. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Last stderr lines, for error reports. */
  stderrTail(): string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. Safe to call twice. */
  stop(graceMs?: number): Promise<void>;
}

export interface SpawnCliOptions {
  name: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  onStdout?: (line: string) => void;
  onStderr?: (line: string) => void;
}

/** The built CLI's entry point (dist/cli/index.js). */
export function cliEntry(): string {
  return join(packageRoot(), "dist", "cli", "index.js");
}

function lines(stream: NodeJS.ReadableStream, onLine: (line: string) => void): void {
  let rest = "";
  stream.setEncoding("utf8");
  stream.on("data", (chunk: string) => {
    const parts = (rest + chunk).split("\n");
    rest = parts.pop() ?? "";
    for (const l of parts) onLine(l.replace(/\r$/, ""));
  });
  stream.on("end", () => {
    if (rest) onLine(rest);
  });
}

export function spawnCli(args: string[], opts: SpawnCliOptions): CliChild {
  const child: ChildProcess = spawn(process.execPath, ["--import", PARENT_GUARD, cliEntry(), ...args], {
    cwd: opts.cwd ?? packageRoot(),
    env: { ...process.env, FORCE_COLOR: "0", ...opts.env },
    stdio: ["pipe", "pipe", "pipe"],
  });
  const tail: string[] = [];
  lines(child.stdout!, (l) => opts.onStdout?.(l));
  lines(child.stderr!, (l) => {
    tail.push(l);
    if (tail.length > 40) tail.shift();
    opts.onStderr?.(l);
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once("exit", (code, signal) => resolve({ code, signal }));
    child.once("error", () => resolve({ code: -1, signal: null }));
  });
  let stopping: Promise<void> | undefined;
  return {
    name: opts.name,
    pid: child.pid ?? -1,
    exited,
    stderrTail: () => tail.join("\n"),
    stop(graceMs = 3000) {
      stopping ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill("SIGTERM");
          const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
          await exited;
          clearTimeout(timer);
        }
        child.stdin?.destroy();
      })();
      return stopping;
    },
  };
}

/** True while a process with this id exists. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
