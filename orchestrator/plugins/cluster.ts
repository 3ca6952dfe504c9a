/** The cluster service: rented machines of a job, deployed and followed over SSH (cluster/service.ts). */
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import { ClusterService } from "../cluster/service.js";
import { LockFollower } from "../store/coordination.js";
import type { ClusterOptions } from "../options.js";
import { definePlugin } from "./define.js";

declare module "fastify" {
  interface FastifyInstance {
    clusters: ClusterService;
  }
}

/**
 * Where workers reach this orchestrator: the configured public URL, else
 * QUACKMESH_ORCHESTRATOR_PUBLIC_URL, else the address it listens on (loopback for 0.0.0.0),
 * which only machines on this host can reach.
 */
function workerUrl(app: FastifyInstance, configured?: string): string {
  const url = configured ?? process.env.QUACKMESH_ORCHESTRATOR_PUBLIC_URL;
  if (url) return url.replace(/\/+$/, "");
  const a = app.server.address() as AddressInfo | null;
  if (!a || typeof a !== "object") throw new Error("the orchestrator is not listening yet");
  const host = a.address === "0.0.0.0" || a.address === "::" ? "127.0.0.1" : a.address;
  return `http://${host.includes(":") ? `[${host}]` : host}:${a.port}`;
}

export const clusterPlugin = definePlugin<{ version: string; cluster?: ClusterOptions; privateEndpoints: boolean }>(
  async (app, opts) => {
    const o = opts.cluster ?? {};
    const service = new ClusterService({
      repo: app.repo,
      blobs: app.blobs,
      events: app.events,
      engine: app.engine,
      now: app.now,
      log: app.log,
      version: opts.version,
      workerUrl: () => workerUrl(app, o.publicUrl),
      knownHostsFile: o.knownHostsFile ?? join(app.dataDir, "known_hosts.json"),
      heartbeatTimeoutMs: o.heartbeatTimeoutMs,
      keepaliveMs: o.keepaliveMs,
      workerHeartbeatMs: o.workerHeartbeatMs,
      privateEndpoints: opts.privateEndpoints,
    });
    app.decorate("clusters", service);
    app.engine.setLiveWorkers((jobId) => service.liveWorkers(jobId));
    // Several orchestrators on one store: one manages the clusters; another takes over when it dies.
    const manager = new LockFollower(
      app.coordinator,
      "cluster-manager",
      {
        changed: async (held) => {
          app.log.info({ clusterManager: held }, held ? "this orchestrator manages the clusters" : "another orchestrator manages the clusters");
          await (held ? service.lead() : service.stepDown());
        },
        held: () => service.reconcile(),
        error: (err) => app.log.warn({ err }, "cluster manager lock check failed"),
      },
      o.leadMs ?? 1000,
    );
    app.addHook("onReady", async () => {
      await service.start();
      await manager.start();
    });
    // Registered after the rounds plugin: stops before the engine and the store.
    app.addHook("onClose", async () => {
      await manager.stop();
      await service.stop();
    });
  },
  { name: "quackmesh-cluster", dependencies: ["quackmesh-rounds", "quackmesh-store"] },
);
