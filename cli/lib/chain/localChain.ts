import { spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { join } from "node:path";
import { QuackError } from "../../../protocol/errors.js";
import { devAccounts, type DevAccount } from "./accounts.js";
import { LOCAL_CHAIN_ID } from "../../../protocol/chain/networks.js";
import { packageRoot } from "../../../protocol/package.js";
import { PARENT_GUARD } from "../parentGuard.js";

export interface StartLocalChainOptions {
  /** TCP port; 0 picks a free one. Default 8545. */
  port?: number;
  /** Interface to bind. Default 127.0.0.1 (never 0.0.0.0 unless asked). */
  host?: string;
  /** Drop the node's log lines (default true). */
  quiet?: boolean;
  /** Receives each log line of the node when quiet is false. */
  onLog?: (line: string) => void;
  /** How long to wait for the node to answer JSON-RPC (default 60 s: the machine may be busy). */
  timeoutMs?: number;
}

export interface LocalChain {
  url: string;
  host: string;
  port: number;
  chainId: number;
  /** Process id of the node (also its process group id). */
  pid: number;
  /** The node's 20 funded dev accounts (10 000 ETH each at start). */
  accounts: DevAccount[];
  /** Resolves with the exit code once the node has exited, for whatever reason. */
  exited: Promise<number | null>;
  /** Last lines the node printed (for error reports). */
  logTail(): string;
  /** Kill the node's process group and wait until it has exited. Safe to call twice. */
  stop(): Promise<void>;
}

const TAIL_LINES = 40;

/** Start `hardhat node` as a child process and resolve once it answers eth_chainId. */
export async function startLocalChain(opts: StartLocalChainOptions = {}): Promise<LocalChain> {
  const host = opts.host ?? "127.0.0.1";
  const wanted = opts.port ?? 8545;
  if (!Number.isInteger(wanted) || wanted < 0 || wanted > 65535) {
    throw new QuackError("BAD_PORT", `Port ${wanted} is not a TCP port.`, { fix: "Use --port 1-65535, or 0 for a free port." });
  }
  // A port we picked ourselves can be taken by someone else before the node binds it: pick again.
  for (let attempt = 1; ; attempt++) {
    const port = wanted === 0 ? await freePort(host) : wanted;
    if (wanted !== 0) await assertPortFree(host, port);
    try {
      return await launch(host, port, opts);
    } catch (err) {
      if (wanted === 0 && attempt < 3 && err instanceof QuackError && err.code === "PORT_BUSY") continue;
      throw err;
    }
  }
}

async function launch(host: string, port: number, opts: StartLocalChainOptions): Promise<LocalChain> {
  const root = packageRoot();
  const child = spawn(
    process.execPath,
    ["--import", PARENT_GUARD, join(root, "node_modules", ".bin", "hardhat"), "node", "--hostname", host, "--port", String(port)],
    {
      cwd: root,
      detached: true, // own process group: stop() kills the node and anything it started
      stdio: ["pipe", "pipe", "pipe"],
      env: { ...process.env, HARDHAT_DISABLE_TELEMETRY_PROMPT: "true", FORCE_COLOR: "0", NO_COLOR: "1" },
    },
  );
  const pid = child.pid;
  if (pid === undefined) {
    const error = await new Promise<Error>((resolve) => child.once("error", resolve));
    throw new QuackError("CHAIN_START_FAILED", `Could not start the Hardhat node: ${error.message}.`, {
      fix: "Check that node_modules is installed (npm ci).",
      cause: error,
    });
  }
  const tail: string[] = [];
  const onLine = (line: string) => {
    tail.push(line);
    if (tail.length > TAIL_LINES) tail.shift();
    if (opts.quiet === false) opts.onLog?.(line);
  };
  // Always drain both pipes: a full pipe would block the node.
  for (const stream of [child.stdout, child.stderr]) readLines(stream!, onLine);

  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const killOnExit = () => killGroup(pid, "SIGKILL");
  process.once("exit", killOnExit);
  let stopping: Promise<void> | undefined;
  const stop = () => (stopping ??= stopChild(child, pid, exited).finally(() => process.removeListener("exit", killOnExit)));
  void exited.then(() => process.removeListener("exit", killOnExit));

  const url = `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
  try {
    await waitReady(url, exited, opts.timeoutMs ?? 60_000);
  } catch (err) {
    await stop();
    throw explainStartFailure(err, host, port, tail.join("\n"));
  }
  return { url, host, port, chainId: LOCAL_CHAIN_ID, pid, accounts: devAccounts(), exited, logTail: () => tail.join("\n"), stop };
}

function readLines(stream: NodeJS.ReadableStream, onLine: (line: string) => void): void {
  let rest = "";
  stream.setEncoding("utf8");
  stream.on("data", (chunk: string) => {
    const parts = (rest + chunk).split("\n");
    rest = parts.pop() ?? "";
    for (const line of parts) onLine(line.replace(/\r$/, ""));
  });
  stream.on("end", () => rest && onLine(rest));
}

async function waitReady(url: string, exited: Promise<number | null>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let gone: number | null | undefined;
  void exited.then((code) => (gone = code));
  while (Date.now() < deadline) {
    if (gone !== undefined) throw new Error(`exited with code ${gone}`);
    if (await answers(url)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no JSON-RPC answer within ${Math.round(timeoutMs / 1000)} s`);
}

async function answers(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: '{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}',
      signal: AbortSignal.timeout(1000),
    });
    const body = (await res.json()) as { result?: unknown };
    return typeof body.result === "string";
  } catch {
    return false;
  }
}

function explainStartFailure(err: unknown, host: string, port: number, log: string): QuackError {
  if (/EADDRINUSE/.test(log)) return portBusy(host, port);
  const why = err instanceof Error ? err.message : String(err);
  return new QuackError("CHAIN_START_FAILED", `The Hardhat node did not start: ${why}.`, {
    fix: "Read the node's output in details.log; check that hardhat.config.ts loads (npx hardhat compile).",
    details: { log },
    cause: err,
  });
}

function portBusy(host: string, port: number): QuackError {
  return new QuackError("PORT_BUSY", `Port ${port} on ${host} is already in use (another chain may be running there).`, {
    fix: `Stop the process on port ${port}, use the chain already running there, or pass --port <other> (0 picks a free port).`,
  });
}

async function assertPortFree(host: string, port: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const server = createServer();
    server.once("error", (err: NodeJS.ErrnoException) =>
      reject(err.code === "EADDRINUSE" || err.code === "EACCES" ? portBusy(host, port) : err),
    );
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve()));
  });
}

/** A port nobody listens on right now: bind port 0, read what the kernel gave, release it. */
export async function freePort(host = "127.0.0.1"): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen({ host, port: 0, exclusive: true }, () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

async function stopChild(child: ChildProcess, pid: number, exited: Promise<number | null>): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    killGroup(pid, "SIGTERM");
    const timer = setTimeout(() => killGroup(pid, "SIGKILL"), 5000);
    await exited;
    clearTimeout(timer);
  }
  // The node may have left helpers in its group; make sure none outlives it.
  killGroup(pid, "SIGKILL");
  child.stdin?.destroy();
  child.stdout?.destroy();
  child.stderr?.destroy();
}
