/**
 * The orchestrator as a child process, for the crash test and the serve benchmark:
 *   node child-server.js '<json config>'
 * prints "READY <url> <evaluator>" once listening and closes cleanly on SIGTERM. A config may
 * name a TrainingJobCreated event to store at start (as the chain listener would), so a job can
 * activate without a chain.
 */
import { startServer } from "../server.js";
import { PostgresRepository } from "../store/postgres.js";
import type { ChainEventRecord } from "../store/repository.js";

interface ChildConfig {
  dataDir: string;
  trainingPool: string;
  evaluatorKey?: string;
  evalConcurrency?: number;
  limits?: Record<string, unknown>;
  announce?: ChainEventRecord;
  /** postgres:// URL: store there instead of SQLite in the data dir. */
  database?: string;
}

const config = JSON.parse(process.argv[2] ?? "{}") as ChildConfig;
const server = await startServer({
  repository: config.database ? await PostgresRepository.open(config.database) : undefined,
  dataDir: config.dataDir,
  port: 0,
  evaluatorKey: config.evaluatorKey,
  evalConcurrency: config.evalConcurrency,
  limits: config.limits,
  chain: { chainId: 31337, trainingPool: config.trainingPool },
});
if (config.announce) {
  const fresh = await server.app.repo.recordChainEvents("TrainingPool", config.announce.blockNumber, [config.announce]);
  for (const ev of fresh) await server.app.activator.handle(ev);
}
process.stdout.write(`READY ${server.url} ${server.app.evaluator.address}\n`);
const stop = () => void server.close().then(() => process.exit(0));
process.once("SIGTERM", stop);
process.once("SIGINT", stop);
