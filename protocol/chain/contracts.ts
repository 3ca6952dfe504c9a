import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Contract, Interface, type ContractRunner, type InterfaceAbi, type Provider } from "ethers";
import type { Settings } from "../config.js";
import { QuackError } from "../errors.js";
import { CONTRACT_NAMES, loadDeployment, type ContractName, type Deployment } from "./deployments.js";
import { networkOf } from "./networks.js";
import { packageRoot } from "../package.js";

export interface Artifact {
  contractName: string;
  abi: InterfaceAbi;
  bytecode: string;
}

const artifacts = new Map<string, Artifact>();

/** ABI and creation bytecode from artifacts/contracts/<Name>.sol/<Name>.json (Hardhat's output). */
export function loadArtifact(name: ContractName): Artifact {
  let artifact = artifacts.get(name);
  if (artifact) return artifact;
  const file = join(packageRoot(), "artifacts", "contracts", `${name}.sol`, `${name}.json`);
  try {
    const data = JSON.parse(readFileSync(file, "utf8")) as Partial<Artifact>;
    if (!Array.isArray(data.abi) || typeof data.bytecode !== "string") throw new Error("no abi or bytecode");
    artifact = { contractName: name, abi: data.abi, bytecode: data.bytecode };
  } catch (cause) {
    throw new QuackError("NO_ARTIFACTS", `The compiled contract ${name} is missing (${file}).`, {
      fix: "Compile the contracts: `npm run build:contracts` (npx hardhat compile --quiet).",
      cause,
    });
  }
  artifacts.set(name, artifact);
  return artifact;
}

/** Plain ethers Contract handles of one deployment, bound to a signer (or a provider for reads). */
export interface Contracts {
  duck: Contract;
  marketplace: Contract;
  trainingPool: Contract;
  inferencePool: Contract;
  deployment: Deployment;
}

const names = new WeakMap<Contract, ContractName>();

/** A handle on one contract at `address`; describeRevert knows its name. */
export function contractAt(name: ContractName, address: string, runner: ContractRunner | null): Contract {
  const contract = new Contract(address, loadArtifact(name).abi, runner);
  names.set(contract, name);
  return contract;
}

/** The name connectContracts/contractAt gave a handle, if any. */
export function contractName(contract: Contract): ContractName | undefined {
  return names.get(contract);
}

/**
 * Load the deployment of the chain behind `runner` (deployments/<network>.json, checked for code
 * at every address) and return the four contracts bound to it.
 */
export async function connectContracts(settings: Pick<Settings, "network" | "rpc" | "deploymentsDir">, runner: ContractRunner): Promise<Contracts> {
  const provider: Provider | null = runner.provider ?? (isProvider(runner) ? runner : null);
  if (!provider) throw new QuackError("NO_PROVIDER", "The signer is not connected to a chain.", { fix: "Connect the wallet to a provider first." });
  const network = await networkOf(settings, provider);
  const deployment = await loadDeployment(settings, { provider, network });
  const at = (name: ContractName) => contractAt(name, deployment.contracts[name], runner);
  return {
    duck: at("DuckToken"),
    marketplace: at("ComputeMarketplace"),
    trainingPool: at("TrainingPool"),
    inferencePool: at("InferencePool"),
    deployment,
  };
}

function isProvider(runner: ContractRunner): runner is Provider {
  return typeof (runner as Provider).getNetwork === "function" && typeof (runner as Provider).getBlockNumber === "function";
}

let allErrors: Interface | undefined;

/** One interface holding the custom errors of every product contract (and the OpenZeppelin ones they raise). */
export function productErrors(): Interface {
  if (allErrors) return allErrors;
  const seen = new Map<string, unknown>();
  for (const name of CONTRACT_NAMES) {
    for (const item of loadArtifact(name).abi as Array<{ type?: string; name?: string; inputs?: Array<{ type: string }> }>) {
      if (item.type !== "error") continue;
      const signature = `${item.name}(${(item.inputs ?? []).map((i) => i.type).join(",")})`;
      if (!seen.has(signature)) seen.set(signature, item);
    }
  }
  return (allErrors = new Interface([...seen.values()] as InterfaceAbi));
}
