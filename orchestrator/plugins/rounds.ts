/** The round engine and job activation, wired to the store, the evaluator and the app's events. */
import { availableParallelism } from "node:os";
import type { OrchestratorEmitter } from "../events.js";
import { Activator } from "../rounds/activation.js";
import { RoundEngine } from "../rounds/engine.js";
import { RuntimeCache } from "../rounds/runtime.js";
import { Semaphore } from "../rounds/semaphore.js";
import { definePlugin } from "./define.js";

declare module "fastify" {
  interface FastifyInstance {
    events: OrchestratorEmitter;
    engine: RoundEngine;
    activator: Activator;
    runtimes: RuntimeCache;
  }
}

export const roundsPlugin = definePlugin<{ evalConcurrency?: number }>(
  async (app, opts) => {
    const runtimes = new RuntimeCache({
      repo: app.repo,
      blobs: app.blobs,
      dataDir: app.dataDir,
      evalSlots: new Semaphore(opts.evalConcurrency ?? availableParallelism()),
    });
    const engine = new RoundEngine({
      repo: app.repo,
      blobs: app.blobs,
      signer: app.evaluator,
      events: app.events,
      metrics: app.metrics,
      runtimes,
      now: app.now,
      log: app.log,
    });
    const activator = new Activator({ repo: app.repo, engine, events: app.events, evaluator: app.evaluator.address, now: app.now });
    app.decorate("runtimes", runtimes);
    app.decorate("engine", engine);
    app.decorate("activator", activator);
    app.addHook("onReady", async () => {
      await engine.recover();
      await activator.activatePending();
    });
    // Registered before the store's hook runs (hooks run in reverse): stop before the DB closes.
    app.addHook("onClose", async () => {
      await engine.stop();
    });
  },
  { name: "quackmesh-rounds", dependencies: ["quackmesh-store", "quackmesh-evaluator", "quackmesh-metrics", "quackmesh-auth"] },
);
