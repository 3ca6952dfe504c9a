/**
 * POST /api/job/:jobId/abort, signed by the job's requester: the job ends after the round in
 * progress (dropped at once when it holds no accepted update), and the answer carries the
 * evaluator's JobAborted(jobId, rounds) statement for TrainingPool.abortJob. The store records
 * the end before anything is signed, so no round from `rounds` on is ever closed or committed.
 * Asking again answers the same statement.
 */
import type { FastifyInstance } from "fastify";
import { ApiError } from "../errors.js";
import { schema, type FromSchema } from "../../protocol/schema.js";
import { requireJob } from "./jobs.js";
import { errorReplies, jobIdParams } from "./schemas.js";

export const abortProofSchema = schema({
  type: "object",
  required: ["jobId", "rounds", "status", "signature", "evaluator", "trainingPool", "chainId"],
  properties: {
    jobId: { type: "integer" },
    rounds: { type: "integer", description: "the job ends after this many rounds (rounds 0 to rounds - 1)" },
    status: { type: "string", enum: ["active", "finished"], description: "active while the last kept round is still open" },
    signature: { type: "string", description: "evaluator's EIP-712 signature of JobAborted(jobId, rounds)" },
    evaluator: { type: "string" },
    trainingPool: { type: "string" },
    chainId: { type: "integer" },
  },
});
export type AbortProofReply = FromSchema<typeof abortProofSchema>;

export async function abortRoutes(app: FastifyInstance): Promise<void> {
  app.post<{ Params: { jobId: number } }>(
    "/api/job/:jobId/abort",
    {
      ...app.signed,
      schema: {
        tags: ["jobs"],
        summary: "The requester stops a job after the round in progress; answers the evaluator's JobAborted statement",
        params: jobIdParams,
        response: { 200: abortProofSchema, ...errorReplies },
      },
    },
    async (request): Promise<AbortProofReply> => {
      const job = await requireJob(app, request.params.jobId);
      const caller = request.caller!.address;
      if (caller.toLowerCase() !== job.requester.toLowerCase()) {
        throw new ApiError("NOT_REQUESTER", `Only job ${job.jobId}'s requester ${job.requester} may abort it; this request is signed by ${caller}.`);
      }
      const ended = (await app.engine.endEarly(job.jobId, true)) ?? job;
      const rounds = ended.settings.rounds;
      return {
        jobId: job.jobId,
        rounds,
        status: ended.status,
        signature: app.evaluator.abortProof(job.jobId, rounds),
        evaluator: app.evaluator.address,
        trainingPool: app.evaluator.trainingPool,
        chainId: app.evaluator.chainId,
      };
    },
  );
}
