/**
 * Request and reply schemas of the API, written once; the TypeScript types routes and the
 * client use are derived from them.
 */
import { trainSettingsPatchSchema } from "../../protocol/train.js";
import { modelSpecSchema } from "../../protocol/spec.js";
import { schema, type FromSchema } from "../../protocol/schema.js";
import { jobTrainSchema, settingsSchema, strategySchema } from "../../protocol/settings.js";
import { progressSchema } from "./progress.js";

const address = { type: "string", pattern: "^0x[0-9a-fA-F]{40}$" } as const;
const hash = { type: "string", pattern: "^0x[0-9a-f]{64}$" } as const;
const nullableHash = { type: ["string", "null"] } as const;

export const createJobBodySchema = schema({
  type: "object",
  required: ["spec"],
  additionalProperties: false,
  properties: {
    spec: modelSpecSchema,
    settings: settingsSchema,
    seed: { type: "integer", minimum: 0, maximum: 4294967295, description: "random initial weights from this seed; omit to upload weights" },
  },
});
export type CreateJobBody = FromSchema<typeof createJobBodySchema>;

const resolvedSettingsSchema = schema({
  type: "object",
  required: ["rounds", "minUpdates", "minUpdatesAtDeadline", "roundDeadlineSeconds", "strategy", "thresholdBps", "normBound", "maxUpdateNorm"],
  properties: {
    rounds: { type: "integer" },
    minUpdates: { type: "integer" },
    minUpdatesAtDeadline: { type: "integer" },
    roundDeadlineSeconds: { type: "integer" },
    strategy: strategySchema,
    thresholdBps: { type: "integer" },
    normBound: { type: ["number", "null"] },
    maxUpdateNorm: { type: ["number", "null"] },
    train: { ...jobTrainSchema, description: "the local training the job asks for (optimizer, FedProx μ); absent fields: each trainer's own" },
  },
});

export const draftReplySchema = schema({
  type: "object",
  required: ["draftId", "uploader", "status", "modelHash", "validationHash", "validationSamples", "jobId", "evaluator", "settings", "uploads"],
  properties: {
    draftId: { type: "string" },
    uploader: address,
    status: { type: "string", enum: ["awaiting-weights", "awaiting-validation", "ready", "active"] },
    modelHash: { ...nullableHash, description: "sha256 of the initial weights: the bytes32 to pass to createTrainingJob" },
    validationHash: nullableHash,
    validationSamples: { type: ["integer", "null"] },
    jobId: { type: ["integer", "null"] },
    evaluator: { ...address, description: "the evaluator address to name in createTrainingJob" },
    settings: resolvedSettingsSchema,
    uploads: {
      type: "object",
      required: ["weights", "validation"],
      properties: { weights: { type: "string" }, validation: { type: "string" } },
    },
  },
});
export type DraftReply = FromSchema<typeof draftReplySchema>;

export const roundSchema = schema({
  type: "object",
  required: ["round", "status", "openedAt", "deadlineAt", "extensions", "inputModelHash", "closedAt", "modelHash", "accuracy", "loss", "contributors", "updateHashes"],
  properties: {
    round: { type: "integer" },
    status: { type: "string", enum: ["open", "closing", "closed"] },
    openedAt: { type: "integer" },
    deadlineAt: { type: "integer" },
    extensions: { type: "integer" },
    inputModelHash: hash,
    closedAt: { type: ["integer", "null"] },
    modelHash: nullableHash,
    accuracy: { type: ["number", "null"] },
    loss: { type: ["number", "null"] },
    contributors: { type: "array", items: { type: "string" } },
    updateHashes: { type: "array", items: { type: "string" } },
  },
});
export type RoundView = FromSchema<typeof roundSchema>;

export const jobSchema = schema({
  type: "object",
  required: ["jobId", "status", "requester", "evaluator", "currentRound", "rounds", "modelHash", "initialModelHash", "spec", "settings", "updates", "createdAt", "finishedAt", "chain"],
  properties: {
    jobId: { type: "integer" },
    status: { type: "string", enum: ["active", "finished"] },
    requester: address,
    evaluator: address,
    currentRound: { type: "integer" },
    rounds: { type: "integer" },
    modelHash: { ...hash, description: "the global model the open round trains from (the final model once finished)" },
    initialModelHash: hash,
    spec: { ...modelSpecSchema, description: "the model contributors train (with its input standardization, which the weights do not carry)" },
    settings: resolvedSettingsSchema,
    updates: {
      type: "object",
      required: ["accepted", "rejected"],
      properties: { accepted: { type: "integer" }, rejected: { type: "integer" } },
    },
    createdAt: { type: "integer" },
    finishedAt: { type: ["integer", "null"] },
    progress: progressSchema,
    chain: {
      type: "object",
      required: ["txHash", "blockNumber", "totalRewardPool", "roundBudget", "maxPerContributor", "flatPerUpdate", "deadline", "claimWindow"],
      properties: {
        txHash: { type: "string" },
        blockNumber: { type: "integer" },
        totalRewardPool: { type: "string" },
        roundBudget: { type: "string", description: "DUCK wei a round may commit" },
        maxPerContributor: { type: "string", description: "DUCK wei one contributor may claim per round" },
        flatPerUpdate: { type: "string", description: "DUCK wei paid per accepted update at submitUpdate" },
        claimWindow: { type: "integer", description: "seconds after the last commitment before anyone may finish the job" },
        deadline: { type: "integer" },
      },
    },
  },
});
export type JobSummary = FromSchema<typeof jobSchema>;

