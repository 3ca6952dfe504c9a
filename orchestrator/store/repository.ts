/**
 * The orchestrator's store, behind one async interface. Routes and the round engine only see
 * this; the SQLite implementation is the embedded default and a PostgreSQL one can replace it.
 * Each method is one atomic step: an implementation runs it in a single transaction.
 */
import type { TrainHyperparams } from "../../protocol/train.js";
import type { ModelSpec } from "../../native/types.js";
import type { JobSettings } from "../../protocol/settings.js";

export type JobStatus = "active" | "finished";
export type RoundStatus = "open" | "closing" | "closed";
export type UpdateStatus = "accepted" | "rejected";

export interface DraftRecord {
  id: string;
  /** Address that signed the upload; the on-chain requester must be this address. */
  uploader: string;
  spec: ModelSpec;
  settings: JobSettings;
  createdAt: number;
  /** sha256 of the initial weights' safetensors bytes (0x…), once uploaded or generated. */
  modelHash: string | null;
  validationHash: string | null;
  validationFormat: string | null;
  validationSamples: number | null;
  /** On-chain job id once a TrainingJobCreated event bound this draft. */
  jobId: number | null;
}

/** What the chain said when the job was created (amounts as decimal strings). */
export interface ChainJobInfo {
  txHash: string;
  blockNumber: number;
  totalRewardPool: string;
  /** Most one round may commit to its contributors. */
  roundBudget: string;
  /** Most one contributor may claim for one round. */
  maxPerContributor: string;
  /** Paid on chain for each accepted update at submitUpdate (0 = none). */
  flatPerUpdate: string;
  deadline: number;
  /** Seconds after the last round commitment before anyone may finish the job. */
  claimWindow: number;
}

export interface JobRecord {
  jobId: number;
  draftId: string;
  requester: string;
  evaluator: string;
  initialModelHash: string;
  spec: ModelSpec;
  /** The draft's settings with the chain's rounds and threshold, which are what pays. */
  settings: JobSettings;
  validationHash: string;
  status: JobStatus;
  currentRound: number;
  /** Global model the current round trains from (the final model once finished). */
  modelHash: string;
  createdAt: number;
  finishedAt: number | null;
  chain: ChainJobInfo;
}

export interface RoundRecord {
  jobId: number;
  round: number;
  status: RoundStatus;
  openedAt: number;
  deadlineAt: number;
  /** Times the deadline passed without enough updates and was pushed back. */
  extensions: number;
  /** The global model this round trains from. */
  inputModelHash: string;
  closedAt: number | null;
  /** The aggregated model this round produced. */
  modelHash: string | null;
  accuracy: number | null;
  loss: number | null;
  contributors: string[];
  updateHashes: string[];
  /** What the round paid and why, once it closed (null before, and for rounds closed by older versions). */
  rewards: RoundRewards | null;
}

/** One accepted update's part in a closed round. */
export interface UpdateReward {
  contributor: string;
  updateHash: string;
  claimedSamples: number;
  /** Weight the aggregation gave it (claims above the round's lower median count as the median). */
  weight: number;
  deltaNorm: number;
  /** Validation loss its training saved the round's model (counterfactual leave-one-out; what is paid). */
  score: number;
  /** Its own gain over the round's input model (baseLoss − its validation loss). */
  gain: number;
  /** Why it is not part of the round's model (NORM_OUTLIER, LEARNED_NOTHING, HARMFUL, NO_CONTRIBUTION), null when it is. */
  excluded: string | null;
  /** DUCK wei owed, decimal string. */
  amount: string;
}

/** The evaluator's signed commitment of a round, as TrainingPool.commitRound takes it. */
export interface RoundRewards {
  rewardsRoot: string;
  updatesRoot: string;
  /** DUCK wei, decimal string: the sum of the amounts. */
  total: string;
  /** The budget the split used: min(roundBudget, what the pool surely has free). */
  budget: string;
  signature: string;
  /** Validation loss of the model the round started from. */
  baseLoss: number;
  updates: UpdateReward[];
}

