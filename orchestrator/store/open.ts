/**
 * Which store `serve` uses: PostgreSQL when a database URL is given (shared by every orchestrator
 * pointed at it), else SQLite in the data dir (opened by the store plugin, as before).
 */
import { join } from "node:path";
import { PostgresRepository, redactUrl } from "./postgres.js";
import type { Repository } from "./repository.js";

export interface StoreChoice {
  /** The opened PostgreSQL store; undefined for SQLite, which the store plugin opens itself. */
  repository?: Repository;
  /** For the ready line: `sqlite <file>` or the URL without its password. */
  description: string;
}

export async function openStore(opts: { database?: string; dataDir: string }): Promise<StoreChoice> {
  if (!opts.database) return { description: `sqlite ${join(opts.dataDir, "orchestrator.sqlite")}` };
  return { repository: await PostgresRepository.open(opts.database), description: `postgres ${redactUrl(opts.database)}` };
}
