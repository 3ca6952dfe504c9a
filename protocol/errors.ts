/**
 * One error type for the whole product: a short message, a stable code, an optional fix the
 * user can apply, and the underlying cause. The CLI's single error handler renders these.
 *
 * Every code is in ERROR_CODES with its exit status, whether retrying the same call later may
 * succeed, and one line on what it means; docs/errors.md is rendered from this table.
 */

/** Exit statuses of the CLI. */
export const EXIT = { REFUSED: 1, INTERNAL: 2, TRANSIENT: 3, INTERRUPTED: 130 } as const;

/** What each exit status tells a script (docs/errors.md lists these). */
export const EXIT_MEANINGS: Record<(typeof EXIT)[keyof typeof EXIT], string> = {
  1: "refused: the input, the configuration, the chain or the orchestrator said no; change something and run again",
  2: "internal: a bug or an unexpected failure (INTERNAL, and anything thrown that is not a QuackError)",
  3: "transient: a service was unreachable or busy; the same command may succeed later as it is",
  130: "interrupted by Ctrl-C or SIGTERM (ABORTED)",
};

export interface ErrorCodeInfo {
  /** The CLI's exit status when this error ends a command. */
  exit: number;
  /** Whether the same call may succeed when retried after a pause. */
  transient: boolean;
  /** One line: what the code means. */
  doc: string;
}

const refused = (doc: string) => ({ exit: EXIT.REFUSED, transient: false, doc }) as const;
const internal = (doc: string) => ({ exit: EXIT.INTERNAL, transient: false, doc }) as const;
const transient = (doc: string) => ({ exit: EXIT.TRANSIENT, transient: true, doc }) as const;