export interface UpdateRecord {
  jobId: number;
  round: number;
  contributor: string;
  updateHash: string;
  numSamples: number;
  accuracyBps: number;
  loss: number;
  status: UpdateStatus;
  /** Why it was rejected (an error code), null when accepted. */
  reason: string | null;
  /** The evaluator's EIP-712 attestation, for accepted updates. */
  signature: string | null;
  receivedAt: number;
}

export interface ChainEventRecord {
  txHash: string;
  logIndex: number;
  blockNumber: number;
  source: string;
  name: string;
  /** Event arguments, JSON-safe (bigints as decimal strings). */
  args: Record<string, string | number | boolean>;
}

/**
 * One rented machine of a job's cluster: what the chain said (MachineRented, the listing) and
 * what the cluster manager made of it. Status: pending (rented, not acknowledged), connecting,
 * ready, running, done, failed, ended (the rental ended or was cancelled).
 */
export interface ClusterMachineRecord {
  jobId: number;
  machineId: number;
  rentalId: number | null;
  provider: string;
  host: string;
  port: number;
  status: string;
  updatedAt: number;
  /** Login user from the listed endpoint (`user@host:port`). */
  username?: string | null;
  /** Who paid the rental; only the job's requester's rentals are used. */
  renter?: string | null;
  /** `SHA256:…` of the SSH key the renter gave the provider. */
  keyFingerprint?: string | null;
  /** `SHA256:…` host key the provider announced in its listing. */
  hostKey?: string | null;
  /** Address of the wallet the orchestrator made for this machine's worker. */
  workerAddress?: string | null;
  workerVersion?: string | null;
  /** Which part of the training data the machine got. */
  shard?: number | null;
  /** Epoch ms of the worker's last line, as last stored. */
  lastHeartbeat?: number | null;
  error?: string | null;
}

/** Which stored chain events to read, newest first, a page at a time. */
export interface ChainEventQuery {
  /** Only events of these contracts (store source names: TrainingPool, ComputeMarketplace, InferencePool). */
  sources?: string[];
  /** Only events with these names (e.g. RewardClaimed). */
  names?: string[];
  /** Only events with this address (0x + 40 hex) as one of their arguments, any case. */
  address?: string;
  /** Only events strictly older than this position (the previous page's last event). */
  before?: { blockNumber: number; logIndex: number };
  /** Oldest first instead of newest first (ledgers fold events in chain order). */
  ascending?: boolean;
  limit: number;
}

export type ClusterMachinePatch = Partial<Omit<ClusterMachineRecord, "jobId" | "machineId">>;

/** Training settings the cluster's workers run with. */
export type ClusterTrainSettings = TrainHyperparams;

/**
 * What the requester uploaded for a cluster job: the SSH private key of its rentals, the number
 * of machines, the training data and settings. Keyed by the draft, so a job created from it is a
 * cluster job from its first round.
 */
export interface ClusterSpecRecord {
  draftId: string;
  owner: string;
  machines: number;
  train: ClusterTrainSettings;
  sshPrivateKey: string | null;
  keyFingerprint: string | null;
  trainHash: string | null;
  trainFormat: string | null;
  trainSamples: number | null;
  updatedAt: number;
}

/** A machine as its MachineListed event described it. */
export interface MarketMachineRecord {
  machineId: number;
  provider: string;
  endpoint: string;
  specs: string;
  pricePerHour: string;
  block: number;
}

/** A provider's latest signed Liveness(machineId, at), kept per machine. */
export interface LivenessRow {
  machineId: string;
  /** The machine's provider on chain, who signed the record. */
  provider: string;
  /** Unix seconds the provider signed at. */
  at: number;
  signature: string;
}

/** A span a rented machine did not serve, as the rental's arbiter saw it: ms; `to` is null while it is still down. */
export interface DowntimeSpan {
  from: number;
  to: number | null;
}

/**
 * One inference job this orchestrator ran: its predictions and the usage statement it signed,
 * kept so that a retry gets the very same answer.
 */
