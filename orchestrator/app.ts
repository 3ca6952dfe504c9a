/**
 * buildApp: the orchestrator as a Fastify instance, not listening. Tests drive it with
 * app.inject(); server.ts makes it listen. Plugins hold the store, the evaluator, the round
 * engine and the chain listener; routes live in routes/.
 */
import Fastify, { type FastifyInstance } from "fastify";
import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import { packageVersion } from "../protocol/package.js";
import { errorHandler, errorReplySchema } from "./errors.js";
import { OrchestratorEmitter } from "./events.js";
import { allowsPrivateEndpoints, resolveLimits, type AppOptions } from "./options.js";
import { authPlugin } from "./plugins/auth.js";
import { jsonBodyPlugin } from "./plugins/body.js";
import { chainPlugin } from "./plugins/chain.js";
import { clusterPlugin } from "./plugins/cluster.js";
import { evaluatorPlugin } from "./plugins/evaluator.js";
import { metricsPlugin } from "./plugins/metrics.js";
import { roundsPlugin } from "./plugins/rounds.js";
import { storePlugin } from "./plugins/store.js";
import { clusterRoutes } from "./routes/cluster.js";
import { marketRoutes } from "./routes/market.js";
import { dashboardRoutes } from "./routes/dashboard.js";
import { draftRoutes } from "./routes/drafts.js";
import { explorerRoutes } from "./routes/explorer.js";
import { inferencePlugin } from "./routes/infer.js";
import { infoRoutes } from "./routes/info.js";
import { jobRoutes } from "./routes/jobs.js";
import { abortRoutes } from "./routes/abort.js";
import { streamRoutes } from "./routes/stream.js";
import { replayRoutes } from "./routes/replay.js";
import { updateRoutes } from "./routes/updates.js";
import { SIGNATURE_HEADER } from "./auth.js";

export async function buildApp(opts: AppOptions): Promise<FastifyInstance> {
  const limits = resolveLimits(opts.limits);
  const now = opts.now ?? Date.now;
  const app = Fastify({
    ...(opts.tls ? { https: { cert: opts.tls.cert, key: opts.tls.key } } : {}),
    logger: opts.logger ?? false,
    bodyLimit: limits.jsonBytes,
    return503OnClosing: true,
    // Schemas refuse what they do not know instead of silently dropping it.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: "array", useDefaults: true, allErrors: false } },
  }) as unknown as FastifyInstance;

  app.decorate("events", opts.events ?? new OrchestratorEmitter());
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({ error: "NOT_FOUND", message: `No route ${request.method} ${request.url.split("?")[0]}; see /docs.` }),
  );
  app.addSchema(errorReplySchema);

  await app.register(swagger, {
    openapi: {
      info: { title: "QuackMesh orchestrator", version: opts.version ?? packageVersion(), description: "Federated rounds, evaluator attestations, job uploads." },
      components: {
        securitySchemes: {
          signed: { type: "apiKey", in: "header", name: SIGNATURE_HEADER, description: "with x-quackmesh-address and x-quackmesh-timestamp; see /api/info" },
        },
      },
    },
  });
  await app.register(swaggerUi, { routePrefix: "/docs" });

  await app.register(metricsPlugin);
  await app.register(storePlugin, { dataDir: opts.dataDir, repository: opts.repository });
  await app.register(evaluatorPlugin, { dataDir: opts.dataDir, key: opts.evaluatorKey, chainId: opts.chain.chainId, trainingPool: opts.chain.trainingPool });
  await app.register(authPlugin, { limits, now });
  await app.register(jsonBodyPlugin, { jsonBytes: limits.jsonBytes, jsonDepth: limits.jsonDepth });
  await app.register(roundsPlugin, { evalConcurrency: opts.evalConcurrency });
  const privateEndpoints = allowsPrivateEndpoints(opts.cluster, opts.chain.chainId);
  await app.register(clusterPlugin, { version: opts.version ?? packageVersion(), cluster: opts.cluster, privateEndpoints });
  await app.register(chainPlugin, { chain: opts.chain });

  await app.register(draftRoutes, { uploadBytes: limits.uploadBytes, limits });
  await app.register(updateRoutes, { uploadBytes: limits.uploadBytes });
  await app.register(jobRoutes);
  await app.register(abortRoutes);
  await app.register(replayRoutes);
  await app.register(clusterRoutes, { uploadBytes: limits.uploadBytes, datasetBytes: limits.datasetBytes });
  await app.register(marketRoutes, { marketplace: opts.chain.contracts?.ComputeMarketplace });
  await app.register(inferencePlugin, { chain: opts.chain, inference: opts.inference, privateEndpoints });
  await app.register(infoRoutes, { version: opts.version ?? packageVersion(), contracts: opts.chain.contracts ?? {}, limits });
  await app.register(explorerRoutes, { version: opts.version ?? packageVersion(), contracts: opts.chain.contracts ?? {} });
  await app.register(streamRoutes);
  await app.register(dashboardRoutes, { dir: opts.dashboardDir });
  return app;
}
