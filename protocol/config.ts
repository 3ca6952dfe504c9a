import { readFileSync } from "node:fs";
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

/** Every environment variable the product reads, with what it means (also printed in --help). */
export const ENV_VARS = {
  QUACKMESH_HOME: "folder for config, keys and the orchestrator's data (default ~/.quackmesh)",
  QUACKMESH_NETWORK: "local | duckchain-testnet | duckchain (default local)",
  QUACKMESH_RPC_URL: "JSON-RPC URL; overrides the network's default",
  QUACKMESH_PRIVATE_KEY: "wallet key (0x…); on the local chain a dev account is the default",
  QUACKMESH_ORCHESTRATOR: "orchestrator URL (default http://127.0.0.1:8080)",
  QUACKMESH_DUCK_TOKEN: "address of $DUCK on DuckChain (required there; local deploys its own)",
  QUACKMESH_DEPLOYMENTS: "folder of deployments/<network>.json (default ./deployments)",
  QUACKMESH_EVALUATOR_KEY: "the orchestrator's evaluator key (generated into the data dir if absent)",
} as const;

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
    deploymentsDir: pick("deploymentsDir") ?? join(process.cwd(), "deployments"),
  };
}
