/** Counters and a request-duration histogram for every route, served by GET /metrics. */
import { Metrics } from "../metrics.js";
import { definePlugin } from "./define.js";

declare module "fastify" {
  interface FastifyInstance {
    metrics: Metrics;
  }
}

export const metricsPlugin = definePlugin(
  async (app) => {
    const metrics = new Metrics();
    app.decorate("metrics", metrics);
    app.addHook("onResponse", async (request, reply) => {
      metrics.requestDuration.observe(
        { method: request.method, route: request.routeOptions.url ?? "unmatched", status: String(reply.statusCode) },
        reply.elapsedTime / 1000,
      );
    });
  },
  { name: "quackmesh-metrics" },
);
