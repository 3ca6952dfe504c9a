/**
 * The SQLite tables of clusters: machines of a job, the requester's cluster uploads, listings.
 * The row mappings and merge rules here serve the PostgreSQL store too (postgres.ts).
 */
import type Database from "better-sqlite3";
import type { ClusterMachinePatch, ClusterMachineRecord, ClusterSpecRecord, MarketMachineRecord } from "./repository.js";
import { num, numOrNull, strOrNull, type Row } from "./sqlite-rows.js";

const MACHINE_COLUMNS = [
  "job_id", "machine_id", "rental_id", "provider", "host", "port", "status", "updated_at", "username", "renter",
  "key_fingerprint", "host_key", "worker_address", "worker_version", "shard", "last_heartbeat", "error",
] as const;

export function toClusterMachine(r: Row): Required<ClusterMachineRecord> {
  return {
    jobId: num(r.job_id),
    machineId: num(r.machine_id),
    rentalId: numOrNull(r.rental_id),
    provider: String(r.provider),
    host: String(r.host),
    port: num(r.port),
    status: String(r.status),
    updatedAt: num(r.updated_at),
    username: strOrNull(r.username),
    renter: strOrNull(r.renter),
    keyFingerprint: strOrNull(r.key_fingerprint),
    hostKey: strOrNull(r.host_key),
    workerAddress: strOrNull(r.worker_address),
    workerVersion: strOrNull(r.worker_version),
    shard: numOrNull(r.shard),
    lastHeartbeat: numOrNull(r.last_heartbeat),
    error: strOrNull(r.error),
  };
}

export function machineValues(m: Required<ClusterMachineRecord>): unknown[] {
  return [
    m.jobId, m.machineId, m.rentalId, m.provider, m.host, m.port, m.status, m.updatedAt, m.username, m.renter,
    m.keyFingerprint, m.hostKey, m.workerAddress, m.workerVersion, m.shard, m.lastHeartbeat, m.error,
  ];
}

/** The fields of `o` that are not undefined. */
export function defined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** A new machine's optional fields. */
export const NO_EXTRAS = {
  username: null, renter: null, keyFingerprint: null, hostKey: null, workerAddress: null,
  workerVersion: null, shard: null, lastHeartbeat: null, error: null,
};

export class SqliteClusterTables {
  constructor(
    private readonly db: Database.Database,
    private readonly stmt: (sql: string) => Database.Statement,
  ) {}

  listMachines(jobId: number): Required<ClusterMachineRecord>[] {
    return (this.stmt("SELECT * FROM cluster_machines WHERE job_id = ? ORDER BY machine_id").all(jobId) as Row[]).map(toClusterMachine);
  }

  /** Merge with the stored row: fields left undefined keep their value; a new rental of the machine replaces the old row. */
  upsertMachine(m: ClusterMachineRecord): void {
    this.db.transaction(() => {
      const stored = this.stmt("SELECT * FROM cluster_machines WHERE job_id = ? AND machine_id = ?").get(m.jobId, m.machineId) as Row | undefined;
      const base = stored ? toClusterMachine(stored) : { ...NO_EXTRAS, ...m };
      this.write({ ...base, ...defined(m) } as Required<ClusterMachineRecord>);
    }).immediate();
  }

  updateMachine(jobId: number, machineId: number, patch: ClusterMachinePatch): boolean {
    return this.db.transaction(() => {
      const stored = this.stmt("SELECT * FROM cluster_machines WHERE job_id = ? AND machine_id = ?").get(jobId, machineId) as Row | undefined;
      if (!stored) return false;
      this.write({ ...toClusterMachine(stored), ...defined(patch) });
      return true;
    }).immediate();
  }

  private write(m: Required<ClusterMachineRecord>): void {
    this.stmt(`INSERT OR REPLACE INTO cluster_machines (${MACHINE_COLUMNS.join(", ")}) VALUES (${MACHINE_COLUMNS.map(() => "?").join(", ")})`).run(...machineValues(m));
  }

  machineByRental(rentalId: number): Required<ClusterMachineRecord> | null {
    const r = this.stmt("SELECT * FROM cluster_machines WHERE rental_id = ?").get(rentalId) as Row | undefined;
    return r ? toClusterMachine(r) : null;
  }

  machinesWithStatus(statuses: string[]): Required<ClusterMachineRecord>[] {
    if (statuses.length === 0) return [];
    const rows = this.stmt(`SELECT * FROM cluster_machines WHERE status IN (${statuses.map(() => "?").join(", ")}) ORDER BY job_id, rental_id`).all(...statuses) as Row[];
    return rows.map(toClusterMachine);
  }

  getSpec(draftId: string): ClusterSpecRecord | null {
    const r = this.stmt("SELECT * FROM cluster_specs WHERE draft_id = ?").get(draftId) as Row | undefined;
    return r ? toClusterSpec(r) : null;
  }

  saveSpec(s: ClusterSpecRecord): void {
    this.stmt(
      `INSERT OR REPLACE INTO cluster_specs (draft_id, owner, machines, train, ssh_private_key, key_fingerprint, train_hash, train_format, train_samples, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(s.draftId, s.owner, s.machines, JSON.stringify(s.train), s.sshPrivateKey, s.keyFingerprint, s.trainHash, s.trainFormat, s.trainSamples, s.updatedAt);
  }

  saveMarketMachine(m: MarketMachineRecord): void {
    this.stmt("INSERT OR REPLACE INTO market_machines (machine_id, provider, endpoint, specs, price_per_hour, block) VALUES (?, ?, ?, ?, ?, ?)").run(
      m.machineId, m.provider, m.endpoint, m.specs, m.pricePerHour, m.block,
    );
  }

  getMarketMachine(machineId: number): MarketMachineRecord | null {
    const r = this.stmt("SELECT * FROM market_machines WHERE machine_id = ?").get(machineId) as Row | undefined;
    return r ? toMarketMachine(r) : null;
  }
}

export function toClusterSpec(r: Row): ClusterSpecRecord {
  return {
    draftId: String(r.draft_id),
    owner: String(r.owner),
    machines: num(r.machines),
    train: JSON.parse(String(r.train)) as ClusterSpecRecord["train"],
    sshPrivateKey: strOrNull(r.ssh_private_key),
    keyFingerprint: strOrNull(r.key_fingerprint),
    trainHash: strOrNull(r.train_hash),
    trainFormat: strOrNull(r.train_format),
    trainSamples: numOrNull(r.train_samples),
    updatedAt: num(r.updated_at),
  };
}

export function toMarketMachine(r: Row): MarketMachineRecord {
  return { machineId: num(r.machine_id), provider: String(r.provider), endpoint: String(r.endpoint), specs: String(r.specs), pricePerHour: String(r.price_per_hour), block: num(r.block) };
}
