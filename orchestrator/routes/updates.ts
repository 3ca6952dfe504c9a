/**
 * POST /api/job/:jobId/update?round=R&numSamples=N with the update's safetensors bytes as the
 * body, signed by the contributor. Answers the evaluator's attestation for TrainingPool.submitUpdate.
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import { ApiError } from "../errors.js";
import { parameterCount } from "../../protocol/spec.js";
import { safetensorsBound } from "./drafts.js";
import { requireJob } from "./jobs.js";
import { bufferParser } from "../plugins/body.js";
import type { FromSchema } from "../../protocol/schema.js";
import { attestationSchema, errorReplies, jobIdParams, updateQuerySchema } from "./schemas.js";

export async function updateRoutes(app: FastifyInstance, opts: { uploadBytes: number }): Promise<void> {
  bufferParser(app, "application/octet-stream", opts.uploadBytes);

  /** Refused before its body is read, and counted like every refused update. */
  const refused = (e: ApiError) => {
    app.metrics.updatesRejected.inc({ code: e.code });
    return e;
  };

  /** Before the body is read: the job exists, and an update is at most its model's size. */
  async function updateBudget(request: FastifyRequest) {
    const raw = (request.params as { jobId: string }).jobId;
    if (!/^\d{1,15}$/.test(raw) || Number(raw) < 1) throw refused(new ApiError("VALIDATION_FAILED", `'${raw.slice(0, 80)}' is not a job id.`));
    const job = await requireJob(app, Number(raw)).catch((e: ApiError) => Promise.reject(refused(e)));
    const limit = Math.min(opts.uploadBytes, safetensorsBound(parameterCount(job.spec)));
    return {
      limit,
      refuse: () => refused(new ApiError("BODY_TOO_LARGE", `An update of job ${job.jobId} is at most ${limit} bytes (its model's safetensors size).`, { limit })),
    };
  }

  app.post<{ Params: { jobId: number }; Querystring: FromSchema<typeof updateQuerySchema>; Body: Buffer }>(
    "/api/job/:jobId/update",
    {
      ...app.signed,
      bodyLimit: opts.uploadBytes,
      config: { uploadBudget: updateBudget },
      schema: {
        tags: ["updates"],
        summary: "Submit a trained model for a round (raw safetensors, application/octet-stream; signed by the contributor)",
        params: jobIdParams,
        querystring: updateQuerySchema,
        response: { 200: attestationSchema, ...errorReplies },
      },
    },
    async (request) => {
      if (!Buffer.isBuffer(request.body) || request.body.length === 0) {
        throw new ApiError("BODY_EMPTY", "Send the update's safetensors bytes as the body (content-type application/octet-stream).");
      }
      const contributor = request.caller!.address;
      // A cluster job takes updates only from the workers its cluster manager started.
      const role = await app.clusters.admitUpdate(request.params.jobId, contributor);
      const attestation = await app.engine.submitUpdate({
        jobId: request.params.jobId,
        round: request.query.round,
        numSamples: request.query.numSamples,
        contributor,
        body: request.body,
        bodySha256: request.bodySha256,
      });
      // Workers are paid by their rental: no signature TrainingPool would pay out leaves for them.
      return role === "worker" ? { ...attestation, signature: "" } : attestation;
    },
  );
}
