/** SQLite tables of the orchestrator, applied in order by PRAGMA user_version. */
export const MIGRATIONS: string[] = [
  `
  CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
  CREATE TABLE seen_requests (id TEXT PRIMARY KEY, expires_at INTEGER NOT NULL);
  CREATE INDEX seen_requests_expiry ON seen_requests (expires_at);
  CREATE TABLE drafts (
    id TEXT PRIMARY KEY,
    uploader TEXT NOT NULL,
    spec TEXT NOT NULL,
    settings TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    model_hash TEXT,
    validation_hash TEXT,
    validation_format TEXT,
    validation_samples INTEGER,
    job_id INTEGER UNIQUE
  );
  CREATE INDEX drafts_model ON drafts (model_hash, uploader);
  CREATE TABLE chain_cursors (source TEXT PRIMARY KEY, block INTEGER NOT NULL);
  CREATE TABLE chain_events (
    tx_hash TEXT NOT NULL,
    log_index INTEGER NOT NULL,
    block INTEGER NOT NULL,
    source TEXT NOT NULL,
    name TEXT NOT NULL,
    args TEXT NOT NULL,
    handled INTEGER NOT NULL DEFAULT 0,
    note TEXT,
    PRIMARY KEY (tx_hash, log_index)
  );
  CREATE INDEX chain_events_pending ON chain_events (name, handled);
  CREATE TABLE jobs (
    job_id INTEGER PRIMARY KEY,
    draft_id TEXT NOT NULL,
    requester TEXT NOT NULL,
    evaluator TEXT NOT NULL,
    initial_model_hash TEXT NOT NULL,
    spec TEXT NOT NULL,
    settings TEXT NOT NULL,
    validation_hash TEXT NOT NULL,
    status TEXT NOT NULL,
    current_round INTEGER NOT NULL,
    model_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    finished_at INTEGER,
    chain TEXT NOT NULL
  );
  CREATE TABLE rounds (
    job_id INTEGER NOT NULL,
    round INTEGER NOT NULL,
    status TEXT NOT NULL,
    opened_at INTEGER NOT NULL,
    deadline_at INTEGER NOT NULL,
    extensions INTEGER NOT NULL DEFAULT 0,
    input_model_hash TEXT NOT NULL,
    closed_at INTEGER,
    model_hash TEXT,
    accuracy REAL,
    loss REAL,
    contributors TEXT NOT NULL DEFAULT '[]',
    update_hashes TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (job_id, round)
  );
  CREATE INDEX rounds_status ON rounds (status);
  CREATE TABLE updates (
    job_id INTEGER NOT NULL,
    round INTEGER NOT NULL,
    contributor TEXT NOT NULL,
    update_hash TEXT NOT NULL,
    num_samples INTEGER NOT NULL,
    accuracy_bps INTEGER NOT NULL,
    loss REAL NOT NULL,
    status TEXT NOT NULL,
    reason TEXT,
    signature TEXT,
    received_at INTEGER NOT NULL,
    PRIMARY KEY (job_id, round, contributor)
  );
  CREATE INDEX updates_round ON updates (job_id, round, status, update_hash);
  CREATE TABLE cluster_machines (
    job_id INTEGER NOT NULL,
    machine_id INTEGER NOT NULL,
    rental_id INTEGER,
    provider TEXT NOT NULL,
    host TEXT NOT NULL,
    port INTEGER NOT NULL,
    status TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (job_id, machine_id)
  );
  `,
  // Clusters: what the cluster manager tracks per machine, the requester's cluster uploads, listings.
  `
  ALTER TABLE cluster_machines ADD COLUMN username TEXT;
  ALTER TABLE cluster_machines ADD COLUMN renter TEXT;
  ALTER TABLE cluster_machines ADD COLUMN key_fingerprint TEXT;
  ALTER TABLE cluster_machines ADD COLUMN host_key TEXT;
  ALTER TABLE cluster_machines ADD COLUMN worker_address TEXT;
  ALTER TABLE cluster_machines ADD COLUMN worker_version TEXT;
  ALTER TABLE cluster_machines ADD COLUMN shard INTEGER;
  ALTER TABLE cluster_machines ADD COLUMN last_heartbeat INTEGER;
  ALTER TABLE cluster_machines ADD COLUMN error TEXT;
  CREATE UNIQUE INDEX cluster_machines_rental ON cluster_machines (rental_id);
  CREATE INDEX cluster_machines_status ON cluster_machines (status);
  CREATE TABLE cluster_specs (
    draft_id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    machines INTEGER NOT NULL,
    train TEXT NOT NULL,
    ssh_private_key TEXT,
    key_fingerprint TEXT,
    train_hash TEXT,
    train_format TEXT,
    train_samples INTEGER,
    updated_at INTEGER NOT NULL
  );
  CREATE TABLE market_machines (
    machine_id INTEGER PRIMARY KEY,
    provider TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    specs TEXT NOT NULL,
    price_per_hour TEXT NOT NULL,
    block INTEGER NOT NULL
  );
  `,
  // Inference: one row per InferencePool job this orchestrator answered.
  `
  CREATE TABLE inferences (
    inference_job_id INTEGER PRIMARY KEY,
    model_job_id INTEGER NOT NULL,
    requester TEXT NOT NULL,
    model_hash TEXT NOT NULL,
    input_sha256 TEXT NOT NULL,
    count INTEGER NOT NULL,
    classes INTEGER NOT NULL,
    probabilities BLOB NOT NULL,
    compute_ms INTEGER NOT NULL,
    max_payment TEXT NOT NULL,
    fee TEXT NOT NULL,
    payout TEXT NOT NULL,
    signature TEXT NOT NULL,
    created_at INTEGER NOT NULL
  );
  `,
  `
  ALTER TABLE rounds ADD COLUMN rewards TEXT;
  `,
  // Market: each machine's latest liveness record, and the down spans of rentals this orchestrator arbitrates.
  `
  CREATE TABLE market_liveness (
    machine_id TEXT PRIMARY KEY,
    provider TEXT NOT NULL,
    at INTEGER NOT NULL,
    signature TEXT NOT NULL
  );
  CREATE INDEX market_liveness_at ON market_liveness (at);
  CREATE TABLE rental_downtime (
    rental_id TEXT NOT NULL,
    down_at INTEGER NOT NULL,
    up_at INTEGER,
    PRIMARY KEY (rental_id, down_at)
  );
  CREATE UNIQUE INDEX rental_downtime_open ON rental_downtime (rental_id) WHERE up_at IS NULL;
  `,
];