export const jobDetailSchema = schema({
  type: "object",
  required: [...jobSchema.required, "history"],
  properties: { ...jobSchema.properties, history: { type: "array", items: roundSchema } },
});
export type JobDetail = FromSchema<typeof jobDetailSchema>;

export const jobListSchema = schema({
  type: "object",
  required: ["jobs"],
  properties: { jobs: { type: "array", items: jobSchema } },
});

export const attestationSchema = schema({
  type: "object",
  required: ["jobId", "round", "contributor", "updateHash", "accuracyBps", "numSamples", "signature", "evaluator", "trainingPool", "chainId", "loss"],
  properties: {
    jobId: { type: "integer" },
    round: { type: "integer" },
    contributor: address,
    updateHash: hash,
    accuracyBps: { type: "integer" },
    numSamples: { type: "integer" },
    signature: { type: "string", description: "evaluator's EIP-712 signature of Attestation(jobId,round,contributor,updateHash,accuracyBps,numSamples); empty for a cluster's workers, who are paid by rent" },
    evaluator: address,
    trainingPool: address,
    chainId: { type: "integer" },
    loss: { type: "number" },
  },
});
export type AttestationReply = FromSchema<typeof attestationSchema>;

export const updateQuerySchema = schema({
  type: "object",
  required: ["round", "numSamples"],
  additionalProperties: false,
  properties: {
    round: { type: "integer", minimum: 0, maximum: 4294967295 },
    numSamples: { type: "integer", minimum: 1, maximum: 9007199254740991 },
  },
});

export const finishProofSchema = schema({
  type: "object",
  required: ["jobId", "signature", "evaluator", "trainingPool", "chainId", "modelHash"],
  properties: {
    jobId: { type: "integer" },
    signature: { type: "string", description: "evaluator's EIP-712 signature of JobFinished(jobId)" },
    evaluator: address,
    trainingPool: address,
    chainId: { type: "integer" },
    modelHash: hash,
  },
});
export type FinishProofReply = FromSchema<typeof finishProofSchema>;

export const roundParams = schema({
  type: "object",
  required: ["jobId", "round"],
  properties: { jobId: { type: "integer", minimum: 1 }, round: { type: "integer", minimum: 0, maximum: 100000 } },
});

export const roundUpdateParams = schema({
  type: "object",
  required: ["jobId", "round", "updateHash"],
  properties: { ...roundParams.properties, updateHash: hash },
});

export const roundRewardsSchema = schema({
  type: "object",
  required: ["jobId", "round", "modelHash", "rewardsRoot", "updatesRoot", "total", "budget", "signature", "evaluator", "trainingPool", "chainId", "baseLoss", "updates"],
  properties: {
    jobId: { type: "integer" },
    round: { type: "integer" },
    modelHash: { ...hash, description: "the model the round produced" },
    rewardsRoot: { ...hash, description: "Merkle root of (jobId, round, leaf index, contributor, amount), OpenZeppelin StandardMerkleTree" },
    updatesRoot: { ...hash, description: "Merkle root of (updateHash, weight, counted)" },
    total: { type: "string", description: "DUCK wei committed: the sum of the amounts" },
    budget: { type: "string", description: "DUCK wei the split used: min(roundBudget, the pool surely free)" },
    signature: { type: "string", description: "evaluator's EIP-712 RoundCommitment signature, for TrainingPool.commitRound" },
    evaluator: address,
    trainingPool: address,
    chainId: { type: "integer" },
    baseLoss: { type: "number", description: "validation loss of the model the round started from" },
    updates: {
      type: "array",
      items: {
        type: "object",
        required: ["contributor", "updateHash", "claimedSamples", "weight", "deltaNorm", "score", "gain", "excluded", "amount", "leaf", "proof"],
        properties: {
          contributor: address,
          updateHash: hash,
          claimedSamples: { type: "integer" },
          weight: { type: "number", description: "weight in the aggregation (claims capped at the round's lower median)" },
          deltaNorm: { type: "number", description: "L2 distance to the round's input model" },
          score: { type: "number", description: "leave-one-out gain in validation loss (what is paid)" },
          gain: { type: "number", description: "its own gain in validation loss over the round's input model" },
          excluded: { type: ["string", "null"], description: "why it is left out of the model (NORM_OUTLIER, LEARNED_NOTHING, HARMFUL, NO_CONTRIBUTION), null when counted" },
          amount: { type: "string", description: "DUCK wei owed" },
          leaf: { type: ["integer", "null"], description: "the leaf's index, for TrainingPool.claim (null when nothing is owed)" },
          proof: { type: "array", items: { type: "string" }, description: "Merkle proof for TrainingPool.claim (empty when nothing is owed)" },
        },
      },
    },
  },
});
export type RoundRewardsReply = FromSchema<typeof roundRewardsSchema>;

