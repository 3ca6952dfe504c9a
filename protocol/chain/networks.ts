import { JsonRpcProvider, Network, getAddress, isAddress } from "ethers";
import type { Settings } from "../config.js";
import { QuackError } from "../errors.js";

/** The chains QuackMesh knows by name. Any other chain is reached with --rpc URL. */
export const NETWORKS = {
  local: { chainId: 31337, rpc: "http://127.0.0.1:8545" },
  "duckchain-testnet": { chainId: 202105, rpc: "https://testnet-rpc.duckchain.io" },
  duckchain: { chainId: 5545, rpc: "https://rpc.duckchain.io" },
} as const;

export type NetworkName = keyof typeof NETWORKS;

/** The Hardhat chain id: dev accounts, DuckToken deploys and the faucet exist only there. */
export const LOCAL_CHAIN_ID = 31337;

export interface ResolvedNetwork {
  /** Name used for deployments/<name>.json: a registry name, or `chain-<id>` for a bare URL. */
  name: string;
  /** Expected chain id; undefined for a bare URL until it has been probed. */
  chainId?: number;
  rpcUrl: string;
  /** True for the local Hardhat chain (chain id 31337). */
  local: boolean;
}

export function isNetworkName(name: string): name is NetworkName {
  return Object.hasOwn(NETWORKS, name);
}

function isUrl(text: string): boolean {
  return /^https?:\/\//i.test(text);
}

/**
 * Which chain the settings point at, before any network I/O. `--network` may be a registry name
 * or a URL; `--rpc` (QUACKMESH_RPC_URL) replaces the registry's default endpoint.
 */
export function resolveNetwork(settings: Pick<Settings, "network" | "rpc">): ResolvedNetwork {
  const { network, rpc } = settings;
  if (rpc !== undefined && !isUrl(rpc)) {
    throw new QuackError("BAD_RPC_URL", `RPC URL '${rpc}' is not an http:// or https:// URL.`, {
      fix: "Pass --rpc http://host:port (or set QUACKMESH_RPC_URL).",
    });
  }
  if (isUrl(network)) return { name: "", rpcUrl: rpc ?? network, local: false };
  if (!isNetworkName(network)) {
    throw new QuackError("UNKNOWN_NETWORK", `Unknown network '${network}'.`, {
      fix: `Use --network ${Object.keys(NETWORKS).join(" | ")}, or --network <RPC URL>.`,
    });
  }
  const known = NETWORKS[network];
  return { name: network, chainId: known.chainId, rpcUrl: rpc ?? known.rpc, local: known.chainId === LOCAL_CHAIN_ID };
}

/** Ask an endpoint for its chain id with a short timeout; unreachable → RPC_UNREACHABLE with a fix. */
export async function probeChainId(url: string, timeoutMs = 3000): Promise<number> {
  let reply: { result?: string; error?: { message?: string } };
  try {
    const res = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_chainId", params: [] }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    reply = (await res.json()) as typeof reply;
  } catch (cause) {
    throw unreachable(url, cause);
  }
  if (typeof reply.result !== "string") {
    throw unreachable(url, new Error(reply.error?.message ?? "no chain id in the reply"));
  }
  return Number(BigInt(reply.result));
}

function unreachable(url: string, cause: unknown): QuackError {
  const why = describeCause(cause);
  const local = /^https?:\/\/(127\.0\.0\.1|localhost)(:|\/|$)/i.test(url);
  return new QuackError("RPC_UNREACHABLE", `Cannot reach the JSON-RPC endpoint ${url}: ${why}.`, {
    fix: local
      ? "Start the local chain in another terminal: `quackmesh chain` (then `quackmesh deploy`)."
      : "Check --rpc / QUACKMESH_RPC_URL and your network connection.",
    cause,
  });
}

function describeCause(cause: unknown): string {
  if (cause instanceof Error) {
    if (cause.name === "TimeoutError" || cause.name === "AbortError") return "no answer in time";
    const inner = (cause as { cause?: { code?: string; message?: string } }).cause;
    if (inner?.code) return inner.code;
    return cause.message;
  }
  return String(cause);
}

/**
 * Probe the endpoint, check it is the chain the name promises, and return a provider pinned to
 * that chain (no background network detection, so nothing keeps the process alive).
 */
export async function connectProvider(
  settings: Pick<Settings, "network" | "rpc">,
  opts: { timeoutMs?: number } = {},
): Promise<{ provider: JsonRpcProvider; network: ResolvedNetwork & { chainId: number } }> {
  const net = resolveNetwork(settings);
  const network = checkChainId(net, await probeChainId(net.rpcUrl, opts.timeoutMs), `The endpoint ${net.rpcUrl}`);
  return { provider: makeProvider(network.rpcUrl, network.chainId), network };
}

/**
 * A provider pinned to a known chain id. Its request cache is off: with ethers' default 250 ms
 * cache, a second transaction sent right after the first is mined reuses the stale nonce.
 */
export function makeProvider(rpcUrl: string, chainId: number): JsonRpcProvider {
  const provider = new JsonRpcProvider(rpcUrl, undefined, { staticNetwork: Network.from(chainId), cacheTimeout: -1 });
  // Hardhat mines each transaction at once; poll receipts fast there.
  if (chainId === LOCAL_CHAIN_ID) provider.pollingInterval = 200;
  return provider;
}

/** The network behind an existing provider, named as the settings name it and checked against its chain id. */
export async function networkOf(
  settings: Pick<Settings, "network" | "rpc">,
  provider: { getNetwork(): Promise<{ chainId: bigint }> },
): Promise<ResolvedNetwork & { chainId: number }> {
  return checkChainId(resolveNetwork(settings), Number((await provider.getNetwork()).chainId), "The connected chain");
}

function checkChainId(net: ResolvedNetwork, chainId: number, where: string): ResolvedNetwork & { chainId: number } {
  if (net.chainId !== undefined && net.chainId !== chainId) {
    throw new QuackError("WRONG_CHAIN", `${where} serves chain id ${chainId}, but network '${net.name}' is chain id ${net.chainId}.`, {
      fix: "Pass the --network that matches this endpoint, or fix --rpc / QUACKMESH_RPC_URL.",
    });
  }
  const local = chainId === LOCAL_CHAIN_ID;
  return { ...net, name: net.name || (local ? "local" : `chain-${chainId}`), chainId, local };
}

/**
 * The $DUCK token address for a chain that does not deploy its own: from --duck-token,
 * QUACKMESH_DUCK_TOKEN or the config file. Never built in.
 */
export function requireDuckToken(settings: Pick<Settings, "duckToken">, network: Pick<ResolvedNetwork, "name">): string {
  const addr = settings.duckToken;
  if (addr === undefined) {
    throw new QuackError("NO_DUCK_TOKEN", `The $DUCK token address for network '${network.name}' is not configured.`, {
      fix: 'Pass --duck-token 0x…, set QUACKMESH_DUCK_TOKEN, or add "duckToken" to ~/.quackmesh/config.json.',
    });
  }
  return parseAddress(addr, "The $DUCK token address");
}

/** Check and checksum an address; `what` names the input in the error. */
export function parseAddress(text: string, what: string): string {
  if (!isAddress(text)) {
    throw new QuackError("BAD_ADDRESS", `${what} '${text}' is not a valid address.`, {
      fix: "Use a 0x-prefixed address of 40 hex digits (mixed case must match its checksum).",
    });
  }
  return getAddress(text);
}