export interface InferenceRecord {
  /** InferencePool job id. */
  inferenceJobId: number;
  /** The training job whose model answered. */
  modelJobId: number;
  requester: string;
  modelHash: string;
  /** Lowercase hex sha256 of the input body. */
  inputSha256: string;
  count: number;
  classes: number;
  /** count × classes softmax probabilities, row-major. */
  probabilities: Float32Array;
  computeMs: number;
  /** DUCK wei, as decimal strings. */
  maxPayment: string;
  fee: string;
  /** Who the statement pays. */
  payout: string;
  /** EIP-712 Usage signature: (inferenceJobId, [payout], [fee]). */
  signature: string;
  createdAt: number;
}

export type AcceptResult =
  | { ok: true; closing: boolean; acceptedCount: number }
  | { ok: false; reason: "ROUND_CLOSED" | "DUPLICATE_UPDATE"; existing?: UpdateRecord };

export interface ActivateInput {
  event: ChainEventRecord;
  draftId: string;
  job: Omit<JobRecord, "status" | "currentRound" | "finishedAt" | "modelHash">;
  round0: { openedAt: number; deadlineAt: number };
}

export interface CompleteRoundInput {
  jobId: number;
  round: number;
  closedAt: number;
  modelHash: string;
  accuracy: number;
  loss: number;
  contributors: string[];
  updateHashes: string[];
  rewards: RoundRewards;
  /** The next round to open, or null when this was the last one. */
  next: { openedAt: number; deadlineAt: number } | null;
}

export interface Repository {
  close(): Promise<void>;

  getMeta(key: string): Promise<string | null>;
  setMeta(key: string, value: string): Promise<void>;

  /** Record a signed request's id; false when it was already seen (a replay). */
  useRequestId(id: string, expiresAt: number, now: number): Promise<boolean>;

  insertDraft(draft: DraftRecord): Promise<void>;
  getDraft(id: string): Promise<DraftRecord | null>;
  setDraftWeights(id: string, modelHash: string): Promise<void>;
  setDraftValidation(id: string, v: { hash: string; format: string; samples: number }): Promise<void>;
  /** Drafts with weights and validation, no job yet, for this model hash and uploader. */
  findReadyDrafts(modelHash: string, uploader: string): Promise<DraftRecord[]>;
  /** The uploader's drafts not bound to a job, created at or after `since` (for per-address quotas). */
  listOpenDrafts(uploader: string, since: number): Promise<DraftRecord[]>;

  getChainCursor(source: string): Promise<number | null>;
  /**
   * Store events not seen before and move the cursor to `toBlock`, atomically. Returns only
   * the events that were new, so a restart never handles one twice.
   */
  recordChainEvents(source: string, toBlock: number, events: ChainEventRecord[]): Promise<ChainEventRecord[]>;
  unhandledChainEvents(name: string): Promise<ChainEventRecord[]>;
  markChainEventHandled(txHash: string, logIndex: number, note: string): Promise<void>;
  /** Stored chain events matching the query, newest first (by block, then log index) unless ascending. */
  queryChainEvents(query: ChainEventQuery): Promise<ChainEventRecord[]>;

  /**
   * Create the job from a draft and its chain event, open round 0, mark the event handled.
   * Null when the draft was bound to another job meanwhile (nothing changes then).
   */
  activateJob(input: ActivateInput): Promise<JobRecord | null>;
  getJob(jobId: number): Promise<JobRecord | null>;
  listJobs(): Promise<JobRecord[]>;