export const ERROR_CODES = {
  // ---- general ----
  INTERNAL: internal("An unexpected failure (a bug); the message says where."),
  ABORTED: { exit: EXIT.INTERRUPTED, transient: false, doc: "Stopped by a signal (Ctrl-C, SIGTERM) before finishing." },
  BAD_ARGUMENT: refused("A flag or argument has a value that is out of range or malformed."),
  MISSING_OPTION: refused("A required flag or option was not given."),
  BAD_CONFIG: refused("~/.quackmesh/config.json is not a JSON object."),
  BAD_ID: refused("A job, rental or other id is not a whole number in range."),
  BAD_AMOUNT: refused("A DUCK or ETH amount (or price) is not a valid positive amount."),
  BAD_ADDRESS: refused("A text is not a valid (non-zero) EVM address."),
  BAD_PORT: refused("A text is not a TCP port number."),
  BAD_PATH: refused("A path that must be absolute is not."),
  PORT_BUSY: refused("The TCP port to listen on is already in use."),
  WRITE_FAILED: refused("An output file cannot be written."),
  DATA_NOT_FOUND: refused("A data file or folder does not exist, or holds no known data set."),
  BAD_DATA: refused("A data file cannot be parsed, or does not fit the model (features, labels, samples)."),
  INPUT_TOO_LARGE: refused("The inference input is larger than the orchestrator accepts per job."),

  // ---- wallet and keys ----
  NO_KEY: refused("The network needs a wallet key and none was given."),
  BAD_KEY: refused("A key file or variable does not hold a valid secp256k1 private key."),
  KEY_FILE_UNREADABLE: refused("A key file cannot be read."),
  UNKNOWN_ACCOUNT: refused("No dev account of that name or index on the local chain."),
  DEV_ACCOUNT_REMOTE: refused("--account selects a public dev key, which is refused off the local chain."),
  NO_FUNDS: refused("The wallet has not enough ETH to pay for gas."),
  NOT_ENOUGH_DUCK: refused("The wallet holds less DUCK than the escrow, pool or rent needs."),
  FAUCET_LOCAL_ONLY: refused("The faucet exists only on the local chain."),
  FAUCET_NO_OWNER: refused("The DuckToken owner is not a dev account, so the faucet cannot mint."),

  // ---- chain and deployments ----
  UNKNOWN_NETWORK: refused("The network is not local, duckchain-testnet, duckchain or an RPC URL."),
  BAD_RPC_URL: refused("The RPC URL is not an http:// or https:// URL."),
  RPC_UNREACHABLE: transient("The JSON-RPC endpoint does not answer."),
  WRONG_CHAIN: refused("The RPC serves another chain id than the network or deployment expects."),
  NO_DUCK_TOKEN: refused("The $DUCK token address for this network is not configured."),
  DUCK_TOKEN_NOT_FOUND: refused("There is no contract at the configured $DUCK address."),
  NO_PROVIDER: internal("A signer is not connected to a chain."),
  NO_ARTIFACTS: refused("A compiled contract artifact is missing from the package."),
  NO_DEPLOYMENT: refused("No deployment file of the contracts for this network."),
  BAD_DEPLOYMENT: refused("A deployment file cannot be read, is malformed, or would be written inconsistently."),
  DEPLOYMENT_EXISTS: refused("The network already has live contracts; deploying again needs --force."),
  DEPLOYMENT_GONE: refused("The deployment file lists contracts that have no code on the chain."),
  CHAIN_RESET: refused("The chain is not the one the orchestrator's store was made for: the deployment's block has another hash or is gone (a local chain restarted), or the store belongs to another deployment."),
  CHAIN_START_FAILED: refused("The local Hardhat node did not start."),
  CHAIN_EXITED: refused("The local Hardhat node exited on its own."),
  TX_REVERTED: refused("A contract refused the call or transaction (a revert, decoded where possible)."),
  TX_FAILED: refused("A transaction failed for a reason other than a revert, funds, the network or the nonce."),
  NONCE_CONFLICT: transient("The transaction clashed with another one from the same wallet."),
  EVENT_MISSING: refused("A transaction was mined but did not emit the event it should have."),

  // ---- training jobs (CLI) ----
  BAD_SPEC: refused("The model spec cannot be read or is not a valid spec."),
  UNSUPPORTED_MODEL: refused("The job's model is not one this client can train."),
  TRAINER_FAILED: refused("The external trainer (--trainer) could not start or exited with a non-zero status."),
  TRAINER_TIMEOUT: refused("The external trainer (--trainer) ran past its time limit and was killed."),
  TRAINER_BAD_UPDATE: refused("The external trainer (--trainer) wrote no update.safetensors, or one that does not match the global model (names, shapes, float32, finite values, size)."),
  UNKNOWN_JOB: refused("TrainingPool has no job with this id."),
  JOB_ALREADY_FINISHED: refused("The job is already finished on chain."),
  JOB_STILL_RUNNING: refused("The job cannot be ended yet: its deadline has not passed."),
  DEADLINE_PASSED: refused("The job's deadline passed; it pays no more updates."),
  POOL_EXHAUSTED: refused("The job's reward pool is spent."),
  NOT_REQUESTER: refused("Only the job's requester may do this."),
  WRONG_ORCHESTRATOR: refused("The orchestrator is not the one the job, deployment or chain names."),
  ACTIVATION_TIMEOUT: refused("The job is escrowed on chain but the orchestrator did not activate it in time."),
  JOB_MISMATCH: refused("The orchestrator's job with this id is not the one just created on chain (another model hash, requester or transaction)."),
  DRAFT_INCOMPLETE: refused("The orchestrator did not accept the draft as complete after the uploads."),
  NO_CHAIN: refused("The step needs the chain (TrainingPool) and none was given."),
  NO_SIGNER: internal("A signed request was made through a client without a wallet."),
  BAD_ATTESTATION: refused("The orchestrator's attestation does not match the update sent."),
  STATE_UNREADABLE: refused("The contributor state file cannot be read or is not one."),
  STATE_MISMATCH: refused("The contributor state file belongs to another job or address."),
  REPLAY_MISMATCH: refused("job verify: a replayed round does not match what the orchestrator published or the chain holds."),

  // ---- inference (CLI) ----
  BAD_STATEMENT: refused("The orchestrator's usage statement for an inference job cannot be used."),
  RECLAIM_TOO_EARLY: refused("The inference escrow cannot be reclaimed yet."),
  INFERENCE_INCOMPLETE: refused("infer --cluster: no machine was left to answer some parts of the input; what was returned is paid, nothing is written."),
  RENTAL_NOT_USABLE: refused("infer --rentals: a rental is not this wallet's, not active, or its machine has no endpoint."),
  WORKER_TIMEOUT: refused("The inference worker on a rented machine did not answer in time."),
  BAD_WORKER_ANSWER: refused("The inference worker on a rented machine answered a part wrongly (size, checksum or part number)."),

  // ---- orchestrator API: request shape ----
  VALIDATION_FAILED: refused("The request does not match the expected schema."),
  BAD_JSON: refused("The body is not valid JSON."),
  JSON_TOO_DEEP: refused("The JSON body is nested too deeply."),
  BAD_QUERY: refused("A query parameter is missing or invalid."),
  BODY_TOO_LARGE: refused("The body is larger than this endpoint accepts."),
  BODY_EMPTY: refused("The body is empty."),
  UNSUPPORTED_MEDIA_TYPE: refused("This content type is not accepted here."),
  NOT_FOUND: refused("No such route."),
  METHOD_NOT_ALLOWED: refused("This method is not allowed here."),
  // identity
  SIGNATURE_MISSING: refused("This request must be signed (x-quackmesh-address, -timestamp, -signature)."),
  SIGNATURE_INVALID: refused("The signature does not match the address and the request."),
  SIGNATURE_STALE: refused("The request timestamp is too far from the server's clock."),
  SIGNATURE_REPLAYED: refused("This signed request was already used."),
  RATE_LIMITED: transient("Too many requests from this address; slow down."),
  DRAFT_QUOTA_EXCEEDED: refused("The address holds as many drafts unbound to a job (created in the last 24 h) as the orchestrator keeps per address (`serve --max-drafts`)."),
  STORAGE_QUOTA_EXCEEDED: refused("The address's drafts unbound to a job (last 24 h) hold as many bytes as the orchestrator keeps per address (`serve --max-stored`)."),
  DRAFT_UPLOADED: refused("The draft already holds other weights, validation set or training data; each is uploaded once (the same bytes again are accepted)."),
  NOT_UPLOADER: refused("Only the address that created the draft may change it."),
  // jobs and drafts
  INVALID_MODEL_SPEC: refused("The model spec sent to the orchestrator is not valid."),
  INVALID_SETTINGS: refused("The job settings are not valid."),
  INVALID_WEIGHTS: refused("The initial weights cannot be read or do not fit the model spec."),
  INVALID_DATASET: refused("The validation set sent to the orchestrator could not be read."),
  DRAFT_NOT_FOUND: refused("No draft job with this id."),
  DRAFT_LOCKED: refused("This draft is already bound to an on-chain job and cannot change."),
  JOB_NOT_FOUND: refused("The orchestrator has no job with this id."),
  JOB_NOT_ACTIVE: refused("This job is not accepting updates."),
  JOB_NOT_FINISHED: refused("The job has not finished its last round yet."),
  // updates
  ROUND_CLOSED: refused("This round is closed; fetch the current model and train for the open round."),
  ROUND_NOT_CLOSED: refused("The round has not closed yet; its rewards and updates exist once it closed."),
  ROUND_NOT_OPEN: refused("This round has not opened yet."),
  NOT_ROUND_PARTICIPANT: refused("Only the job's requester and the round's contributors may download a round's files."),
  DUPLICATE_UPDATE: refused("This address already sent an update for this round."),
  MALFORMED_SAFETENSORS: refused("The body is not a valid safetensors file."),
  NORM_BOUND_EXCEEDED: refused("The update moves too far from the global model."),
  IDENTICAL_TO_GLOBAL: refused("The update equals the global model; train before sending."),
  BELOW_THRESHOLD: refused("The update's accuracy on the validation set is below the job's threshold."),
  // clusters
  INVALID_SSH_KEY: refused("The SSH private key cannot be used (unparsable, public or encrypted)."),
  NOT_CLUSTER_WORKER: refused("This job is trained by its rented cluster; only its workers may send updates."),
  // inference
  INFERENCE_JOB_NOT_FOUND: refused("InferencePool (or this orchestrator) has no inference job with this id."),
  INFERENCE_SETTLED: refused("The inference job is already settled or reclaimed on chain."),
  MODEL_MISMATCH: refused("The inference job's model is not a model of this training job."),
  INVALID_INPUT: refused("The inference input does not fit the model."),
  INPUT_MISMATCH: refused("This inference job already ran, on other input or another job's model."),
  // server
  UNAVAILABLE: transient("The orchestrator is not ready to serve this request."),

  // ---- orchestrator store (serve --database) ----
  BAD_DATABASE_URL: refused("The database URL is not a postgres:// URL that can be used."),
  DATABASE_UNREACHABLE: transient("The PostgreSQL server does not answer, refused the connection or went away; nothing was written."),
  DATABASE_REFUSED: refused("The PostgreSQL server refused the login or has no such database."),
  DATABASE_SCHEMA_TOO_NEW: refused("The database was migrated by a newer QuackMesh than this one; this version cannot use it."),
  TLS_UNUSABLE: refused("The --tls-cert/--tls-key files cannot be read or are not a PEM certificate and its matching key."),

  // ---- talking to the orchestrator ----
  ORCHESTRATOR_UNREACHABLE: transient("The orchestrator's URL does not answer."),
  HTTP_502: transient("A proxy in front of the orchestrator got no valid answer (HTTP 502)."),
  HTTP_503: transient("The orchestrator or a proxy is unavailable (HTTP 503)."),
  HTTP_504: transient("A proxy in front of the orchestrator timed out (HTTP 504)."),
  HTTP_ERROR: refused("The orchestrator's URL answered an HTTP error without a known code; details.status has it."),

  // ---- engine (native addon) ----
  LENGTH_MISMATCH: refused("Engine: arrays that must have equal lengths do not."),
  EMPTY_INPUT: refused("Engine: an input that must hold values is empty."),
  BAD_WEIGHT: refused("Engine: an aggregation weight is negative, NaN or infinite."),
  ZERO_TOTAL_WEIGHT: refused("Engine: the aggregation weights sum to 0."),
  NON_FINITE: refused("Values that must be finite hold NaN or infinity."),
  SHAPE_MISMATCH: refused("Tensors do not match the expected names and shapes."),
  CUDA_UNAVAILABLE: refused("CUDA was asked for but no usable GPU or CUDA build is present."),
  CUDA_ERROR: internal("Engine: a CUDA call failed."),
  BUSY: internal("Engine: the object is in use by a pending call; await it first."),
  OUT_OF_MEMORY: refused("Engine: the model or buffer does not fit in memory."),
  ADDON_MISSING: refused("The native addon is not built."),

  // ---- safetensors ----
  TRUNCATED: refused("safetensors: the data is shorter than its 8-byte header length."),
  TOO_LARGE: refused("safetensors: the header claims more bytes than the limit."),
  BAD_HEADER_LENGTH: refused("safetensors: the header length points past the data."),
  BAD_HEADER_JSON: refused("safetensors: the header is not a UTF-8 JSON object of tensors."),
  BAD_METADATA: refused("safetensors: __metadata__ is not an object of strings."),
  UNKNOWN_DTYPE: refused("safetensors: a tensor's dtype is not one the format defines."),
  UNSUPPORTED_DTYPE: refused("safetensors: a tensor is not of a float type (F32, F16, BF16, F64)."),
  BAD_SHAPE: refused("A tensor's shape is not a list of non-negative integers."),
  BAD_OFFSETS: refused("safetensors: a tensor's data_offsets are malformed or outside the data."),
  SIZE_MISMATCH: refused("A tensor's value count does not match its shape or layout."),
  OVERLAP: refused("safetensors: two tensors' data overlap."),
  GAP: refused("safetensors: the data holds bytes that belong to no tensor."),
  BAD_NAME: refused("safetensors: a tensor name cannot be saved."),
  DUPLICATE_NAME: refused("safetensors: a tensor name appears twice."),

  // ---- compute market ----
  BAD_ENDPOINT: refused("A machine's SSH endpoint (host:port) is malformed."),
  PRIVATE_ENDPOINT: refused("A machine's SSH endpoint is not a public address, and this orchestrator connects only to public ones."),
  ALREADY_LISTED: refused("This agent already serves a listed machine."),
  TOO_FEW_MACHINES: refused("Fewer listed machines match than the rental needs."),
  RENT_INCOMPLETE: refused("Some machines were rented, then renting the rest failed."),
  NOT_ACKNOWLEDGED: refused("Rentals were not acknowledged by their providers in time."),
  PROVIDER_FAILED: refused("The provider agent stopped on an error."),
  NO_SSHD: refused("The OpenSSH server is not installed."),
  SSHD_START_FAILED: refused("The dedicated sshd did not start."),
  NO_SSH_KEYGEN: refused("ssh-keygen is not installed."),
  SSH_KEYGEN_FAILED: refused("ssh-keygen failed."),
  BAD_SSH_KEY: refused("An SSH public key is malformed or of an unsupported type."),
  SSH_KEY_UNREADABLE: refused("The SSH public key file cannot be read."),
  AUTHORIZED_KEYS_UNREADABLE: refused("The authorized_keys file cannot be read."),
  AUTHORIZED_KEYS_UNWRITABLE: refused("The authorized_keys file cannot be written."),
  BAD_FORCED_COMMAND: refused("The forced command for a renter key is empty or holds unsafe characters."),
  GATE_NOT_BUILT: refused("The SSH gate script is missing: the CLI is not built."),
  BAD_GATE_PATH: refused("A path or word of the gate's command line is empty, relative or unsafe."),
  GATEWAY_START_FAILED: refused("The embedded SSH gateway cannot listen on the address asked for."),
  HOST_KEY_EXPOSED: refused("The gateway's host key file is readable by other users."),
  BAD_HOST_KEY: refused("The gateway's host key file is not an unencrypted OpenSSH private key."),

  // ---- clusters (orchestrator side) ----
  SSH_UNREACHABLE: transient("A rented machine's SSH endpoint does not answer."),
  SSH_TIMEOUT: transient("A rented machine did not complete the SSH handshake in time."),
  SSH_AUTH_REFUSED: refused("A rented machine refused the renter's SSH key."),
  SSH_FAILED: refused("SSH to a rented machine failed."),
  SSH_CONNECTION_LOST: transient("The SSH connection to a rented machine broke."),
  SSH_EXEC_FAILED: refused("A rented machine refused to run a command."),
  HOST_KEY_CHANGED: refused("A rented machine's host key differs from the pinned one."),
  KNOWN_HOSTS_UNREADABLE: refused("The pinned host keys file cannot be read."),
  BAD_KNOWN_HOSTS: refused("The pinned host keys file is not a JSON object."),
  SFTP_REFUSED: refused("A rented machine refused SFTP."),
  SFTP_UPLOAD_FAILED: refused("Uploading a file to a rented machine failed."),
  SFTP_DOWNLOAD_FAILED: refused("Reading a file from a rented machine failed."),
  SFTP_MKDIR_FAILED: refused("Creating a folder on a rented machine failed."),
  BAD_REMOTE_PATH: refused("A remote file name is not a plain relative name inside the rental's folder."),
  BAD_WORKER_ARG: refused("An argument for the remote worker is unsafe to pass."),
  WORKER_MISSING: refused("quackmesh is not installed (or fails) on a rented machine."),
  WORKER_ERROR: refused("The worker on a rented machine reported an error."),
  WORKER_EXITED: refused("The worker on a rented machine exited early."),
  HEARTBEAT_LOST: refused("The worker on a rented machine stopped sending heartbeats."),
  MACHINE_FAILED: refused("A rented machine failed; the message says how."),
  MACHINE_NOT_READY: refused("A rented machine is not connected yet."),
  UNKNOWN_RENTAL: refused("The rental is not part of this cluster."),
  DUPLICATE_RENTAL: refused("The rental is already part of this cluster."),
  NOT_ARBITER: refused("The rental names another arbiter than this orchestrator, or none."),
  RENTAL_NOT_OVER: refused("The rental is still running; its downtime statement is signed once it is over."),
  NO_MARKETPLACE: refused("This orchestrator watches no ComputeMarketplace (or no chain)."),
  BAD_LIVENESS: refused("A provider's liveness record is malformed, not signed by the machine's provider, or from the future."),

  // ---- AWS ----
  AWS_NO_REGION: refused("No AWS region was given."),
  AWS_BAD_REGION: refused("The AWS region is not a region name, or AWS refused it."),
  AWS_REGION_DISABLED: refused("The region is not enabled for this AWS account."),
  AWS_BAD_ENDPOINT: refused("The AWS endpoint is not an http:// or https:// URL."),
  AWS_BAD_CIDR: refused("A CIDR block flag is not an IPv4 CIDR block."),
  AWS_BAD_STACK: refused("The stack name is not 1-32 lower-case letters, digits and inner dashes."),
  AWS_NO_CREDENTIALS: refused("No usable AWS credentials were found."),
  AWS_BAD_CREDENTIALS: refused("AWS did not accept the credentials."),
  AWS_UNAUTHORIZED: refused("AWS refused an action for these credentials (IAM)."),
  AWS_UNREACHABLE: transient("The AWS endpoint does not answer."),
  AWS_REQUEST_FAILED: refused("An AWS call failed; the message carries AWS's code."),
  AWS_TIMEOUT: refused("AWS resources did not reach the wanted state in time."),
  AWS_AMI_NOT_FOUND: refused("The AMI does not exist in the region."),
  AWS_NO_DEFAULT_VPC: refused("The region has no default VPC."),
  AWS_STACK_EXISTS: refused("The stack already runs in the region."),
  AWS_INSTANCE_FAILED: refused("An instance of the stack stopped or terminated."),
  AWS_NO_ORCHESTRATOR: refused("The stack has no running orchestrator."),
  AWS_NO_PACKAGE: refused("No --package says where the instance installs quackmesh from."),
  AWS_USER_DATA_TOO_LARGE: refused("The instance's start script is larger than EC2 accepts."),
  AWS_DATABASE_NO_PASSWORD: refused("The stack's RDS database exists but its password is not in SSM Parameter Store."),
  AWS_DATABASE_FAILED: refused("The stack's RDS database is in a state it cannot be used in (failed, deleting, storage full…)."),
  AWS_BAD_SECRET: refused("An SSM parameter of the stack does not hold what QuackMesh keeps there."),

  // ---- demo ----
  KEEP_NOT_EMPTY: refused("The demo's --keep folder is not empty."),
  DEMO_ORDER: internal("A demo step ran before the step it depends on."),
  DEMO_STALLED: refused("The demo made no progress for too long."),
  DEMO_INCOMPLETE: refused("The demo's contributors stopped before the job finished."),
  DEMO_MARKET_FAILED: refused("The demo's market step failed."),
  DEMO_PROVIDER_FAILED: refused("A demo provider exited before listing its machine."),
  DEMO_PROVIDER_TIMEOUT: refused("A demo provider did not list its machine in time."),
  DEMO_CLUSTER_FAILED: refused("The demo's cluster job failed."),
  CONTRIBUTOR_FAILED: refused("A contributor process exited with an error."),
} as const satisfies Record<string, ErrorCodeInfo>;

