/** The chain, the deployment and the orchestrator client that the job and contribute commands share. */
import type { Command } from "commander";
import { OrchestratorClient } from "../../../orchestrator/client.js";
import { resolveSettings } from "../../../protocol/config.js";
import type { Contracts } from "../../../protocol/chain/contracts.js";
import { openChain, type ChainContext, type ChainOptions } from "../chain/options.js";

export interface OrchestratorFlags {
  orchestrator?: string;
}

export function addOrchestratorOption(cmd: Command): Command {
  return cmd.option("--orchestrator <url>", "orchestrator URL (env QUACKMESH_ORCHESTRATOR; default http://127.0.0.1:8080)");
}

/** The orchestrator URL from --orchestrator, QUACKMESH_ORCHESTRATOR or the config file. */
export function orchestratorUrl(flags: OrchestratorFlags, env: NodeJS.ProcessEnv = process.env): string {
  return resolveSettings({ orchestrator: flags.orchestrator }, env).orchestrator;
}

export interface JobConnection {
  chain: ChainContext;
  contracts: Contracts;
  client: OrchestratorClient;
  close(): void;
}

/** Open the chain (signer by --key/--account/env, `defaultAccount` on the local chain), its deployment, and a client signing with that wallet. */
export async function connectJob(flags: ChainOptions & OrchestratorFlags, defaultAccount: string, env: NodeJS.ProcessEnv = process.env): Promise<JobConnection> {
  const chain = await openChain(flags, { defaultAccount, env });
  try {
    const contracts = await chain.contracts();
    const client = new OrchestratorClient(orchestratorUrl(flags, env), { signer: chain.signer });
    return { chain, contracts, client, close: () => chain.close() };
  } catch (err) {
    chain.close();
    throw err;
  }
}
