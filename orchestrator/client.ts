/**
 * A typed client of the orchestrator's API, for `job create`, `contribute`, the demo and the
 * benchmarks. Writes are signed with signRequest; refusals become QuackErrors carrying the
 * server's code (ROUND_CLOSED, BELOW_THRESHOLD, …) and HTTP status.
 */
import { QuackError, isErrorCode, type ErrorCode } from "../protocol/errors.js";
import { signRequest, type MessageSigner } from "./auth.js";
import type {
  AttestationReply,
  ClusterKeyBody,
  ClusterReply,
  ClusterSpecReply,
  CreateJobBody,
  DraftReply,
  FinishProofReply,
  RoundRewardsReply,
  InfoReply,
  JobDetail,
  JobSummary,
} from "./routes/schemas.js";
import { encodeClusterBody, encodeInput } from "./inference/input.js";
import type { ClusterRunReply, InferenceInfoReply, InferenceReply, UsageStatementReply } from "./inference/schemas.js";

export type { AbortProofReply } from "./routes/abort.js";
import type { AbortProofReply } from "./routes/abort.js";
export type { AttestationReply, ClusterKeyBody, ClusterReply, ClusterSpecReply, CreateJobBody, DraftReply, FinishProofReply, InfoReply, JobDetail, JobSummary, RoundRewardsReply };
export type { ClusterRunReply, InferenceInfoReply, InferenceReply, UsageStatementReply };
export type { RentalUsage } from "./inference/parts.js";
export type { JobProgress } from "./routes/progress.js";

export interface ModelDownload {
  notModified: false;
  bytes: Buffer;
  /** The round this model is for (= rounds once the job finished). */
  round: number;
  modelHash: string;
  status: "active" | "finished";
}

export type ValidationUpload = { csv: Uint8Array | string } | { images: Uint8Array; labels: Uint8Array };

export interface ClientOptions {
  /** Wallet that signs writes (an ethers Wallet fits). */
  signer?: MessageSigner;
  timeoutMs?: number;
  fetch?: typeof fetch;
}

/** Fix hints for the refusals a caller can act on. */
const FIXES: Partial<Record<ErrorCode, string>> = {
  ROUND_CLOSED: "Fetch the current model (getModel) and train for the open round.",
  ROUND_NOT_OPEN: "Wait for the round to open; fetch the model to see the current round.",
  SIGNATURE_STALE: "Synchronize this machine's clock (NTP) and retry.",
  SIGNATURE_INVALID: "Sign with the wallet whose address you send; do not alter the request after signing.",
  JOB_NOT_FOUND: "Check the job id; a job appears after its TrainingJobCreated transaction is mined.",
  BELOW_THRESHOLD: "Train longer or on more data; the job's accuracy threshold is on chain.",
  BODY_TOO_LARGE: "The orchestrator's upload limit is in GET /api/info.",
  RATE_LIMITED: "Wait and retry.",
  DRAFT_QUOTA_EXCEEDED: "Bind or abandon earlier drafts (they stop counting after 24 h), or ask the operator to raise serve --max-drafts.",
  STORAGE_QUOTA_EXCEEDED: "Upload smaller files, wait for older drafts to leave the 24 h window, or ask the operator to raise serve --max-stored.",
  DRAFT_UPLOADED: "Create a new draft (POST /api/job) to upload other files.",
  INFERENCE_JOB_NOT_FOUND: "Check the inference job id and that the orchestrator watches this chain's InferencePool (GET /api/info).",
  INFERENCE_SETTLED: "The escrow was already paid out or reclaimed; escrow a new inference job.",
  WRONG_ORCHESTRATOR: "Send the input to the orchestrator the inference job names, or escrow a new job naming this one.",
  MODEL_MISMATCH: "Escrow the inference job for the model hash the training job serves (GET /api/job/:id).",
  INVALID_INPUT: "Send count × (the model's input size) finite float32 values, little-endian.",
  INPUT_MISMATCH: "Send exactly the input and job of the first request to get its stored answer.",
  CHAIN_RESET: "The orchestrator's store belongs to a chain that no longer exists (a restarted local chain): its operator deploys again if needed and restarts `quackmesh serve` with a fresh --data-dir.",
  NOT_ROUND_PARTICIPANT: "Sign with the requester's key or with the key of a contributor whose update the round accepted (--key / --account).",
  ROUND_NOT_CLOSED: "Wait until the round closed; `quackmesh job status ID` shows the open round.",
};

