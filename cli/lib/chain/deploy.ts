import { ContractFactory, formatEther, type BaseContract, type Signer } from "ethers";
import type { Settings } from "../../../protocol/config.js";
import { QuackError } from "../../../protocol/errors.js";
import { loadArtifact } from "../../../protocol/chain/contracts.js";
import {
  contractsWithoutCode,
  deploymentFile,
  displayPath,
  readDeployment,
  writeDeployment,
  type ContractName,
  type Deployment,
} from "../../../protocol/chain/deployments.js";
import { networkOf, parseAddress, requireDuckToken } from "../../../protocol/chain/networks.js";
import { describeRevert } from "../../../protocol/chain/revert.js";

/** Default time a provider has to acknowledge a rental before the renter may cancel: 10 minutes. */
export const DEFAULT_ACK_WINDOW_SECONDS = 600;
/** Default time after a rental's end for its arbiter's downtime statement (the stake stays locked): 1 day. */
export const DEFAULT_DISPUTE_WINDOW_SECONDS = 86_400;

export type DeployEvent =
  | { event: "replacing"; file: string; reason: "force" | "contracts-gone"; missing: ContractName[] }
  | { event: "using-duck"; address: string }
  | { event: "deployed"; contract: ContractName; address: string; txHash: string; gasUsed: string };

export interface DeployOptions {
  /** Use this $DUCK instead of deploying DuckToken (required off the local chain; else from settings). */
  duckToken?: string;
  /** Replace a deployment whose contracts still have code. */
  force?: boolean;
  ackWindowSeconds?: number;
  /** Smallest stake a machine listing needs, DUCK wei (default 0: listings may stake, need not). */
  minStake?: bigint;
  disputeWindowSeconds?: number;
  /** Progress, one event per step (the command renders them). */
  onEvent?: (e: DeployEvent) => void;
}

// Gas assumed for a deployment whose estimate fails (its real error shows when it is sent).
const FALLBACK_DEPLOY_GAS = 5_000_000n;

/**
 * Deploy DuckToken (local chain only), ComputeMarketplace, TrainingPool and InferencePool from
 * the compiled artifacts and write deployments/<network>.json. Checks first, so a refusal
 * changes nothing: an existing live deployment (without force), the $DUCK address, the funds.
 */