export type ErrorCode = keyof typeof ERROR_CODES;

export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === "string" && Object.hasOwn(ERROR_CODES, code);
}

/** The code of any thrown value that carries a known one (a QuackError, or an object with `code`). */
export function errorCodeOf(err: unknown): ErrorCode | undefined {
  const code = (err as { code?: unknown } | null | undefined)?.code;
  return isErrorCode(code) ? code : undefined;
}

/** Whether a thrown value is worth retrying after a pause (its code is transient in the table). */
export function isTransientError(err: unknown): boolean {
  const code = errorCodeOf(err);
  return code !== undefined && infoOf(code).transient;
}

/** A code's row; a value that slipped past the type (e.g. cast from JSON) reads as INTERNAL. */
function infoOf(code: string): ErrorCodeInfo {
  return isErrorCode(code) ? ERROR_CODES[code] : ERROR_CODES.INTERNAL;
}

export class QuackError extends Error {
  readonly code: ErrorCode;
  readonly fix?: string;
  readonly details?: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, opts: { fix?: string; details?: Record<string, unknown>; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = "QuackError";
    this.code = code;
    this.fix = opts.fix;
    this.details = opts.details;
  }

  /** The CLI's exit status for this error. */
  get exitCode(): number {
    return infoOf(this.code).exit;
  }

  /** Whether retrying the same call later may succeed. */
  get transient(): boolean {
    return infoOf(this.code).transient;
  }

  toJSON(): Record<string, unknown> {
    return { error: this.code, message: this.message, fix: this.fix, details: this.details };
  }
}

export function isQuackError(e: unknown): e is QuackError {
  return e instanceof QuackError;
}