export const clusterTrainSchema = trainSettingsPatchSchema;

export const clusterKeyBodySchema = schema({
  type: "object",
  required: ["privateKey", "machines"],
  additionalProperties: false,
  properties: {
    privateKey: { type: "string", minLength: 1, maxLength: 16384, description: "unencrypted OpenSSH private key whose public key the rentals name" },
    machines: { type: "integer", minimum: 1, maximum: 1000, description: "machines the cluster is rented with: the training data is split in this many shards" },
    train: clusterTrainSchema,
  },
});
export type ClusterKeyBody = FromSchema<typeof clusterKeyBodySchema>;

const clusterSpecView = {
  type: ["object", "null"],
  required: ["draftId", "machines", "keyFingerprint", "trainSamples", "train"],
  properties: {
    draftId: { type: "string" },
    machines: { type: "integer" },
    keyFingerprint: { type: ["string", "null"] },
    trainSamples: { type: ["integer", "null"] },
    train: {
      type: "object",
      required: ["epochs", "batchSize", "lr", "momentum"],
      properties: { epochs: { type: "integer" }, batchSize: { type: "integer" }, lr: { type: "number" }, momentum: { type: "number" } },
    },
  },
} as const;

export const clusterSpecReplySchema = schema({ ...clusterSpecView, type: "object" });
export type ClusterSpecReply = FromSchema<typeof clusterSpecReplySchema>;

export const clusterSchema = schema({
  type: "object",
  required: ["jobId", "machines"],
  properties: {
    jobId: { type: "integer" },
    orchestratorVersion: { type: "string" },
    cluster: { ...clusterSpecView, description: "what the requester uploaded; null for a job without a cluster" },
    machines: {
      type: "array",
      items: {
        type: "object",
        required: ["machineId", "rentalId", "provider", "host", "port", "status", "updatedAt"],
        properties: {
          machineId: { type: "integer" },
          rentalId: { type: ["integer", "null"] },
          provider: { type: "string" },
          host: { type: "string" },
          port: { type: "integer" },
          status: { type: "string", description: "pending | acknowledged | connecting | ready | running | done | failed | ended" },
          updatedAt: { type: "integer" },
          lastHeartbeat: { type: ["integer", "null"], description: "epoch ms of the worker's last line" },
          workerAddress: { type: ["string", "null"] },
          workerVersion: { type: ["string", "null"] },
          versionMatches: { type: ["boolean", "null"], description: "the worker's version equals the orchestrator's" },
          shard: { type: ["integer", "null"] },
          error: { type: ["string", "null"] },
        },
      },
    },
  },
});
export type ClusterReply = FromSchema<typeof clusterSchema>;

export const infoSchema = schema({
  type: "object",
  required: ["name", "version", "evaluator", "chainId", "contracts", "limits", "signing"],
  properties: {
    name: { type: "string" },
    version: { type: "string" },
    evaluator: address,
    chainId: { type: "integer" },
    contracts: { type: "object", additionalProperties: { type: "string" } },
    limits: {
      type: "object",
      required: ["uploadBytes", "jsonBytes", "maxSkewMs", "modelParameters", "activationBytes", "datasetBytes", "draftsPerAddress", "storedBytesPerAddress", "rate"],
      properties: {
        uploadBytes: { type: "integer" },
        jsonBytes: { type: "integer" },
        maxSkewMs: { type: "integer" },
        modelParameters: { type: "integer", description: "most trainable parameters of a job's model" },
        activationBytes: { type: "integer", description: "most bytes of activations per evaluation block of 256 samples" },
        datasetBytes: { type: "integer", description: "most bytes of a validation set or training data, as sent and unpacked" },
        draftsPerAddress: { type: "integer", description: "most drafts unbound to a job one address may hold (created in the last 24 h)" },
        storedBytesPerAddress: { type: "integer", description: "most bytes one address's unbound drafts may hold (last 24 h)" },
        rate: {
          type: "object",
          required: ["capacity", "refillPerSecond"],
          properties: { capacity: { type: "number" }, refillPerSecond: { type: "number" } },
          description: "signed requests per address: a burst of capacity, refilled per second",
        },
      },
    },
    signing: {
      type: "object",
      required: ["scheme", "headers"],
      properties: { scheme: { type: "string" }, headers: { type: "array", items: { type: "string" } } },
    },
  },
});
export type InfoReply = FromSchema<typeof infoSchema>;

export const jobIdParams = schema({
  type: "object",
  required: ["jobId"],
  properties: { jobId: { type: "integer", minimum: 1 } },
});

export const draftIdParams = schema({
  type: "object",
  required: ["id"],
  properties: { id: { type: "string", pattern: "^[0-9a-f]{32}$" } },
});

/** Error replies every route may give. */
export const errorReplies = {
  "4xx": { $ref: "ErrorReply#" },
  "5xx": { $ref: "ErrorReply#" },
} as const;
