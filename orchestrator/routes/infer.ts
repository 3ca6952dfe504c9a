/**
 * Paid inference. POST /api/infer/:inferenceJobId?job=J&count=N, signed by the requester, with
 * N samples as float32 little-endian bytes: the orchestrator checks the job on InferencePool,
 * runs job J's model and answers the predictions with its signed usage statement for
 * InferencePool.settle. GET /api/infer/:inferenceJobId/usage gives that statement alone (no
 * predictions), so the operator can settle a job whose requester did not. GET /api/infer: the
 * address to name on chain, the price and the input limit. POST and GET
 * /api/infer/:inferenceJobId/cluster: the same job run on the requester's rented machines
 * (inference/cluster.ts), started at once and followed by the requester.
 */
import type { FastifyInstance } from "fastify";
import { availableParallelism } from "node:os";
import { ZeroAddress, type ContractRunner, type Provider } from "ethers";
import { contractAt } from "../../protocol/chain/contracts.js";
import { ClusterInference } from "../inference/cluster.js";
import { decodeClusterBody } from "../inference/input.js";
import { keyFingerprint } from "../cluster/privateKey.js";
import { ApiError } from "../errors.js";
import { inferencePoolReader } from "../inference/chain.js";
import { resolveInference, type InferenceOptions } from "../inference/options.js";
import {
  clusterQuerySchema,
  clusterRunSchema,
  inferenceInfoSchema,
  inferenceParams,
  inferenceQuerySchema,
  inferenceReplySchema,
  usageStatementSchema,
  type ClusterQuery,
  type InferenceInfoReply,
  type InferenceQuery,
} from "../inference/schemas.js";
import { InferenceService } from "../inference/service.js";
import { inferencePoolDomain } from "../../protocol/chain/eip712.js";
import type { ChainConfig } from "../options.js";
import { bufferParser } from "../plugins/body.js";
import { Semaphore } from "../rounds/semaphore.js";
import { errorReplies } from "./schemas.js";

export interface InferRouteOptions {
  chain: ChainConfig;
  inference?: InferenceOptions;
  /** Connect to rented machines on loopback, private and link-local addresses (options.ts allowsPrivateEndpoints). */
  privateEndpoints: boolean;
}

/**
 * Inference, registered in its own scope (its octet-stream parser stays its own), over the
 * evaluator's wallet (it signs usage statements: the address requesters name as orchestrator)
 * and the chain plugin's provider (it reads InferencePool).
 */
