import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { isAddress, type Provider } from "ethers";
import type { Settings } from "../config.js";
import { QuackError } from "../errors.js";
import type { ResolvedNetwork } from "./networks.js";

/** The product's contracts, in deployment order (DuckToken first: the others take its address). */
export const CONTRACT_NAMES = ["DuckToken", "ComputeMarketplace", "TrainingPool", "InferencePool"] as const;
export type ContractName = (typeof CONTRACT_NAMES)[number];

/** Content of deployments/<network>.json. */
export interface Deployment {
  network: string;
  chainId: number;
  /** Block of the first deployment transaction: where chain listeners start reading events. */
  block: number;
  deployer: string;
  deployedAt: string;
  /** ComputeMarketplace's acknowledgement window, as deployed. */
  ackWindowSeconds: number;
  /** True when this deployment created DuckToken (local chain); false when $DUCK was configured. */
  duckTokenDeployed: boolean;
  contracts: Record<ContractName, string>;
  /** Address of the evaluator the orchestrator signs attestations with, when recorded. */
  evaluator?: string;
}

export function deploymentFile(settings: Pick<Settings, "deploymentsDir">, network: string): string {
  return join(settings.deploymentsDir, `${network}.json`);
}

/** Shown in messages: the path relative to the working folder when that is shorter. */
export function displayPath(file: string): string {
  const rel = relative(process.cwd(), file);
  return rel && !rel.startsWith("..") && rel.length < file.length ? rel : file;
}

/** Read and check deployments/<network>.json; undefined when there is none. */
export function readDeployment(settings: Pick<Settings, "deploymentsDir">, network: string): Deployment | undefined {
  const file = deploymentFile(settings, network);
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new QuackError("BAD_DEPLOYMENT", `Cannot read ${displayPath(file)}.`, { fix: "Check the file's permissions.", cause: err });
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (cause) {
    throw badDeployment(file, "it is not valid JSON", cause);
  }
  const problem = checkShape(data);
  if (problem) throw badDeployment(file, problem);
  return data as Deployment;
}

function badDeployment(file: string, why: string, cause?: unknown): QuackError {
  return new QuackError("BAD_DEPLOYMENT", `${displayPath(file)} is not a deployment file: ${why}.`, {
    fix: `Delete ${displayPath(file)} and run \`quackmesh deploy\` again.`,
    cause,
  });
}

function checkShape(data: unknown): string | undefined {
  if (data === null || typeof data !== "object" || Array.isArray(data)) return "not a JSON object";
  const d = data as Record<string, unknown>;
  if (typeof d.network !== "string") return "'network' is missing";
  if (!Number.isSafeInteger(d.chainId)) return "'chainId' is not an integer";
  if (!Number.isSafeInteger(d.block)) return "'block' is not an integer";
  if (typeof d.deployer !== "string" || !isAddress(d.deployer)) return "'deployer' is not an address";
  const contracts = d.contracts as Record<string, unknown> | undefined;
  if (contracts === null || typeof contracts !== "object") return "'contracts' is missing";
  for (const name of CONTRACT_NAMES) {
    const addr = contracts[name];
    if (typeof addr !== "string" || !isAddress(addr)) return `contracts.${name} is not an address`;
  }
  if (d.evaluator !== undefined && (typeof d.evaluator !== "string" || !isAddress(d.evaluator))) return "'evaluator' is not an address";
  return undefined;
}

/** Write deployments/<network>.json atomically (a reader never sees half a file). Returns the path. */
export function writeDeployment(settings: Pick<Settings, "deploymentsDir">, deployment: Deployment): string {
  const file = deploymentFile(settings, deployment.network);
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(deployment, null, 2) + "\n");
  renameSync(tmp, file);
  return file;
}

/** Merge fields into an existing deployment file (e.g. the orchestrator recording its evaluator). */
export function updateDeployment(
  settings: Pick<Settings, "deploymentsDir">,
  network: string,
  patch: Partial<Pick<Deployment, "evaluator">>,
): Deployment {
  const current = readDeployment(settings, network);
  if (!current) throw noDeployment(settings, network);
  const next = { ...current, ...patch };
  const problem = checkShape(next);
  if (problem) throw new QuackError("BAD_DEPLOYMENT", `Refusing to write a deployment where ${problem}.`);
  writeDeployment(settings, next);
  return next;
}

/** Names of the deployment's contracts that have no code on the chain behind `provider`. */
export async function contractsWithoutCode(provider: Provider, deployment: Pick<Deployment, "contracts">): Promise<ContractName[]> {
  const codes = await Promise.all(CONTRACT_NAMES.map((name) => provider.getCode(deployment.contracts[name])));
  return CONTRACT_NAMES.filter((_, i) => codes[i] === "0x");
}

function noDeployment(settings: Pick<Settings, "deploymentsDir">, network: string): QuackError {
  return new QuackError("NO_DEPLOYMENT", `No deployment for network ${network} (${displayPath(deploymentFile(settings, network))} is missing).`, {
    fix: `Run \`quackmesh deploy --network ${network}\` (or point QUACKMESH_DEPLOYMENTS at the folder that holds ${network}.json).`,
  });
}

/**
 * The deployment for the connected chain, checked against it: same chain id, and code at every
 * address (a restarted local chain has lost its contracts).
 */
export async function loadDeployment(
  settings: Pick<Settings, "deploymentsDir">,
  conn: { provider: Provider; network: Pick<ResolvedNetwork, "name" | "local"> & { chainId: number } },
): Promise<Deployment> {
  const { provider, network } = conn;
  const deployment = readDeployment(settings, network.name);
  const file = displayPath(deploymentFile(settings, network.name));
  if (!deployment) throw noDeployment(settings, network.name);
  if (deployment.chainId !== network.chainId) {
    throw new QuackError("WRONG_CHAIN", `${file} was made for chain id ${deployment.chainId}, but the RPC serves chain id ${network.chainId}.`, {
      fix: `Check --network / --rpc, or redeploy: \`quackmesh deploy --network ${network.name} --force\`.`,
    });
  }
  const missing = await contractsWithoutCode(provider, deployment);
  if (missing.length > 0) {
    throw new QuackError(
      "DEPLOYMENT_GONE",
      `${file} lists contracts with no code on chain ${network.chainId}: ${missing.join(", ")}` +
        (network.local ? " (the local chain was restarted since the deploy and lost them)." : "."),
      { fix: `Run \`quackmesh deploy --network ${network.name}\` again.`, details: { missing } },
    );
  }
  return deployment;
}
