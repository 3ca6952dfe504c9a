import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { QuackError } from "./errors.js";

/**
 * Settings resolve in one order everywhere: command-line flag, then QUACKMESH_* environment
 * variable, then ~/.quackmesh/config.json, then the built-in default.
 */
export interface Settings {
  home: string;
  network: string;
  rpc?: string;
  privateKey?: string;
  orchestrator: string;
  duckToken?: string;
  deploymentsDir: string;
}

export interface EnvVarInfo {
  /** What it means (Markdown: `code` only). */
  doc: string;
  /** What applies when it is unset (Markdown: `code` only). */
  default?: string;
  /** Who sets it, for variables a person does not set. */
  setBy?: string;
}

/**
 * Every environment variable the product reads, in one table: `quackmesh --help` lists the ones a
 * person sets, and README.md's table (between its env:start/env:end markers) is rendered from all.
 */
export const ENV_VARS = {
  QUACKMESH_HOME: { doc: "folder for config, keys, contributor state and the orchestrator's data", default: "`~/.quackmesh`" },
  QUACKMESH_NETWORK: { doc: "`local` | `duckchain-testnet` (chainId 202105) | `duckchain` (chainId 5545)", default: "`local`" },
  QUACKMESH_RPC_URL: { doc: "JSON-RPC URL; overrides the network's default" },
  QUACKMESH_PRIVATE_KEY: { doc: "wallet key (0x…); required off the local chain", default: "a dev account on the local chain" },
  QUACKMESH_ORCHESTRATOR: { doc: "orchestrator URL", default: "`http://127.0.0.1:8080`" },
  QUACKMESH_ORCHESTRATOR_PUBLIC_URL: { doc: "the URL cluster workers use to reach the orchestrator", default: "where it listens" },
  QUACKMESH_DUCK_TOKEN: { doc: "address of $DUCK on DuckChain (required there; the local deploy makes its own)" },
  QUACKMESH_DEPLOYMENTS: { doc: "folder of `deployments/<network>.json`; `deploy` writes there and every command reads there, from any folder", default: "`./deployments` where it exists, else `$QUACKMESH_HOME/deployments`" },
  QUACKMESH_DATABASE_URL: { doc: "postgres:// URL of the orchestrator's store, shared by every `quackmesh serve` pointed at it (`serve --database`)", default: "SQLite in the data dir" },
  QUACKMESH_EVALUATOR_KEY: { doc: "the orchestrator's evaluator key", default: "generated into the data dir, mode 0600" },
  QUACKMESH_PAYOUT_ADDRESS: { doc: "where the orchestrator's inference earnings go", default: "the evaluator address" },
  QUACKMESH_AWS_ENDPOINT: { doc: "EC2/RDS/SSM/SageMaker-compatible endpoint for `quackmesh aws`", default: "AWS's own" },
  QUACKMESH_AWS_PACKAGE: { doc: "what an EC2 instance installs with `npm install -g` (tarball URL, git URL or name@version)" },
  AWS_REGION: { doc: "AWS region for `quackmesh aws` without --region (credentials and `AWS_PROFILE`: the AWS SDK's default chain)" },
  AWS_DEFAULT_REGION: { doc: "AWS region when `AWS_REGION` is unset" },
  QUACKMESH_NO_CUDA: { doc: "`1`: build the addon without CUDA kernels" },
  QUACKMESH_THREADS: { doc: "CPU threads of the engine", default: "all cores" },
  QUACKMESH_SIMD: { doc: "force the CPU kernel set (`avx2` or `sse`), for comparison" },
  QUACKMESH_NATIVE_BUILD: { doc: "`debug`: load the debug build of the addon (`npm run build:native:debug`)" },
  QUACKMESH_NO_HUGEPAGES: { doc: "`1`: no huge pages for large aggregation results" },
  QUACKMESH_CUDA_GRAPH: { doc: "`0`: no CUDA graph replay in GPU training" },
  QUACKMESH_CHILD_NODE_ARGS: { doc: "extra Node flags for the orchestrator process of the load benchmarks (e.g. `--cpu-prof`)" },
  QUACKMESH_CHAOS_SEED: { doc: "seed of the chaos drill's kill schedule (`cli/e2e/chaos.test.ts` prints the seed it used): replays a run", default: "random" },
  QUACKMESH_CHAOS_PROVIDER_SEED: { doc: "seed of the provider chaos drill's kill moment (`cli/e2e/chaos-provider.test.ts` prints the seed it used): replays a run", default: "random" },
  SSH_ORIGINAL_COMMAND: { doc: "the command a renter's SSH session asked for; the SSH gate lets only `quackmesh worker` and SFTP through", setBy: "sshd" },
} as const satisfies Record<string, EnvVarInfo>;

export type EnvName = keyof typeof ENV_VARS;

const FLAG_TO_ENV: Record<string, EnvName> = {
  home: "QUACKMESH_HOME",
  network: "QUACKMESH_NETWORK",
  rpc: "QUACKMESH_RPC_URL",
  privateKey: "QUACKMESH_PRIVATE_KEY",
  orchestrator: "QUACKMESH_ORCHESTRATOR",
  duckToken: "QUACKMESH_DUCK_TOKEN",
  deploymentsDir: "QUACKMESH_DEPLOYMENTS",
};

export function defaultHome(env: NodeJS.ProcessEnv = process.env): string {
  return env.QUACKMESH_HOME ?? join(homedir(), ".quackmesh");
}

export function readConfigFile(home: string): Record<string, unknown> {
  const file = join(home, "config.json");
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return {};
  }
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) throw new Error("not an object");
    return parsed as Record<string, unknown>;
  } catch (cause) {
    throw new QuackError("BAD_CONFIG", `${file} is not a JSON object.`, { fix: `Fix or delete ${file}.`, cause });
  }
}

/** Resolve settings from flags (may be partial), the environment and the config file. */
export function resolveSettings(flags: Partial<Settings> = {}, env: NodeJS.ProcessEnv = process.env): Settings {
  const home = flags.home ?? defaultHome(env);
  const file = readConfigFile(home);
  const pick = (key: keyof Settings): string | undefined => {
    const flag = flags[key];
    if (typeof flag === "string" && flag !== "") return flag;
    const fromEnv = env[FLAG_TO_ENV[key]];
    if (fromEnv !== undefined && fromEnv !== "") return fromEnv;
    const fromFile = file[key];
    return typeof fromFile === "string" ? fromFile : undefined;
  };
  return {
    home,
    network: pick("network") ?? "local",
    rpc: pick("rpc"),
    privateKey: pick("privateKey"),
    orchestrator: pick("orchestrator") ?? "http://127.0.0.1:8080",
    duckToken: pick("duckToken"),
    deploymentsDir: pick("deploymentsDir") ?? defaultDeploymentsDir(home),
  };
}

/**
 * Where deployments live without QUACKMESH_DEPLOYMENTS: `./deployments` when the current folder
 * has one (a development checkout), else the home's, so that a deployment is found from any folder.
 */
export function defaultDeploymentsDir(home: string, cwd: string = process.cwd()): string {
  const local = join(cwd, "deployments");
  return existsSync(local) ? local : join(home, "deployments");
}