export async function deployAll(
  settings: Pick<Settings, "network" | "rpc" | "deploymentsDir" | "duckToken">,
  signer: Signer,
  opts: DeployOptions = {},
): Promise<Deployment & { file: string }> {
  const provider = signer.provider;
  if (!provider) throw new QuackError("NO_PROVIDER", "The deploying wallet is not connected to a chain.");
  const emit = opts.onEvent ?? (() => {});
  const ackWindowSeconds = opts.ackWindowSeconds ?? DEFAULT_ACK_WINDOW_SECONDS;
  if (!Number.isInteger(ackWindowSeconds) || ackWindowSeconds < 1 || ackWindowSeconds > 0xffffffff) {
    throw new QuackError("BAD_ARGUMENT", `Acknowledgement window ${ackWindowSeconds} s is outside 1 to 4294967295 s.`, {
      fix: "Pass a whole number of seconds, e.g. 600.",
    });
  }
  const minStake = opts.minStake ?? 0n;
  const disputeWindowSeconds = opts.disputeWindowSeconds ?? DEFAULT_DISPUTE_WINDOW_SECONDS;
  if (minStake < 0n || minStake >= 2n ** 128n) {
    throw new QuackError("BAD_ARGUMENT", `Minimum stake ${minStake} wei is outside 0 to 2^128-1.`, { fix: "Pass a DUCK amount, e.g. --min-stake 10." });
  }
  if (!Number.isInteger(disputeWindowSeconds) || disputeWindowSeconds < 1 || disputeWindowSeconds > 0xffffffff) {
    throw new QuackError("BAD_ARGUMENT", `Dispute window ${disputeWindowSeconds} s is outside 1 to 4294967295 s.`, { fix: "Pass a whole number of seconds, e.g. 86400." });
  }
  try {
    const network = await networkOf(settings, provider);
    const deployer = await signer.getAddress();
    const file = deploymentFile(settings, network.name);

    const existing = readDeployment(settings, network.name);
    if (existing && existing.chainId === network.chainId) {
      const missing = await contractsWithoutCode(provider, existing);
      if (missing.length === 0 && !opts.force) {
        throw new QuackError("DEPLOYMENT_EXISTS", `Network ${network.name} already has live contracts (${displayPath(file)}; TrainingPool at ${existing.contracts.TrainingPool}).`, {
          fix: "Use them as they are, or pass --force to deploy new contracts and replace the file.",
        });
      }
      emit({ event: "replacing", file, reason: missing.length === 0 ? "force" : "contracts-gone", missing });
    }

    // $DUCK: the local chain deploys its own unless one is given; elsewhere it must be configured.
    const given = opts.duckToken ?? settings.duckToken;
    let duck: string | undefined;
    if (!network.local || given !== undefined) {
      duck = given === undefined ? requireDuckToken(settings, network) : parseAddress(given, "The $DUCK token address");
      if ((await provider.getCode(duck)) === "0x") {
        throw new QuackError("DUCK_TOKEN_NOT_FOUND", `There is no contract at the $DUCK address ${duck} on ${network.name}.`, {
          fix: "Check --duck-token / QUACKMESH_DUCK_TOKEN for this network.",
        });
      }
      emit({ event: "using-duck", address: duck });
    }

    const plan: Array<{ name: ContractName; args: (duckAddr: string) => unknown[] }> = [
      ...(duck ? [] : [{ name: "DuckToken" as const, args: () => [] }]),
      { name: "ComputeMarketplace", args: (d) => [d, ackWindowSeconds, minStake, disputeWindowSeconds] },
      { name: "TrainingPool", args: (d) => [d] },
      { name: "InferencePool", args: (d) => [d] },
    ];
    await checkFunds(signer, deployer, plan.map((p) => ({ name: p.name, args: p.args(duck ?? deployer) })));

    const addresses: Partial<Record<ContractName, string>> = duck ? { DuckToken: duck } : {};
    let firstBlock: number | undefined;
    for (const step of plan) {
      const { contract, receipt } = await deployOne(signer, step.name, step.args(addresses.DuckToken ?? ""));
      addresses[step.name] = await contract.getAddress();
      firstBlock ??= receipt.blockNumber;
      emit({ event: "deployed", contract: step.name, address: addresses[step.name]!, txHash: receipt.hash, gasUsed: receipt.gasUsed.toString() });
    }

    const deployment: Deployment = {
      network: network.name,
      chainId: network.chainId,
      block: firstBlock!,
      deployer,
      deployedAt: new Date().toISOString(),
      ackWindowSeconds,
      duckTokenDeployed: duck === undefined,
      contracts: addresses as Record<ContractName, string>,
    };
    return { ...deployment, file: writeDeployment(settings, deployment) };
  } catch (err) {
    throw describeRevert(err);
  }
}

function factory(name: ContractName, signer: Signer): ContractFactory {
  const { abi, bytecode } = loadArtifact(name);
  return new ContractFactory(abi, bytecode, signer);
}

async function deployOne(signer: Signer, name: ContractName, args: unknown[]) {
  try {
    const contract: BaseContract = await factory(name, signer).deploy(...args);
    const receipt = await contract.deploymentTransaction()!.wait();
    if (!receipt || receipt.status !== 1) throw new QuackError("TX_REVERTED", `Deploying ${name} failed in block ${receipt?.blockNumber}.`);
    return { contract, receipt };
  } catch (err) {
    throw describeRevert(err, name, { method: "deployment" });
  }
}

/** Refuse before sending anything when the wallet cannot pay for all deployments. */
async function checkFunds(signer: Signer, deployer: string, steps: Array<{ name: ContractName; args: unknown[] }>): Promise<void> {
  const provider = signer.provider!;
  let gas = 0n;
  for (const step of steps) {
    const tx = await factory(step.name, signer).getDeployTransaction(...step.args);
    gas += await provider.estimateGas({ ...tx, from: deployer }).catch(() => FALLBACK_DEPLOY_GAS);
  }
  const fees = await provider.getFeeData();
  const price = fees.maxFeePerGas ?? fees.gasPrice ?? 0n;
  const needed = gas * price;
  const balance = await provider.getBalance(deployer);
  if (balance < needed) {
    throw new QuackError("NO_FUNDS", `The deployer ${deployer} holds ${formatEther(balance)} ETH; deploying needs about ${formatEther(needed)} ETH (${gas} gas).`, {
      fix: "Fund this address with ETH, or deploy with another key (--key FILE / QUACKMESH_PRIVATE_KEY).",
      details: { deployer, balance: balance.toString(), needed: needed.toString(), gas: gas.toString() },
    });
  }
}
