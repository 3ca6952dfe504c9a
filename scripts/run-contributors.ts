/**
 * Runs N `quackmesh contribute` processes on the folders of a split (contributor-1 … contributor-N,
 * as scripts/split-mnist.ts writes them), each with its own dev account, and prefixes their output.
 * Ctrl-C stops them all.
 *
 *   node dist/scripts/run-contributors.js --job ID --data DIR [--count N] [--rpc URL]
 *        [--orchestrator URL] [-- more contribute flags, e.g. --epochs 2]
 */
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { QuackError } from "../protocol/errors.js";
import { spawnCli, type CliChild } from "../cli/lib/demo/processes.js";
import { onStopSignal } from "../cli/lib/signals.js";

export interface RunContributorsOptions {
  job: string;
  data: string;
  count?: number;
  rpc?: string;
  orchestrator?: string;
  extra?: string[];
  /** Where each prefixed line goes (default stdout). */
  onLine?: (line: string) => void;
}

/** Dev account of the i-th contributor (0-based): contributor1-4, then accounts 10 and up. */
export function contributorAccount(i: number): string {
  return i < 4 ? `contributor${i + 1}` : String(10 + i - 4);
}

export function startContributors(o: RunContributorsOptions): CliChild[] {
  const root = resolve(o.data);
  const count = o.count ?? countFolders(root);
  if (count < 1) throw new QuackError("DATA_NOT_FOUND", `${root} holds no contributor-1 folder.`, { fix: "Split the data first: node dist/scripts/split-mnist.js --out DIR --clients 3." });
  const print = o.onLine ?? ((l: string) => process.stdout.write(l + "\n"));
  return Array.from({ length: count }, (_, i) => {
    const name = `contributor-${i + 1}`;
    const dir = join(root, name);
    if (!existsSync(dir)) throw new QuackError("DATA_NOT_FOUND", `${dir} does not exist.`, { fix: `Pass --count ${i} or split into more folders.` });
    const args = ["contribute", "--data", dir, "--job", o.job, "--account", contributorAccount(i)];
    if (o.rpc) args.push("--rpc", o.rpc);
    if (o.orchestrator) args.push("--orchestrator", o.orchestrator);
    return spawnCli([...args, ...(o.extra ?? [])], { name, onStdout: (l) => print(`[${name}] ${l}`), onStderr: (l) => print(`[${name}] ${l}`) });
  });
}

function countFolders(root: string): number {
  let n = 0;
  while (existsSync(join(root, `contributor-${n + 1}`))) n++;
  return n;
}

async function main(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { job: { type: "string" }, data: { type: "string" }, count: { type: "string" }, rpc: { type: "string" }, orchestrator: { type: "string" }, help: { type: "boolean", short: "h" } },
  });
  if (values.help || !values.job || !values.data) {
    process.stdout.write("usage: node dist/scripts/run-contributors.js --job ID --data DIR [--count N] [--rpc URL] [--orchestrator URL] [-- contribute flags]\n");
    if (!values.help) process.exitCode = 2;
    return;
  }
  const children = startContributors({ job: values.job, data: values.data, count: values.count === undefined ? undefined : Number(values.count), rpc: values.rpc, orchestrator: values.orchestrator, extra: positionals });
  const off = onStopSignal(() => void Promise.all(children.map((c) => c.stop())));
  const exits = await Promise.all(children.map((c) => c.exited));
  off();
  exits.forEach((e, i) => {
    if (e.code !== 0) process.stderr.write(`${children[i].name} exited with ${e.code ?? e.signal}\n`);
  });
  process.exitCode = exits.find((e) => e.code !== 0)?.code ?? (exits.some((e) => e.code !== 0) ? 1 : 0);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`error: ${(err as Error).message}\n${err instanceof QuackError && err.fix ? `  fix: ${err.fix}\n` : ""}`);
    process.exitCode = 1;
  });
}
