/**
 * POST /api/job/:jobId/update?round=R&numSamples=N with the update's safetensors bytes as the
 * body, signed by the contributor. Answers the evaluator's attestation for TrainingPool.submitUpdate.
 */
import type { FastifyInstance } from "fastify";
import { ApiError } from "../errors.js";
import { bufferParser } from "../plugins/body.js";
import type { FromSchema } from "../../protocol/schema.js";
import { attestationSchema, errorReplies, jobIdParams, updateQuerySchema } from "./schemas.js";

export async function updateRoutes(app: FastifyInstance, opts: { uploadBytes: number }): Promise<void> {
  bufferParser(app, "application/octet-stream", opts.uploadBytes);

  app.post<{ Params: { jobId: number }; Querystring: FromSchema<typeof updateQuerySchema>; Body: Buffer }>(
    "/api/job/:jobId/update",
    {
      ...app.signed,
      bodyLimit: opts.uploadBytes,
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
