/**
 * For tests that run the built CLI (dist/cli/index.js; `npm run build:ts` first) the way a user
 * does: an isolated QuackMesh home and deployments folder, and no wallet/network settings from
 * the caller's environment.
 */
import { execFile } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { packageRoot } from "../../protocol/package.js";

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface CliRunner {
  /** The deployments folder the runs use (QUACKMESH_DEPLOYMENTS). */
  deploymentsDir: string;
  run(args: string[]): Promise<CliResult>;
}

/** The first `quackmesh …` command a fix hint names (between backticks), as CLI arguments. */
export function fixCommand(fix: string | undefined): string[] {
  const m = /`quackmesh ([^`]+)`/.exec(fix ?? "");
  if (!m) throw new Error(`the fix names no quackmesh command: ${fix}`);
  return m[1].split(" ");
}

/** `deploymentsDir`: an existing deployments folder to use (default: a new empty one). */
export function cliRunner(opts: { deploymentsDir?: string } = {}): CliRunner {
  const root = packageRoot();
  const cli = join(root, "dist", "cli", "index.js");
  const deploymentsDir = opts.deploymentsDir ?? mkdtempSync(join(tmpdir(), "qm-deployments-"));
  const env: NodeJS.ProcessEnv = { ...process.env, QUACKMESH_HOME: mkdtempSync(join(tmpdir(), "qm-home-")), QUACKMESH_DEPLOYMENTS: deploymentsDir };
  delete env.QUACKMESH_PRIVATE_KEY;
  delete env.QUACKMESH_NETWORK;
  delete env.QUACKMESH_RPC_URL;
  const run = (args: string[]) =>
    new Promise<CliResult>((resolve) => {
      execFile(process.execPath, [cli, ...args], { cwd: root, env }, (err, stdout, stderr) =>
        resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });
  return { deploymentsDir, run };
}