export async function inferencePlugin(app: FastifyInstance, opts: InferRouteOptions): Promise<void> {
  const config = resolveInference(opts.inference, app.evaluator.address);
  const wallet = app.evaluatorWallet;
  const poolAddress = opts.chain.contracts?.InferencePool;
  const provider = app.chainProvider as unknown as { call?: unknown } | null;
  const runner = poolAddress && provider && typeof provider.call === "function" ? (provider as unknown as ContractRunner) : null;
  const service = new InferenceService({
    repo: app.repo,
    blobs: app.blobs,
    reader: runner && poolAddress ? inferencePoolReader(poolAddress, runner) : null,
    wallet,
    domain: inferencePoolDomain(opts.chain.chainId, poolAddress ?? ZeroAddress),
    chainId: opts.chain.chainId,
    config,
    slots: new Semaphore(availableParallelism()),
    now: app.now,
  });
  const marketAddress = opts.chain.contracts?.ComputeMarketplace;
  const clusters = new ClusterInference({
    repo: app.repo,
    blobs: app.blobs,
    inference: service,
    marketplace: () => (marketAddress && runner ? contractAt("ComputeMarketplace", marketAddress, runner) : null),
    chainNow: async () => (await (runner as unknown as Provider).getBlock("latest"))!.timestamp,
    wallet,
    domain: inferencePoolDomain(opts.chain.chainId, poolAddress ?? ZeroAddress),
    config,
    now: app.now,
    partTimeoutMs: opts.inference?.clusterPartTimeoutMs,
    privateEndpoints: opts.privateEndpoints,
    log: app.log,
  });
  // The cluster body carries the rentals' SSH key before the samples.
  bufferParser(app, "application/octet-stream", config.inputBytes + 64 * 1024);
  const tags = ["inference"];

  app.get(
    "/api/infer",
    { schema: { tags, summary: "Where and at what price this orchestrator runs inference", response: { 200: inferenceInfoSchema, ...errorReplies } } },
    async (): Promise<InferenceInfoReply> => ({
      orchestrator: wallet.address,
      inferencePool: poolAddress ?? null,
      chainId: opts.chain.chainId,
      payout: config.payout,
      pricePerSecond: config.pricePerSecond.toString(),
      minimumFee: config.minimumFee.toString(),
      inputBytes: config.inputBytes,
    }),
  );

  app.post<{ Params: { inferenceJobId: number }; Querystring: InferenceQuery; Body: Buffer }>(
    "/api/infer/:inferenceJobId",
    {
      ...app.signed,
      bodyLimit: config.inputBytes,
      schema: {
        tags,
        summary: "Run a training job's model on the input of an escrowed inference job (float32 LE samples, application/octet-stream; signed by the requester)",
        params: inferenceParams,
        querystring: inferenceQuerySchema,
        response: { 200: inferenceReplySchema, ...errorReplies },
      },
    },
    async (request) => {
      if (!Buffer.isBuffer(request.body) || request.body.length === 0) {
        throw new ApiError("BODY_EMPTY", "Send the samples as float32 little-endian bytes (content-type application/octet-stream).");
      }
      const record = await service.run({
        inferenceJobId: request.params.inferenceJobId,
        modelJobId: request.query.job,
        caller: request.caller!.address,
        count: request.query.count,
        body: request.body,
        bodySha256: request.bodySha256!,
      });
      return await service.reply(record);
    },
  );

  app.post<{ Params: { inferenceJobId: number }; Querystring: ClusterQuery; Body: Buffer }>(
    "/api/infer/:inferenceJobId/cluster",
    {
      ...app.signed,
      bodyLimit: config.inputBytes + 64 * 1024,
      schema: {
        tags,
        summary:
          "Run an escrowed inference job on the requester's rented machines (body: SSH key length uint32 LE, the rentals' OpenSSH private key, then float32 LE samples; signed by the requester). Answers at once; GET the same path for progress, predictions and the signed usage statement",
        params: inferenceParams,
        querystring: clusterQuerySchema,
        response: { 202: clusterRunSchema, ...errorReplies },
      },
    },
    async (request, reply) => {
      const { privateKey, samples } = decodeClusterBody(Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0));
      if (privateKey !== "") keyFingerprint(privateKey);
      const run = await clusters.start({
        inferenceJobId: request.params.inferenceJobId,
        modelJobId: request.query.job,
        caller: request.caller!.address,
        count: request.query.count,
        body: samples,
        bodySha256: request.bodySha256!,
        rentals: request.query.rentals.split(","),
        privateKey,
        partRows: request.query.partRows ?? 1000,
      });
      return reply.code(202).send(run);
    },
  );

  app.get<{ Params: { inferenceJobId: number } }>(
    "/api/infer/:inferenceJobId/cluster",
    {
      ...app.signed,
      schema: {
        tags,
        summary: "A cluster inference run: progress per machine, then the predictions and the signed usage statement (signed by the requester)",
        params: inferenceParams,
        response: { 200: clusterRunSchema, ...errorReplies },
      },
    },
    async (request) => clusters.get(request.params.inferenceJobId, request.caller!.address),
  );

  app.get<{ Params: { inferenceJobId: number } }>(
    "/api/infer/:inferenceJobId/usage",
    {
      schema: {
        tags,
        summary: "The signed usage statement of an inference job that ran here (for InferencePool.settle; no predictions)",
        params: inferenceParams,
        response: { 200: usageStatementSchema, ...errorReplies },
      },
    },
    async (request) => {
      const record = await app.repo.getInference(request.params.inferenceJobId);
      if (!record) throw new ApiError("INFERENCE_JOB_NOT_FOUND", `Inference job ${request.params.inferenceJobId} has not run on this orchestrator.`);
      return service.statement(record);
    },
  );
}
