/**
 * A closed round's files, for replaying it (`quackmesh job verify`): its input model and each
 * accepted update, as stored. Updates can leak their owners' training data, so only the job's
 * requester and the round's own contributors get them, by signed request; the public rewards
 * route (jobs.ts) publishes the weights, exclusions and scores that go with them.
 */
import type { FastifyInstance, FastifyReply } from "fastify";
import { ApiError } from "../errors.js";
import type { JobRecord, RoundRecord } from "../store/repository.js";
import { requireJob } from "./jobs.js";
import { errorReplies, roundParams, roundUpdateParams } from "./schemas.js";

/** The closed round, once the caller is its job's requester or one of its accepted contributors. */
async function closedRoundFor(app: FastifyInstance, jobId: number, round: number, caller: string): Promise<{ job: JobRecord; round: RoundRecord }> {
  const job = await requireJob(app, jobId);
  const r = await app.repo.getRound(job.jobId, round);
  if (!r || r.status !== "closed" || !r.rewards) {
    throw new ApiError("ROUND_NOT_CLOSED", `Round ${round} of job ${job.jobId} has not closed yet; its files are kept for replay once it closed.`, { currentRound: job.currentRound });
  }
  const who = caller.toLowerCase();
  const member = who === job.requester.toLowerCase() || r.rewards.updates.some((u) => u.contributor.toLowerCase() === who);
  if (!member) {
    throw new ApiError("NOT_ROUND_PARTICIPANT", `${caller} is neither the requester of job ${job.jobId} nor a contributor of its round ${round}; updates can hold private data.`);
  }
  return { job, round: r };
}

async function sendBlob(app: FastifyInstance, reply: FastifyReply, hash: string): Promise<FastifyReply> {
  return reply.type("application/octet-stream").header("x-quackmesh-sha256", hash).header("cache-control", "private, no-store").send(await app.blobs.get(hash));
}

export async function replayRoutes(app: FastifyInstance): Promise<void> {
  const tags = ["jobs"];

  app.get<{ Params: { jobId: number; round: number } }>(
    "/api/job/:jobId/round/:round/input",
    {
      ...app.signed,
      schema: {
        tags,
        summary: "A closed round's input model (safetensors), for its replay; signed by the requester or one of the round's contributors",
        params: roundParams,
        response: errorReplies,
      },
    },
    async (request, reply) => {
      const { round } = await closedRoundFor(app, request.params.jobId, request.params.round, request.caller!.address);
      return sendBlob(app, reply, round.inputModelHash);
    },
  );

  app.get<{ Params: { jobId: number; round: number; updateHash: string } }>(
    "/api/job/:jobId/round/:round/update/:updateHash",
    {
      ...app.signed,
      schema: {
        tags,
        summary: "One accepted update of a closed round (safetensors), for its replay; signed by the requester or one of the round's contributors",
        params: roundUpdateParams,
        response: errorReplies,
      },
    },
    async (request, reply) => {
      const { job, round } = await closedRoundFor(app, request.params.jobId, request.params.round, request.caller!.address);
      const hash = request.params.updateHash;
      if (!round.rewards!.updates.some((u) => u.updateHash === hash)) {
        throw new ApiError("NOT_FOUND", `Round ${round.round} of job ${job.jobId} accepted no update ${hash}; its rewards list the ones it did.`);
      }
      return sendBlob(app, reply, hash);
    },
  );
}
