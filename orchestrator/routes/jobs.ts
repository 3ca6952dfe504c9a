/** Reading jobs: list, status with round history, the current global model, the finish proof. */
import type { FastifyInstance } from "fastify";
import { ApiError } from "../errors.js";
import type { JobRecord } from "../store/repository.js";
import { rewardTree } from "../../protocol/rewards.js";
import {
  errorReplies,
  finishProofSchema,
  jobDetailSchema,
  jobIdParams,
  jobListSchema,
  roundParams,
  roundRewardsSchema,
  type FinishProofReply,
  type JobDetail,
  type RoundRewardsReply,
} from "./schemas.js";
import { jobView, roundView } from "./views.js";
import { jobProgress } from "./progress.js";

type JobParams = { Params: { jobId: number } };

export async function requireJob(app: FastifyInstance, jobId: number): Promise<JobRecord> {
  const job = await app.repo.getJob(jobId);
  if (!job) throw new ApiError("JOB_NOT_FOUND", `No job ${jobId} on this orchestrator (it activates once TrainingJobCreated for an uploaded model is seen on chain).`);
  return job;
}

export async function jobRoutes(app: FastifyInstance): Promise<void> {
  const tags = ["jobs"];

  app.get("/api/jobs", { schema: { tags, summary: "All jobs", response: { 200: jobListSchema, ...errorReplies } } }, async () => {
    const jobs = await app.repo.listJobs();
    return { jobs: await Promise.all(jobs.map(async (j) => ({ ...jobView(j, await app.repo.countUpdates(j.jobId)), progress: await jobProgress(app.repo, j, app.now()) }))) };
  });

  app.get<JobParams>(
    "/api/job/:jobId",
    { schema: { tags, summary: "A job's status and per-round history", params: jobIdParams, response: { 200: jobDetailSchema, ...errorReplies } } },
    async (request): Promise<JobDetail> => {
      const job = await requireJob(app, request.params.jobId);
      const [counts, rounds, progress] = await Promise.all([app.repo.countUpdates(job.jobId), app.repo.listRounds(job.jobId), jobProgress(app.repo, job, app.now())]);
      return { ...jobView(job, counts), progress, history: rounds.map(roundView) };
    },
  );

  app.get<JobParams>(
    "/api/job/:jobId/model",
    {
      schema: {
        tags,
        summary: "The current global model (safetensors); ETag = model hash, If-None-Match → 304",
        params: jobIdParams,
        response: errorReplies,
      },
    },
    async (request, reply) => {
      const job = await requireJob(app, request.params.jobId);
      const etag = `"${job.modelHash}"`;
      void reply
        .header("etag", etag)
        .header("x-quackmesh-round", String(job.status === "finished" ? job.settings.rounds : job.currentRound))
        .header("x-quackmesh-model-hash", job.modelHash)
        .header("x-quackmesh-job-status", job.status)
        .header("cache-control", "no-cache");
      const match = request.headers["if-none-match"];
      if (match && match.split(",").some((m) => m.trim().replace(/^W\//, "") === etag)) return reply.code(304).send();
      return reply.type("application/octet-stream").send(await app.blobs.get(job.modelHash));
    },
  );

  app.get<JobParams>(
    "/api/job/:jobId/finish-proof",
    {
      schema: {
        tags,
        summary: "The evaluator's EIP-712 signature of JobFinished(jobId), once the last round closed",
        params: jobIdParams,
        response: { 200: finishProofSchema, ...errorReplies },
      },
    },
    async (request): Promise<FinishProofReply> => {
      const job = await requireJob(app, request.params.jobId);
      if (job.status !== "finished") {
        throw new ApiError("JOB_NOT_FINISHED", `Job ${job.jobId} is in round ${job.currentRound} of ${job.settings.rounds}; the proof exists once the last round closed.`, {
          currentRound: job.currentRound,
          rounds: job.settings.rounds,
        });
      }
      return {
        jobId: job.jobId,
        signature: app.evaluator.finishProof(job.jobId),
        evaluator: app.evaluator.address,
        trainingPool: app.evaluator.trainingPool,
        chainId: app.evaluator.chainId,
        modelHash: job.modelHash,
      };
    },
  );

  app.get<{ Params: { jobId: number; round: number } }>(
    "/api/job/:jobId/round/:round/rewards",
    {
      schema: {
        tags,
        summary: "A closed round's rewards: each accepted update's contribution and amount, the Merkle proofs, and the evaluator's RoundCommitment signature",
        params: roundParams,
        response: { 200: roundRewardsSchema, ...errorReplies },
      },
    },
    async (request): Promise<RoundRewardsReply> => {
      const job = await requireJob(app, request.params.jobId);
      const round = await app.repo.getRound(job.jobId, request.params.round);
      if (!round || round.status !== "closed" || !round.rewards || !round.modelHash) {
        throw new ApiError("ROUND_NOT_CLOSED", `Round ${request.params.round} of job ${job.jobId} has not closed yet; its rewards exist once it closed.`, {
          currentRound: job.currentRound,
        });
      }
      const r = round.rewards;
      const tree = rewardTree(job.jobId, round.round, r.updates.map((u) => ({ contributor: u.contributor, amount: BigInt(u.amount) })));
      return {
        jobId: job.jobId,
        round: round.round,
        modelHash: round.modelHash,
        rewardsRoot: r.rewardsRoot,
        updatesRoot: r.updatesRoot,
        total: r.total,
        budget: r.budget,
        signature: r.signature,
        evaluator: app.evaluator.address,
        trainingPool: app.evaluator.trainingPool,
        chainId: app.evaluator.chainId,
        baseLoss: r.baseLoss,
        updates: r.updates.map((u) => {
          const leaf = tree.leaves.get(u.contributor.toLowerCase());
          return { ...u, leaf: leaf?.index ?? null, proof: leaf?.proof ?? [] };
        }),
      };
    },
  );
}
