/**
 * The SQLite tables of what this orchestrator saw of the marketplace: each machine's latest
 * signed liveness record, and, as the arbiter rentals name, the spans each rented machine was down.
 * The row mappers serve the PostgreSQL store too.
 */
import type Database from "better-sqlite3";
import type { DowntimeSpan, LivenessRow } from "./repository.js";
import { num, numOrNull, type Row } from "./sqlite-rows.js";

export function toLiveness(r: Row): LivenessRow {
  return { machineId: String(r.machine_id), provider: String(r.provider), at: num(r.at), signature: String(r.signature) };
}

export function toDowntimeSpan(r: Row): DowntimeSpan {
  return { from: num(r.down_at), to: numOrNull(r.up_at) };
}

/** Statements both stores use as they are (same placeholders apart). */
export const MARKET_SQL = {
  livenessOf: "SELECT * FROM market_liveness WHERE machine_id = ?",
  livenessCount: "SELECT COUNT(*) AS n FROM market_liveness",
  dropOldestLiveness: "DELETE FROM market_liveness WHERE machine_id = (SELECT machine_id FROM market_liveness ORDER BY at, machine_id LIMIT 1)",
  putLiveness: `INSERT INTO market_liveness (machine_id, provider, at, signature) VALUES (?, ?, ?, ?)
    ON CONFLICT (machine_id) DO UPDATE SET provider = excluded.provider, at = excluded.at, signature = excluded.signature`,
  listLiveness: "SELECT * FROM market_liveness ORDER BY machine_id",
  // The partial unique index on open spans makes a second "down" while down a no-op.
  down: "INSERT INTO rental_downtime (rental_id, down_at) VALUES (?, ?) ON CONFLICT DO NOTHING",
  up: "UPDATE rental_downtime SET up_at = ? WHERE rental_id = ? AND up_at IS NULL AND down_at <= ?",
  spans: "SELECT * FROM rental_downtime WHERE rental_id = ? ORDER BY down_at",
};

export class SqliteMarketTables {
  constructor(
    private readonly db: Database.Database,
    private readonly stmt: (sql: string) => Database.Statement,
  ) {}

  saveLiveness(record: LivenessRow, maxMachines: number): LivenessRow {
    return this.db.transaction(() => {
      const seen = this.stmt(MARKET_SQL.livenessOf).get(record.machineId) as Row | undefined;
      if (seen && num(seen.at) >= record.at) return toLiveness(seen);
      if (!seen && num((this.stmt(MARKET_SQL.livenessCount).get() as Row).n) >= maxMachines) this.stmt(MARKET_SQL.dropOldestLiveness).run();
      this.stmt(MARKET_SQL.putLiveness).run(record.machineId, record.provider, record.at, record.signature);
      return toLiveness(this.stmt(MARKET_SQL.livenessOf).get(record.machineId) as Row);
    }).immediate();
  }

  listLiveness(): LivenessRow[] {
    return (this.stmt(MARKET_SQL.listLiveness).all() as Row[]).map(toLiveness);
  }

  markDown(rentalId: string, at: number): void {
    this.stmt(MARKET_SQL.down).run(rentalId, at);
  }

  markUp(rentalId: string, at: number): void {
    this.stmt(MARKET_SQL.up).run(at, rentalId, at);
  }

  spans(rentalId: string): DowntimeSpan[] {
    return (this.stmt(MARKET_SQL.spans).all(rentalId) as Row[]).map(toDowntimeSpan);
  }
}
