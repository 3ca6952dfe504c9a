/** GET /api/cluster/:jobId: the machines rented for a job (filled by the cluster manager). */
import type { FastifyInstance } from "fastify";
import { requireJob } from "./jobs.js";
import { clusterSchema, errorReplies, jobIdParams, type ClusterReply } from "./schemas.js";

export async function clusterRoutes(app: FastifyInstance): Promise<void> {
  app.get<{ Params: { jobId: number } }>(
    "/api/cluster/:jobId",
    { schema: { tags: ["cluster"], summary: "Rented machines of a job", params: jobIdParams, response: { 200: clusterSchema, ...errorReplies } } },
    async (request): Promise<ClusterReply> => {
      const job = await requireJob(app, request.params.jobId);
      const machines = await app.repo.listClusterMachines(job.jobId);
      return { jobId: job.jobId, machines: machines.map(({ jobId: _j, ...m }) => m) };
    },
  );
}
