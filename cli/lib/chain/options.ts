import { Option, type Command } from "commander";
import type { JsonRpcProvider, Wallet } from "ethers";
import { resolveSettings, type Settings } from "../../../protocol/config.js";
import { resolveSigner } from "./accounts.js";
import { connectContracts, type Contracts } from "../../../protocol/chain/contracts.js";
import { connectProvider, NETWORKS, type ResolvedNetwork } from "../../../protocol/chain/networks.js";

/** The flags every chain-touching command takes (commander's camel-cased option values). */
export interface ChainOptions {
  network?: string;
  rpc?: string;
  key?: string;
  account?: string;
  json?: boolean;
}

/**
 * Add --network, --rpc, --key, --account and --json to a command, with the same names and help
 * everywhere. `defaultAccount` names the dev account used on the local chain when no key is given.
 */
export function addChainOptions(cmd: Command, opts: { defaultAccount?: string } = {}): Command {
  return cmd
    .addOption(
      new Option("--network <name>", `chain: ${Object.keys(NETWORKS).join(" | ")} | an RPC URL (env QUACKMESH_NETWORK; default local)`),
    )
    .addOption(new Option("--rpc <url>", "JSON-RPC URL, overrides the network's default endpoint (env QUACKMESH_RPC_URL)"))
    .addOption(new Option("--key <file>", "file holding the wallet's hex private key (env QUACKMESH_PRIVATE_KEY)"))
    .addOption(
      new Option(
        "--account <name>",
        `local chain only: sign with a dev account by name or index${opts.defaultAccount ? ` (default ${opts.defaultAccount})` : ""}`,
      ),
    )
    .option("--json", "machine-readable output: one JSON object per line");
}

/** Settings from the chain flags, the QUACKMESH_* environment and ~/.quackmesh/config.json. */
export function settingsFrom(opts: ChainOptions & { duckToken?: string }, env: NodeJS.ProcessEnv = process.env): Settings {
  return resolveSettings({ network: opts.network, rpc: opts.rpc, duckToken: opts.duckToken }, env);
}

export interface ChainContext {
  settings: Settings;
  network: ResolvedNetwork & { chainId: number };
  provider: JsonRpcProvider;
  signer: Wallet;
  /** The deployed contracts bound to the signer (loads and checks deployments/<network>.json). */
  contracts(): Promise<Contracts>;
  /** Release the provider (no timers left behind). */
  close(): void;
}

/**
 * Everything a chain command needs, in one call: settings, a probed provider, the signer chosen
 * by --key / --account / QUACKMESH_PRIVATE_KEY (or `defaultAccount` on the local chain).
 */
export async function openChain(
  opts: ChainOptions & { duckToken?: string },
  choice: { defaultAccount?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<ChainContext> {
  const settings = settingsFrom(opts, choice.env);
  const { provider, network } = await connectProvider(settings, { timeoutMs: choice.timeoutMs });
  try {
    const signer = resolveSigner(settings, provider, { key: opts.key, account: opts.account, defaultAccount: choice.defaultAccount }, network);
    let contracts: Promise<Contracts> | undefined;
    return {
      settings,
      network,
      provider,
      signer,
      contracts: () => (contracts ??= connectContracts(settings, signer)),
      close: () => provider.destroy(),
    };
  } catch (err) {
    provider.destroy();
    throw err;
  }
}
