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

export const roundsPlugin = definePlugin<{ evalConcurrency?: number; sweepMs?: number }>(
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
      coordinator: app.coordinator,
    });
    const activator = new Activator({ repo: app.repo, engine, events: app.events, evaluator: app.evaluator.address, now: app.now });
    app.decorate("runtimes", runtimes);
    app.decorate("engine", engine);
    app.decorate("activator", activator);
    // Orchestrators sharing a store learn of rounds another one opened, or left closing when it died.
    let sweeper: NodeJS.Timeout | undefined;
    app.addHook("onReady", async () => {
      await engine.recover();
      await activator.activatePending();
      if (app.coordinator.shared) {
        const sweep = () => void engine.sweep().catch((err: unknown) => app.log.warn({ err }, "round sweep failed"));
        sweeper = setInterval(sweep, opts.sweepMs ?? 2000);
        sweeper.unref();
      }
    });
    // Registered before the store's hook runs (hooks run in reverse): stop before the DB closes.
    app.addHook("onClose", async () => {
      clearInterval(sweeper);
      await engine.stop();
    });
  },
  { name: "quackmesh-rounds", dependencies: ["quackmesh-store", "quackmesh-evaluator", "quackmesh-metrics", "quackmesh-auth"] },
);
