/** Service routes: /api/info, /healthz, /metrics. */
import type { FastifyInstance } from "fastify";
import { ADDRESS_HEADER, BODY_HASH_HEADER, SIGNATURE_HEADER, SIGNING_PREFIX, TIMESTAMP_HEADER } from "../auth.js";
import type { Limits } from "../options.js";
import { errorReplies, infoSchema, type InfoReply } from "./schemas.js";

export async function infoRoutes(app: FastifyInstance, opts: { version: string; contracts: Record<string, string>; limits: Limits }): Promise<void> {
  app.get(
    "/api/info",
    { schema: { tags: ["service"], summary: "Evaluator address, chain and contracts", response: { 200: infoSchema, ...errorReplies } } },
    async (): Promise<InfoReply> => ({
      name: "quackmesh-orchestrator",
      version: opts.version,
      evaluator: app.evaluator.address,
      chainId: app.evaluator.chainId,
      contracts: { TrainingPool: app.evaluator.trainingPool, ...opts.contracts },
      limits: {
        uploadBytes: opts.limits.uploadBytes,
        jsonBytes: opts.limits.jsonBytes,
        maxSkewMs: opts.limits.maxSkewMs,
        modelParameters: opts.limits.modelParameters,
        activationBytes: opts.limits.activationBytes,
        datasetBytes: opts.limits.datasetBytes,
        draftsPerAddress: opts.limits.draftsPerAddress,
        storedBytesPerAddress: opts.limits.storedBytesPerAddress,
        rate: opts.limits.rate,
      },
      signing: {
        scheme: `EIP-191 personal_sign of "${SIGNING_PREFIX}\\n{METHOD}\\n{path?query}\\n{timestamp ms}\\n{hex sha256(body)}"`,
        headers: [ADDRESS_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER, BODY_HASH_HEADER],
      },
    }),
  );

  app.get(
    "/healthz",
    {
      schema: {
        tags: ["service"],
        summary: "Health: the store answers and the chain is still the one the store was made for",
        response: {
          200: { type: "object", properties: { status: { type: "string" }, uptimeSeconds: { type: "number" } } },
          ...errorReplies,
          503: {
            type: "object",
            required: ["status", "error", "message", "fix"],
            properties: {
              status: { type: "string", enum: ["chain-reset"] },
              error: { type: "string", enum: ["CHAIN_RESET"] },
              message: { type: "string" },
              fix: { type: "string" },
              details: { type: "object", additionalProperties: true },
            },
          },
        },
      },
    },
    async (_request, reply) => {
      await app.repo.getMeta("health");
      // A reset chain is not a passing state: the orchestrator refuses every write (plugins/chain.ts).
      const reset = app.chainGuard?.reset;
      if (reset) {
        return reply.code(503).send({ status: "chain-reset", error: "CHAIN_RESET", message: reset.reason, fix: reset.fix, details: { expected: reset.expected, found: reset.found, detectedAt: reset.detectedAt } });
      }
      return { status: "ok", uptimeSeconds: Math.round(process.uptime()) };
    },
  );

  app.get("/metrics", { schema: { tags: ["service"], summary: "Prometheus metrics", hide: false } }, async (_request, reply) => {
    return reply.type(app.metrics.contentType).send(await app.metrics.render());
  });
}
