/** What buildApp needs, with the defaults the `serve` command and tests share. */
import type { FastifyServerOptions } from "fastify";
import type { LogProvider } from "./chain/listener.js";
import type { InferenceOptions } from "./inference/options.js";
import type { Repository } from "./store/repository.js";
import type { OrchestratorEmitter } from "./events.js";
import { LOCAL_CHAIN_ID } from "../protocol/chain/networks.js";

export interface ChainConfig {
  chainId: number;
  trainingPool: string;
  /** Every contract of the deployment, shown by /api/info. */
  contracts?: Record<string, string>;
  /** JSON-RPC URL; when set (or `provider` is), the chain listener runs. */
  rpcUrl?: string;
  provider?: LogProvider;
  confirmations?: number;
  pollMs?: number;
  /** First block to read on a fresh data dir (the deployment block). */
  startBlock?: number;
}

export interface Limits {
  /** Raw uploads: weights, validation sets, updates. */
  uploadBytes: number;
  /** JSON bodies. */
  jsonBytes: number;
  jsonDepth: number;
  /** Signed writes per address: a burst of `capacity`, refilled at `refillPerSecond`. */
  rate: { capacity: number; refillPerSecond: number };
  /** How far a signed request's timestamp may be from the server's clock. */
  maxSkewMs: number;
  /** Most trainable parameters of a job's model (checked before the engine allocates anything). */
  modelParameters: number;
  /** Most bytes of activations one evaluation block of EVAL_BLOCK samples may hold. */
  activationBytes: number;
  /** Most bytes of a validation set or cluster training data, as uploaded and once unpacked (gunzip). */
  datasetBytes: number;
  /** Most drafts one address may hold unbound to a job (counted over the last 24 h). */
  draftsPerAddress: number;
  /** Most bytes one address's unbound drafts may hold (weights, validation, training data; last 24 h). */
  storedBytesPerAddress: number;
}

/** Samples the engine evaluates at once per thread (native/src/core/mlp.cc `Mlp::evaluate`). */
export const EVAL_BLOCK = 256;

export const DEFAULT_LIMITS: Limits = {
  uploadBytes: 256 * 1024 * 1024,
  jsonBytes: 1024 * 1024,
  jsonDepth: 32,
  rate: { capacity: 60, refillPerSecond: 10 },
  maxSkewMs: 5 * 60 * 1000,
  modelParameters: 20_000_000,
  activationBytes: 64 * 1024 * 1024,
  datasetBytes: 64 * 1024 * 1024,
  draftsPerAddress: 16,
  storedBytesPerAddress: 1024 * 1024 * 1024,
};

/** How the cluster service reaches rented machines and how its workers reach the orchestrator. */
export interface ClusterOptions {
  /** URL workers on rented machines use to reach this orchestrator (default: its listening address). */
  publicUrl?: string;
  /** Pinned host keys of rented machines (default <dataDir>/known_hosts.json). */
  knownHostsFile?: string;
  /** A worker silent for this long is failed (default 60 s). */
  heartbeatTimeoutMs?: number;
  /** SSH keepalive interval (default 5 s). */
  keepaliveMs?: number;
  /** Heartbeat interval asked of workers (default 2 s). */
  workerHeartbeatMs?: number;
  /** How often an orchestrator sharing its store tries to become, or checks it still is, the cluster manager (default 1 s). */
  leadMs?: number;
  /**
   * Open SSH connections to listed endpoints on loopback, private and link-local addresses
   * (cluster/endpointGuard.ts). Default: on the local chain only.
   */
  privateEndpoints?: boolean;
}

/** Whether this orchestrator connects to machines on non-public addresses: as configured, else only on the local chain. */
export function allowsPrivateEndpoints(cluster: ClusterOptions | undefined, chainId: number): boolean {
  return cluster?.privateEndpoints ?? chainId === LOCAL_CHAIN_ID;
}

export interface AppOptions {
  dataDir: string;
  chain: ChainConfig;
  /** Evaluator private key; else <dataDir>/evaluator.key (generated on first start). */
  evaluatorKey?: string;
  limits?: Partial<Limits>;
  logger?: FastifyServerOptions["logger"];
  /** Milliseconds clock (tests move it). */
  now?: () => number;
  /** Evaluations run at once (default: the machine's cores). */
  evalConcurrency?: number;
  /** A store other than SQLite in the data dir (e.g. PostgreSQL). */
  repository?: Repository;
  /** Serve HTTPS with this PEM certificate and key (tls.ts loadTls) instead of plain HTTP. */
  tls?: { cert: Buffer; key: Buffer };
  events?: OrchestratorEmitter;
  version?: string;
  cluster?: ClusterOptions;
  /** The built dashboard served at `/` (default <package>/dist/web). */
  dashboardDir?: string;
  /** Inference price, payout address and input limit. */
  inference?: InferenceOptions;
}

export function resolveLimits(partial: Partial<Limits> = {}): Limits {
  return { ...DEFAULT_LIMITS, ...partial, rate: { ...DEFAULT_LIMITS.rate, ...partial.rate } };
}
