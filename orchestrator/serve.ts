/**
 * What `quackmesh serve` does, apart from rendering: resolve the chain and its deployment, load
 * the evaluator key, start the API, record the evaluator in the deployment file. Returns a
 * handle to close; events flow through `server.app.events`.
 */
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { FastifyServerOptions } from "fastify";
import { resolveSettings } from "../protocol/config.js";
import { loadDeployment, readDeployment, updateDeployment } from "../protocol/chain/deployments.js";
import { connectProvider } from "../protocol/chain/networks.js";
import { OrchestratorEmitter } from "./events.js";
import type { Limits } from "./options.js";
import { resolveInference } from "./inference/options.js";
import { startServer, type RunningServer } from "./server.js";
import { openStore, type StoreChoice } from "./store/open.js";
import { parseDatabaseUrl } from "./store/postgres.js";
import { loadTls } from "./tls.js";

/** The line `serve` announces once it listens. */
export interface ServeReady {
  event: "ready";
  url: string;
  evaluator: string;
  keySource: string;
  chainId: number;
  network: string;
  contracts: Record<string, string>;
  dataDir: string;
  /** Where the orchestrator's state lives: `sqlite <file>` or the PostgreSQL URL without its password. */
  store: string;
  /** Who inference pays and at what price (DUCK wei, decimal strings). */
  inference?: { payout: string; pricePerSecond: string; minimumFee: string };
}

export interface ServeOptions {
  host: string;
  port: number;
  dataDir?: string;
  /** postgres:// URL of a shared PostgreSQL store (else QUACKMESH_DATABASE_URL, else SQLite in the data dir). */
  database?: string;
  /** PEM files: serve HTTPS instead of HTTP. */
  tlsCert?: string;
  tlsKey?: string;
  network?: string;
  rpc?: string;
  confirmations?: number;
  pollMs?: number;
  /** Upload, model-size and activation limits (defaults in options.ts DEFAULT_LIMITS). */
  limits?: Partial<Limits>;
  /** Address inference usage statements pay (else QUACKMESH_PAYOUT_ADDRESS, else the evaluator's). */
  payout?: string;
  /** DUCK wei per second of inference compute. */
  inferencePrice?: bigint;
  /** Least fee of one inference job, DUCK wei. */
  inferenceMinFee?: bigint;
  /** URL cluster workers on rented machines use to reach this orchestrator (else QUACKMESH_ORCHESTRATOR_PUBLIC_URL, else where it listens). */
  publicUrl?: string;
  /** Connect to rented machines on loopback, private and link-local addresses (default: on the local chain only). */
  privateEndpoints?: boolean;
  /** Structured JSON logs on stdout; else the log goes to <dataDir>/orchestrator.log. */
  json: boolean;
  events?: OrchestratorEmitter;
  env?: NodeJS.ProcessEnv;
}

export interface ServeHandle {
  server: RunningServer;
  ready: ServeReady;
  close(): Promise<void>;
}

export async function startServe(opts: ServeOptions): Promise<ServeHandle> {
  const env = opts.env ?? process.env;
  const database = opts.database ?? (env.QUACKMESH_DATABASE_URL || undefined);
  // A URL that can never work is refused before anything connects.
  if (database) parseDatabaseUrl(database);
  const tls = loadTls(opts.tlsCert, opts.tlsKey);
  const settings = resolveSettings({ network: opts.network, rpc: opts.rpc }, env);
  const { provider, network } = await connectProvider(settings);
  try {
    const deployment = await loadDeployment(settings, { provider, network });
    const dataDir = opts.dataDir ?? join(settings.home, "orchestrator");
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    const inference = { payout: opts.payout ?? (env.QUACKMESH_PAYOUT_ADDRESS || undefined), pricePerSecond: opts.inferencePrice, minimumFee: opts.inferenceMinFee };
    const logger: FastifyServerOptions["logger"] = opts.json ? { level: "info" } : { level: "info", file: join(dataDir, "orchestrator.log") };
    const store: StoreChoice = await openStore({ database, dataDir });
    const server = await startServer({
      repository: store.repository,
      tls,
      host: opts.host,
      port: opts.port,
      dataDir,
      evaluatorKey: env.QUACKMESH_EVALUATOR_KEY,
      logger,
      events: opts.events,
      limits: opts.limits,
      inference,
      cluster: { publicUrl: opts.publicUrl, privateEndpoints: opts.privateEndpoints },
      chain: {
        chainId: network.chainId,
        trainingPool: deployment.contracts.TrainingPool,
        contracts: deployment.contracts,
        provider,
        confirmations: opts.confirmations ?? (network.local ? 0 : 2),
        pollMs: opts.pollMs ?? (network.local ? 500 : 4000),
        startBlock: deployment.block,
      },
    }).catch(async (err: unknown) => {
      await store.repository?.close();
      throw err;
    });
    const evaluator = server.app.evaluator.address;
    const priced = resolveInference(inference, evaluator);
    // Requesters' tools read the evaluator from the deployment file too; keep it current.
    if (readDeployment(settings, network.name)?.evaluator !== evaluator) updateDeployment(settings, network.name, { evaluator });
    const ready: ServeReady = {
      event: "ready",
      url: server.url,
      evaluator,
      keySource: server.app.evaluatorKeySource,
      chainId: network.chainId,
      network: network.name,
      contracts: deployment.contracts,
      dataDir,
      store: store.description,
      inference: { payout: priced.payout, pricePerSecond: priced.pricePerSecond.toString(), minimumFee: priced.minimumFee.toString() },
    };
    let closing: Promise<void> | undefined;
    return {
      server,
      ready,
      close: () =>
        (closing ??= server.close().finally(() => provider.destroy())),
    };
  } catch (err) {
    provider.destroy();
    throw err;
  }
}
