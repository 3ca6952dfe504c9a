/**
 * The chain listener: TrainingPool events → activation; ComputeMarketplace events (when known) →
 * the cluster service. The chain guard (chain/anchor.ts) checks at start and before every poll
 * that the chain is still the store's; once it is not, the orchestrator takes no more writes,
 * closes no round and reads no event, and /healthz says why.
 */
import { JsonRpcProvider, Network } from "ethers";
import { isQuackError } from "../../protocol/errors.js";
import { ApiError } from "../errors.js";
import { ChainGuard, chainResetError } from "../chain/anchor.js";
import { INFERENCE_POOL_EVENTS, MARKETPLACE_EVENTS, TRAINING_POOL_EVENTS } from "../chain/abi.js";
import { ChainListener, type LogProvider, type LogSource } from "../chain/listener.js";
import type { ChainConfig } from "../options.js";
import { JOB_CREATED } from "../rounds/activation.js";
import { definePlugin } from "./define.js";

declare module "fastify" {
  interface FastifyInstance {
    chainListener: ChainListener | null;
    /** The chain connection (configured or opened on rpcUrl), for contract reads too; null without a chain. */
    chainProvider: LogProvider | null;
    /** Whether the chain is still the one the store was made for; null without a chain. */
    chainGuard: ChainGuard | null;
  }
}

export const chainPlugin = definePlugin<{ chain: ChainConfig }>(
  async (app, opts) => {
    const c = opts.chain;
    let provider: LogProvider | undefined = c.provider;
    let owned: JsonRpcProvider | undefined;
    if (!provider && c.rpcUrl) {
      // Pinned to the configured chain: no background network detection, nothing left running.
      owned = new JsonRpcProvider(c.rpcUrl, Network.from(c.chainId), { staticNetwork: true });
      provider = owned;
    }
    app.decorate("chainProvider", provider ?? null);
    if (!provider) {
      app.decorate("chainListener", null);
      app.decorate("chainGuard", null);
      return;
    }
    const guard = new ChainGuard({
      repo: app.repo,
      provider,
      chainId: c.chainId,
      trainingPool: c.trainingPool,
      block: c.startBlock ?? 0,
      confirmations: c.confirmations ?? 0,
      now: app.now,
    });
    try {
      const reset = await guard.verify();
      // A store of another chain never starts: nothing in it may be acted on.
      if (reset) throw chainResetError(reset);
    } catch (err) {
      if (isQuackError(err) && err.code === "CHAIN_RESET") throw err;
      // An unreachable chain is not a reset: the listener checks before its first read.
      app.log.warn({ err: err instanceof Error ? err.message : String(err) }, "chain check at start failed; retrying before the first poll");
    }
    guard.onReset((reset) => {
      app.log.error({ code: "CHAIN_RESET", expected: reset.expected, found: reset.found, fix: reset.fix }, `chain reset: ${reset.reason}`);
      app.events.emit("chain:reset", { reason: reset.reason, fix: reset.fix });
      app.engine.halt(new ApiError("CHAIN_RESET", reset.reason, { fix: reset.fix }));
    });
    app.decorate("chainGuard", guard);
    // Reads stay open (history, exports); every write is refused once the chain is gone.
    app.addHook("onRequest", async (request) => {
      const reset = guard.reset;
      if (reset && request.method !== "GET" && request.method !== "HEAD" && request.method !== "OPTIONS") {
        throw new ApiError("CHAIN_RESET", reset.reason, { fix: reset.fix });
      }
    });
    const sources: LogSource[] = [{ name: "TrainingPool", address: c.trainingPool, iface: TRAINING_POOL_EVENTS }];
    const market = c.contracts?.ComputeMarketplace;
    if (market) sources.push({ name: "ComputeMarketplace", address: market, iface: MARKETPLACE_EVENTS });
    // Read only to be stored and shown (the dashboard's transactions); nothing acts on them.
    const inference = c.contracts?.InferencePool;
    if (inference) sources.push({ name: "InferencePool", address: inference, iface: INFERENCE_POOL_EVENTS });
    let reading: boolean | undefined;
    const listener = new ChainListener({
      provider,
      repo: app.repo,
      sources,
      confirmations: c.confirmations ?? 0,
      pollMs: c.pollMs ?? 1000,
      startBlock: c.startBlock ?? 0,
      events: app.events,
      log: app.log,
      verify: async () => (await guard.verify()) === null,
      // Several orchestrators on one store: one reads the chain; another takes over when it dies.
      lead: async () => {
        const held = await app.coordinator.tryHold("chain-reader");
        if (held !== reading) app.log.info({ chainReader: held }, held ? "this orchestrator reads the chain" : "another orchestrator reads the chain");
        reading = held;
        return held;
      },
      onEvent: async (ev) => {
        app.metrics.chainEvents.inc({ name: ev.name });
        if (ev.source === "InferencePool") {
          await app.repo.markChainEventHandled(ev.txHash, ev.logIndex, "recorded");
          return;
        }
        if (ev.source === "ComputeMarketplace") {
          try {
            await app.clusters.onChainEvent(ev);
          } catch (err) {
            // Left unhandled in the store; the cluster service tries again at start.
            app.log.error({ err, txHash: ev.txHash }, "marketplace event handling failed");
          }
          return;
        }
        if (ev.name === "TrainingJobFinished") {
          // Finished on chain (by its proof, an abort or after its deadline): no round of it can be committed any more.
          await app.engine.endEarly(Number(ev.args.jobId), false);
          await app.repo.markChainEventHandled(ev.txHash, ev.logIndex, "job ended");
          return;
        }
        if (ev.name !== JOB_CREATED) {
          await app.repo.markChainEventHandled(ev.txHash, ev.logIndex, "recorded");
          return;
        }
        try {
          await app.activator.handle(ev);
        } catch (err) {
          // The event stays unhandled in the store and is tried again at start and after uploads.
          app.log.error({ err, txHash: ev.txHash }, "job activation failed");
        }
      },
    });
    app.decorate("chainListener", listener);
    app.addHook("onReady", async () => listener.start());
    app.addHook("onClose", async () => {
      await listener.stop();
      owned?.destroy();
    });
  },
  { name: "quackmesh-chain", dependencies: ["quackmesh-rounds", "quackmesh-cluster"] },
);