/** The server's code when this client knows it; else HTTP_502/503/504 for a gateway's answer, else HTTP_ERROR. */
export function refusalCode(error: unknown, status: number): ErrorCode {
  if (isErrorCode(error)) return error;
  if (status === 502) return "HTTP_502";
  if (status === 503) return "HTTP_503";
  if (status === 504) return "HTTP_504";
  return "HTTP_ERROR";
}

export class OrchestratorClient {
  readonly baseUrl: string;
  private readonly signer?: MessageSigner;
  private readonly timeoutMs: number;
  private readonly fetchFn: typeof fetch;

  constructor(baseUrl: string, opts: ClientOptions = {}) {
    this.baseUrl = baseUrl.replace(/\/+$/, "");
    this.signer = opts.signer;
    this.timeoutMs = opts.timeoutMs ?? 120_000;
    this.fetchFn = opts.fetch ?? fetch;
  }

  private async request(method: string, path: string, init: { body?: Uint8Array | string; contentType?: string; signed?: boolean; headers?: Record<string, string> } = {}): Promise<Response> {
    const headers: Record<string, string> = { ...init.headers };
    if (init.contentType) headers["content-type"] = init.contentType;
    if (init.signed) {
      if (!this.signer) throw new QuackError("NO_SIGNER", `${method} ${path} must be signed but this client has no wallet.`, { fix: "Create the client with { signer: wallet }." });
      Object.assign(headers, await signRequest(this.signer, method, path, init.body ?? null));
    }
    let res: Response;
    try {
      res = await this.fetchFn(this.baseUrl + path, {
        method,
        headers,
        body: init.body as BodyInit | undefined,
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (cause) {
      throw new QuackError("ORCHESTRATOR_UNREACHABLE", `Cannot reach the orchestrator at ${this.baseUrl}: ${(cause as Error).message}.`, {
        fix: "Check --orchestrator / QUACKMESH_ORCHESTRATOR and that `quackmesh serve` runs there.",
        cause,
      });
    }
    if (res.status >= 400) throw await this.refusal(res, method, path);
    return res;
  }

  private async refusal(res: Response, method: string, path: string): Promise<QuackError> {
    let body: { error?: string; message?: string; details?: Record<string, unknown> } = {};
    try {
      body = (await res.json()) as typeof body;
    } catch {
      // not JSON: keep the status
    }
    const code = refusalCode(body.error, res.status);
    return new QuackError(code, body.message ?? `${method} ${path} answered HTTP ${res.status}.`, {
      fix: FIXES[code],
      // A code this client does not know (a newer server) stays readable in details.error.
      details: { status: res.status, ...(body.error !== undefined && body.error !== code ? { error: body.error } : {}), ...body.details },
    });
  }

  private async json<T>(method: string, path: string, body?: unknown, signed = false): Promise<T> {
    const text = body === undefined ? undefined : JSON.stringify(body);
    const res = await this.request(method, path, { body: text, contentType: text === undefined ? undefined : "application/json", signed });
    return (await res.json()) as T;
  }

  info(): Promise<InfoReply> {
    return this.json("GET", "/api/info");
  }

  /** GET /healthz; an orchestrator whose chain was reset under it answers CHAIN_RESET (thrown). */
  health(): Promise<{ status: string; uptimeSeconds?: number }> {
    return this.json("GET", "/healthz");
  }

  /** Step 1 of a job: spec and settings (and `seed` for random initial weights) → draft. */
  createJob(input: CreateJobBody): Promise<DraftReply> {
    return this.json("POST", "/api/job", input, true);
  }

  getDraft(draftId: string): Promise<DraftReply> {
    return this.json("GET", `/api/job/draft/${encodeURIComponent(draftId)}`);
  }

  /** Initial weights as safetensors bytes; the reply's modelHash goes on chain. */
  async uploadWeights(draftId: string, safetensors: Uint8Array): Promise<DraftReply> {
    const res = await this.request("PUT", `/api/job/draft/${encodeURIComponent(draftId)}/weights`, {
      body: safetensors,
      contentType: "application/octet-stream",
      signed: true,
    });
    return (await res.json()) as DraftReply;
  }

  /** Validation set: CSV text/bytes (label first), or an MNIST IDX pair. */
  async uploadValidation(draftId: string, data: ValidationUpload): Promise<DraftReply> {
    const [body, contentType] =
      "csv" in data
        ? [typeof data.csv === "string" ? Buffer.from(data.csv, "utf8") : data.csv, "text/csv"]
        : [Buffer.concat([data.images, data.labels]), "application/octet-stream"];
    const res = await this.request("PUT", `/api/job/draft/${encodeURIComponent(draftId)}/validation`, { body, contentType, signed: true });
    return (await res.json()) as DraftReply;
  }

  async listJobs(): Promise<JobSummary[]> {
    return (await this.json<{ jobs: JobSummary[] }>("GET", "/api/jobs")).jobs;
  }

  getJob(jobId: number): Promise<JobDetail> {
    return this.json("GET", `/api/job/${jobId}`);
  }

  /** The current global model; with `etag` (a previous modelHash) answers notModified when unchanged. */
  async getModel(jobId: number, opts: { etag?: string } = {}): Promise<ModelDownload | { notModified: true; modelHash: string }> {
    const headers: Record<string, string> = opts.etag ? { "if-none-match": `"${opts.etag}"` } : {};
    const res = await this.request("GET", `/api/job/${jobId}/model`, { headers });
    const modelHash = res.headers.get("x-quackmesh-model-hash") ?? "";
    if (res.status === 304) return { notModified: true, modelHash: opts.etag ?? modelHash };
    return {
      notModified: false,
      bytes: Buffer.from(await res.arrayBuffer()),
      round: Number(res.headers.get("x-quackmesh-round")),
      modelHash,
      status: res.headers.get("x-quackmesh-job-status") === "finished" ? "finished" : "active",
    };
  }

  /** Send a trained model for `round`; answers the evaluator's attestation for TrainingPool.submitUpdate. */
  async submitUpdate(jobId: number, round: number, numSamples: number, safetensors: Uint8Array): Promise<AttestationReply> {
    const res = await this.request("POST", `/api/job/${jobId}/update?round=${round}&numSamples=${numSamples}`, {
      body: safetensors,
      contentType: "application/octet-stream",
      signed: true,
    });
    return (await res.json()) as AttestationReply;
  }

  /** The evaluator's JobFinished signature for TrainingPool.finishJob (JOB_NOT_FINISHED before). */
  finishProof(jobId: number): Promise<FinishProofReply> {
    return this.json("GET", `/api/job/${jobId}/finish-proof`);
  }

  /** The requester stops the job after the round in progress; the evaluator's JobAborted statement for TrainingPool.abortJob. */
  async abortProof(jobId: number): Promise<AbortProofReply> {
    return this.json("POST", `/api/job/${jobId}/abort`, {}, true);
  }

  /** A closed round's rewards, proofs and the evaluator's commitment (ROUND_NOT_CLOSED before). */
  roundRewards(jobId: number, round: number): Promise<RoundRewardsReply> {
    return this.json("GET", `/api/job/${jobId}/round/${round}/rewards`);
  }

  /** A closed round's input model, signed: only the requester and the round's contributors get it. */
  roundInputModel(jobId: number, round: number): Promise<Buffer> {
    return this.bytes(`/api/job/${jobId}/round/${round}/input`);
  }

  /** One accepted update of a closed round, signed: only the requester and the round's contributors get it. */
  roundUpdate(jobId: number, round: number, updateHash: string): Promise<Buffer> {
    return this.bytes(`/api/job/${jobId}/round/${round}/update/${encodeURIComponent(updateHash)}`);
  }

  private async bytes(path: string): Promise<Buffer> {
    const res = await this.request("GET", path, { signed: true });
    return Buffer.from(await res.arrayBuffer());
  }

  cluster(jobId: number): Promise<ClusterReply> {
    return this.json("GET", `/api/cluster/${jobId}`);
  }

  /** The SSH private key of a cluster's rentals and its size, for a draft (before escrow) or a job. */
  uploadClusterKey(target: ClusterTarget, body: ClusterKeyBody): Promise<ClusterSpecReply> {
    return this.json("PUT", `${clusterBase(target)}/cluster-key`, body, true);
  }

  /** The address to name in createInferenceJob, the price and the input limit. */
  inferenceInfo(): Promise<InferenceInfoReply> {
    return this.json("GET", "/api/infer");
  }

  /**
   * Run an escrowed inference job (signed by its requester): the predictions and the
   * orchestrator's usage statement for InferencePool.settle. A retry with the same input gets
   * the same answer.
   */
  async infer(call: InferenceCall): Promise<InferenceReply> {
    const res = await this.request("POST", `/api/infer/${call.inferenceJobId}?job=${call.jobId}&count=${call.count}`, {
      body: encodeInput(call.x),
      contentType: "application/octet-stream",
      signed: true,
    });
    return (await res.json()) as InferenceReply;
  }

  /**
   * Start an escrowed inference job on the requester's rentals (signed by the requester): the
   * orchestrator runs the parts on the machines with the rentals' SSH key. Answers at once with the
   * run; a retry with the same input gets the same run.
   */
  async startClusterInference(call: ClusterInferenceCall): Promise<ClusterRunReply> {
    const query = `job=${call.jobId}&count=${call.count}&rentals=${call.rentals.join(",")}${call.partRows ? `&partRows=${call.partRows}` : ""}`;
    const res = await this.request("POST", `/api/infer/${call.inferenceJobId}/cluster?${query}`, {
      body: encodeClusterBody(call.privateKey, call.x),
      contentType: "application/octet-stream",
      signed: true,
    });
    return (await res.json()) as ClusterRunReply;
  }

  /** A cluster inference run's progress, then its predictions and signed usage statement (signed by the requester). */
  clusterInference(inferenceJobId: number): Promise<ClusterRunReply> {
    return this.json("GET", `/api/infer/${inferenceJobId}/cluster`, undefined, true);
  }

  /** The usage statement of an inference job that ran (no predictions); anyone may settle with it. */
  inferenceUsage(inferenceJobId: number): Promise<UsageStatementReply> {
    return this.json("GET", `/api/infer/${inferenceJobId}/usage`);
  }

  /** The training data the cluster's machines share (after the cluster key). */
  async uploadTrainData(target: ClusterTarget, data: ValidationUpload): Promise<ClusterSpecReply> {
    const [body, contentType] =
      "csv" in data
        ? [typeof data.csv === "string" ? Buffer.from(data.csv, "utf8") : data.csv, "text/csv"]
        : [Buffer.concat([data.images, data.labels]), "application/octet-stream"];
    const res = await this.request("PUT", `${clusterBase(target)}/train-data`, { body, contentType, signed: true });
    return (await res.json()) as ClusterSpecReply;
  }
}

/** Inference calls, bound to one orchestrator client. */
export interface InferenceCall {
  inferenceJobId: number;
  /** The training job whose model answers. */
  jobId: number;
  /** count × features float32 values, row-major, scaled as the model was trained. */
  x: Float32Array;
  count: number;
}

/** A cluster inference run: the escrowed job, the rentals to run on and their SSH key. */
export interface ClusterInferenceCall extends InferenceCall {
  rentals: string[];
  /** The rentals' OpenSSH private key. */
  privateKey: string;
  /** Rows per part at most (the orchestrator's default 1000). */
  partRows?: number;
}

/** A cluster upload goes to a draft or to an active job. */
export type ClusterTarget = { draftId: string } | { jobId: number };

function clusterBase(t: ClusterTarget): string {
  return "draftId" in t ? `/api/job/draft/${encodeURIComponent(t.draftId)}` : `/api/job/${t.jobId}`;
}
