/**
 * Every error the API answers, in one table: code → HTTP status and a default message. The codes
 * are members of the product's one table (protocol/errors.ts ERROR_CODES); this table adds what
 * only the API has. Routes throw `new ApiError(code, message?, details?)`; the handler in app.ts
 * turns anything else into the closest code here, and 5xx answers never carry internals.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";
import { QuackError, type ErrorCode } from "../protocol/errors.js";
import { schema, type FromSchema } from "../protocol/schema.js";

export const ERRORS = {
  // request shape
  VALIDATION_FAILED: { status: 400, message: "The request does not match the expected schema." },
  BAD_JSON: { status: 400, message: "The body is not valid JSON." },
  JSON_TOO_DEEP: { status: 400, message: "The JSON body is nested too deeply." },
  BAD_QUERY: { status: 400, message: "A query parameter is missing or invalid." },
  BODY_TOO_LARGE: { status: 413, message: "The body is larger than this endpoint accepts." },
  BODY_EMPTY: { status: 400, message: "The body is empty." },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: "This content type is not accepted here." },
  NOT_FOUND: { status: 404, message: "No such route." },
  METHOD_NOT_ALLOWED: { status: 405, message: "This method is not allowed here." },
  // identity
  SIGNATURE_MISSING: { status: 401, message: "This request must be signed (x-quackmesh-address, -timestamp, -signature)." },
  SIGNATURE_INVALID: { status: 401, message: "The signature does not match the address and the request." },
  SIGNATURE_STALE: { status: 401, message: "The request timestamp is too far from the server's clock." },
  SIGNATURE_REPLAYED: { status: 401, message: "This signed request was already used." },
  RATE_LIMITED: { status: 429, message: "Too many requests from this address; slow down." },
  DRAFT_QUOTA_EXCEEDED: { status: 429, message: "This address holds as many unbound drafts as the orchestrator keeps per address." },
  STORAGE_QUOTA_EXCEEDED: { status: 429, message: "This address's unbound drafts hold as many bytes as the orchestrator keeps per address." },
  DRAFT_UPLOADED: { status: 409, message: "This draft already holds a different file of this kind; create a new draft to change it." },
  NOT_UPLOADER: { status: 403, message: "Only the address that created the draft may change it." },
  // jobs and drafts
  INVALID_MODEL_SPEC: { status: 400, message: "The model spec is not valid." },
  INVALID_SETTINGS: { status: 400, message: "The job settings are not valid." },
  INVALID_WEIGHTS: { status: 422, message: "The initial weights do not fit the model spec." },
  INVALID_DATASET: { status: 422, message: "The validation set could not be read." },
  DRAFT_NOT_FOUND: { status: 404, message: "No draft job with this id." },
  DRAFT_LOCKED: { status: 409, message: "This draft is already bound to an on-chain job and cannot change." },
  JOB_NOT_FOUND: { status: 404, message: "No job with this id." },
  JOB_NOT_ACTIVE: { status: 409, message: "This job is not accepting updates." },
  ROUND_NOT_CLOSED: { status: 409, message: "This round has not closed yet." },
  JOB_NOT_FINISHED: { status: 409, message: "The job has not finished its last round yet." },
  // updates
  ROUND_CLOSED: { status: 409, message: "This round is closed; fetch the current model and train for the open round." },
  ROUND_NOT_OPEN: { status: 409, message: "This round has not opened yet." },
  NOT_ROUND_PARTICIPANT: { status: 403, message: "Only the job's requester and the round's contributors may download a round's files." },
  DUPLICATE_UPDATE: { status: 409, message: "This address already sent an update for this round." },
  MALFORMED_SAFETENSORS: { status: 400, message: "The body is not a valid safetensors file." },
  SHAPE_MISMATCH: { status: 422, message: "The update's tensors do not match the global model's names and shapes." },
  NON_FINITE: { status: 422, message: "The update holds NaN or infinite values." },
  NORM_BOUND_EXCEEDED: { status: 422, message: "The update moves too far from the global model." },
  IDENTICAL_TO_GLOBAL: { status: 422, message: "The update equals the global model; train before sending." },
  BELOW_THRESHOLD: { status: 422, message: "The update's accuracy on the validation set is below the job's threshold." },
  // clusters
  NOT_REQUESTER: { status: 403, message: "Only the job's requester may do this." },
  INVALID_SSH_KEY: { status: 400, message: "The SSH private key cannot be used." },
  NOT_CLUSTER_WORKER: { status: 403, message: "This job is trained by its rented cluster; only its workers may send updates." },
  NOT_ARBITER: { status: 403, message: "This orchestrator is not the rental's arbiter." },
  RENTAL_NOT_OVER: { status: 409, message: "The rental is still running; ask again once it is over." },
  NO_MARKETPLACE: { status: 503, message: "This orchestrator watches no ComputeMarketplace." },
  BAD_LIVENESS: { status: 400, message: "The liveness record is malformed or not signed by the machine's provider." },
  UNKNOWN_RENTAL: { status: 404, message: "No rental with this id." },
  RENTAL_NOT_USABLE: { status: 409, message: "A rental is not the caller's, not active, or its machine has no usable listing." },
  // inference
  INFERENCE_JOB_NOT_FOUND: { status: 404, message: "InferencePool has no inference job with this id." },
  INFERENCE_SETTLED: { status: 409, message: "This inference job is already settled or reclaimed on chain." },
  WRONG_ORCHESTRATOR: { status: 409, message: "This inference job names another orchestrator." },
  MODEL_MISMATCH: { status: 409, message: "The inference job's model is not a model of this training job." },
  INVALID_INPUT: { status: 422, message: "The input does not fit the model." },
  INPUT_MISMATCH: { status: 409, message: "This inference job already ran, on other input or another job's model." },
  // chain
  CHAIN_RESET: { status: 409, message: "The chain under this orchestrator is not the one its store was made for; it takes no writes." },
  // server
  INTERNAL: { status: 500, message: "The orchestrator failed to handle this request." },
  UNAVAILABLE: { status: 503, message: "The orchestrator is not ready to serve this request." },
} as const satisfies Partial<Record<ErrorCode, { status: number; message: string }>>;

/** The codes the API answers: a part of the product's ErrorCode union. */
export type ApiErrorCode = keyof typeof ERRORS;

