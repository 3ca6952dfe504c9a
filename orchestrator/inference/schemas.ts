/** Request and reply schemas of the inference routes; the client's types derive from them. */
import { schema, type FromSchema } from "../../protocol/schema.js";

const address = { type: "string", pattern: "^0x[0-9a-fA-F]{40}$" } as const;
const hash = { type: "string", pattern: "^0x[0-9a-f]{64}$" } as const;
const wei = { type: "string", pattern: "^[0-9]{1,78}$", description: "DUCK wei, decimal" } as const;

export const inferenceParams = schema({
  type: "object",
  required: ["inferenceJobId"],
  properties: { inferenceJobId: { type: "integer", minimum: 1, maximum: 9007199254740991, description: "InferencePool job id" } },
});

export const inferenceQuerySchema = schema({
  type: "object",
  required: ["job", "count"],
  additionalProperties: false,
  properties: {
    job: { type: "integer", minimum: 1, maximum: 9007199254740991, description: "training job whose model answers" },
    count: { type: "integer", minimum: 1, maximum: 10000000, description: "samples in the body" },
  },
});
export type InferenceQuery = FromSchema<typeof inferenceQuerySchema>;

export const usageStatementSchema = schema({
  type: "object",
  required: ["inferenceJobId", "usage", "signature", "orchestrator", "inferencePool", "chainId"],
  properties: {
    inferenceJobId: { type: "integer" },
    usage: {
      type: "object",
      required: ["jobId", "providers", "amounts"],
      properties: {
        jobId: { type: "integer" },
        providers: { type: "array", items: address },
        amounts: { type: "array", items: wei },
      },
    },
    signature: { type: "string", description: "the orchestrator's EIP-712 signature of Usage(jobId,providers,amounts), for InferencePool.settle" },
    orchestrator: { ...address, description: "the address that signs (the evaluator's), named in createInferenceJob" },
    inferencePool: address,
    chainId: { type: "integer" },
  },
});
export type UsageStatementReply = FromSchema<typeof usageStatementSchema>;

export const inferenceReplySchema = schema({
  type: "object",
  required: [...usageStatementSchema.required, "jobId", "modelHash", "requester", "count", "classes", "predictions", "computeMs", "fee", "maxPayment", "payout", "createdAt"],
  properties: {
    ...usageStatementSchema.properties,
    jobId: { type: "integer", description: "training job whose model answered" },
    modelHash: hash,
    requester: address,
    count: { type: "integer" },
    classes: { type: "integer" },
    predictions: {
      type: "array",
      items: {
        anyOf: [
          {
            type: "object",
            required: ["class", "probabilities"],
            properties: {
              class: { type: "integer", description: "the most probable class" },
              probabilities: { type: "array", items: { type: "number" }, description: "softmax output, one per class (float32 values)" },
            },
          },
          {
            type: "object",
            required: ["outputs"],
            properties: { outputs: { type: "array", items: { type: "number" }, description: "a regression model's outputs, one per target (float32 values)" } },
          },
        ],
      },
    },
    computeMs: { type: "integer", description: "compute time charged, in whole milliseconds" },
    fee: { ...wei, description: "what the statement pays the payout address" },
    maxPayment: wei,
    payout: address,
    createdAt: { type: "integer" },
  },
});
export type InferenceReply = FromSchema<typeof inferenceReplySchema>;

export const inferenceInfoSchema = schema({
  type: "object",
  required: ["orchestrator", "inferencePool", "chainId", "payout", "pricePerSecond", "minimumFee", "inputBytes"],
  properties: {
    orchestrator: { ...address, description: "the address to name in createInferenceJob (the evaluator's)" },
    inferencePool: { type: ["string", "null"], description: "the InferencePool this orchestrator reads; null when it reads none" },
    chainId: { type: "integer" },
    payout: { ...address, description: "who the usage statements pay" },
    pricePerSecond: { ...wei, description: "DUCK wei per second of compute" },
    minimumFee: { ...wei, description: "least fee of one job (capped at its escrow)" },
    inputBytes: { type: "integer", description: "largest input body" },
  },
});
export type InferenceInfoReply = FromSchema<typeof inferenceInfoSchema>;

export const clusterQuerySchema = schema({
  type: "object",
  required: ["job", "count", "rentals"],
  additionalProperties: false,
  properties: {
    ...inferenceQuerySchema.properties,
    rentals: { type: "string", pattern: "^[1-9][0-9]{0,30}(,[1-9][0-9]{0,30}){0,63}$", description: "the requester's active rentals to run on, comma-separated" },
    partRows: { type: "integer", minimum: 1, maximum: 10000000, default: 1000, description: "rows per part at most" },
  },
});
export type ClusterQuery = FromSchema<typeof clusterQuerySchema>;

const failure = { type: "object", required: ["code", "message"], properties: { code: { type: "string" }, message: { type: "string" } } } as const;

export const clusterRunSchema = schema({
  type: "object",
  required: ["inferenceJobId", "jobId", "requester", "state", "rowsDone", "rowsTotal", "parts", "startedAt", "finishedAt", "machines", "answered"],
  properties: {
    inferenceJobId: { type: "integer" },
    jobId: { type: "integer", description: "training job whose model answers" },
    requester: address,
    state: { type: "string", enum: ["running", "done", "failed"] },
    rowsDone: { type: "integer" },
    rowsTotal: { type: "integer" },
    parts: { type: "integer" },
    startedAt: { type: "integer" },
    finishedAt: { type: ["integer", "null"] },
    machines: {
      type: "array",
      items: {
        type: "object",
        required: ["rentalId", "provider", "state", "parts", "rows", "computeMs"],
        properties: {
          rentalId: { type: "string" },
          provider: address,
          state: { type: "string", enum: ["connecting", "serving", "failed"] },
          parts: { type: "integer" },
          rows: { type: "integer" },
          computeMs: { type: "integer" },
          error: failure,
          requeued: { type: ["integer", "null"], description: "the part it had in flight when it failed, handed to the others" },
        },
      },
    },
    answered: {
      type: "array",
      description: "parts accepted so far, in the order they were: each once, from the machine whose checked answer came first",
      items: {
        type: "object",
        required: ["part", "rentalId", "rows", "computeMs"],
        properties: { part: { type: "integer" }, rentalId: { type: "string" }, rows: { type: "integer" }, computeMs: { type: "integer" } },
      },
    },
    error: failure,
    result: {
      type: "object",
      required: ["count", "classes", "probabilities", "rentals", "missingRows", "statement"],
      properties: {
        count: { type: "integer" },
        classes: { type: "integer" },
        probabilities: { type: "string", description: "count × classes float32 LE, base64, in input order (empty when rows are missing)" },
        missingRows: { type: "integer" },
        rentals: {
          type: "array",
          items: {
            type: "object",
            required: ["rentalId", "provider", "pricePerHour", "parts", "rows", "computeMs", "amount"],
            properties: { rentalId: { type: "string" }, provider: address, pricePerHour: wei, parts: { type: "integer" }, rows: { type: "integer" }, computeMs: { type: "integer" }, amount: wei },
          },
        },
        statement: usageStatementSchema,
      },
    },
  },
});
export type ClusterRunReply = FromSchema<typeof clusterRunSchema>;