  getRound(jobId: number, round: number): Promise<RoundRecord | null>;
  listRounds(jobId: number): Promise<RoundRecord[]>;
  roundsWithStatus(status: RoundStatus): Promise<RoundRecord[]>;
  /** Open → closing; false if it was not open. */
  markRoundClosing(jobId: number, round: number): Promise<boolean>;
  /** Push an open round's deadline back and count the extension. */
  extendRound(jobId: number, round: number, deadlineAt: number): Promise<void>;
  /** Close a round with its result and open the next (or finish the job). Idempotent. */
  completeRound(input: CompleteRoundInput): Promise<void>;
  /**
   * End an active job early (its requester aborted it, or it finished on chain). With `keepOpen`
   * the round in progress stays the last one when it holds an accepted update or is closing;
   * otherwise (or without `keepOpen`) that round is dropped and the job finishes now. The job's
   * `settings.rounds` becomes its last round + 1. Returns the job as it is after (a finished job
   * unchanged); null when unknown.
   */
  endJobEarly(jobId: number, now: number, keepOpen: boolean): Promise<JobRecord | null>;

  getUpdate(jobId: number, round: number, contributor: string): Promise<UpdateRecord | null>;
  /**
   * Store an accepted update durably if its round is still open and the contributor has none
   * there yet; mark the round closing when it reaches `minUpdates`.
   */
  acceptUpdate(update: UpdateRecord, minUpdates: number): Promise<AcceptResult>;
  /** Store an update rejected after evaluation (e.g. below threshold); same rules as accept. */
  rejectUpdate(update: UpdateRecord): Promise<AcceptResult>;
  /** Updates of a round with a status, sorted by update hash (aggregation order). */
  listUpdates(jobId: number, round: number, status: UpdateStatus): Promise<UpdateRecord[]>;
  countUpdates(jobId: number): Promise<{ accepted: number; rejected: number }>;
  /** Every update of a job (all rounds, accepted and rejected), by round then contributor. */
  listJobUpdates(jobId: number): Promise<UpdateRecord[]>;
  /** A contributor's updates across all jobs, newest first, at most `limit`. */
  listContributorUpdates(contributor: string, limit: number): Promise<UpdateRecord[]>;

  listClusterMachines(jobId: number): Promise<ClusterMachineRecord[]>;
  /** Insert or replace the machine's row (optional fields left out keep their stored value). */
  upsertClusterMachine(machine: ClusterMachineRecord): Promise<void>;
  /** Change some fields of a stored machine row; false when there is none. */
  updateClusterMachine(jobId: number, machineId: number, patch: ClusterMachinePatch): Promise<boolean>;
  findClusterMachineByRental(rentalId: number): Promise<ClusterMachineRecord | null>;
  /** Machines of every job whose status is one of `statuses` (for resuming after a restart). */
  clusterMachinesWithStatus(statuses: string[]): Promise<ClusterMachineRecord[]>;
  getClusterSpec(draftId: string): Promise<ClusterSpecRecord | null>;
  saveClusterSpec(spec: ClusterSpecRecord): Promise<void>;
  saveMarketMachine(machine: MarketMachineRecord): Promise<void>;
  getMarketMachine(machineId: number): Promise<MarketMachineRecord | null>;

  /**
   * Keep `record` as its machine's latest unless the stored one is as new or newer. A machine not
   * yet stored, when `maxMachines` are, replaces the one heard from longest ago (a flood of machine
   * ids cannot grow the table). Returns the machine's stored record. One transaction.
   */
  saveLiveness(record: LivenessRow, maxMachines: number): Promise<LivenessRow>;
  /** Every machine's latest liveness record. */
  listLiveness(): Promise<LivenessRow[]>;
  /** The rental's machine stopped serving at `at` (ms); nothing changes while it is already down. */
  markRentalDown(rentalId: string, at: number): Promise<void>;
  /** The rental's machine serves again from `at` (ms): ends its open down span, unless that began after `at`. */
  markRentalUp(rentalId: string, at: number): Promise<void>;
  /** The rental's down spans, oldest first. */
  listRentalDowntime(rentalId: string): Promise<DowntimeSpan[]>;

  getInference(inferenceJobId: number): Promise<InferenceRecord | null>;
  /**
   * Store an inference result durably unless one exists for its job id; returns the stored one
   * (the earlier one when two requests raced), so every answer for a job is the same.
   */
  saveInference(record: InferenceRecord): Promise<InferenceRecord>;
}