/** Reply body of every error. */
export const errorReplySchema = schema({
  $id: "ErrorReply",
  type: "object",
  required: ["error", "message"],
  properties: {
    error: { type: "string", description: "stable code from the error table" },
    message: { type: "string" },
    details: { type: "object", additionalProperties: true },
  },
});
export type ErrorReply = FromSchema<typeof errorReplySchema>;

export class ApiError extends QuackError {
  declare readonly code: ApiErrorCode;
  readonly status: number;
  /** Extra reply headers (e.g. retry-after). */
  readonly headers?: Record<string, string>;

  constructor(code: ApiErrorCode, message?: string, details?: Record<string, unknown>, headers?: Record<string, string>) {
    super(code, message ?? ERRORS[code].message, { details });
    this.name = "ApiError";
    this.status = ERRORS[code].status;
    this.headers = headers;
  }
}

export function isApiError(e: unknown): e is ApiError {
  return e instanceof ApiError;
}

/** Fastify's own error codes, mapped onto the table. */
const FASTIFY_CODES: Record<string, ApiErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: "BODY_TOO_LARGE",
  FST_ERR_CTP_INVALID_MEDIA_TYPE: "UNSUPPORTED_MEDIA_TYPE",
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: "VALIDATION_FAILED",
  FST_ERR_CTP_EMPTY_JSON_BODY: "BODY_EMPTY",
  FST_ERR_CTP_INVALID_JSON_BODY: "BAD_JSON",
  FST_ERR_CTP_INSTANCE_ALREADY_STARTED: "INTERNAL",
};

/** Turn anything thrown in a route into an ApiError (a 500 for what we did not foresee). */
export function toApiError(err: unknown): ApiError {
  if (isApiError(err)) return err;
  const e = err as Partial<FastifyError> & { validation?: unknown; validationContext?: string };
  if (e && e.validation) {
    return new ApiError("VALIDATION_FAILED", `Invalid request: ${e.message ?? "schema mismatch"}.`, {
      context: e.validationContext,
    });
  }
  if (e && typeof e.code === "string" && e.code in FASTIFY_CODES) {
    const code = FASTIFY_CODES[e.code];
    return new ApiError(code, code === "INTERNAL" ? undefined : e.message);
  }
  if (e && e instanceof SyntaxError) return new ApiError("BAD_JSON", `The body is not valid JSON: ${e.message}`);
  return new ApiError("INTERNAL");
}

/** The one error handler: logs 5xx with their cause, answers the table's code and message. */
export function errorHandler(err: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const api = toApiError(err);
  if (api.status >= 500) request.log.error({ err }, "request failed");
  if (api.headers) void reply.headers(api.headers);
  const body: ErrorReply = { error: api.code, message: api.status >= 500 ? ERRORS[api.code].message : api.message };
  if (api.details && api.status < 500) body.details = api.details;
  return reply.code(api.status).type("application/json").send(body);
}
