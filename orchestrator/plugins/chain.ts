/** The chain listener: TrainingPool events → activation; ComputeMarketplace events (when known) → the cluster service. */
import { JsonRpcProvider, Network } from "ethers";
import { MARKETPLACE_EVENTS, TRAINING_POOL_EVENTS } from "../chain/abi.js";
import { ChainListener, type LogProvider, type LogSource } from "../chain/listener.js";
import type { ChainConfig } from "../options.js";
import { JOB_CREATED } from "../rounds/activation.js";
import { definePlugin } from "./define.js";

declare module "fastify" {
  interface FastifyInstance {
    chainListener: ChainListener | null;
    /** The chain connection (configured or opened on rpcUrl), for contract reads too; null without a chain. */
    chainProvider: LogProvider | null;
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
      return;
    }
    const sources: LogSource[] = [{ name: "TrainingPool", address: c.trainingPool, iface: TRAINING_POOL_EVENTS }];
    const market = c.contracts?.ComputeMarketplace;
    if (market) sources.push({ name: "ComputeMarketplace", address: market, iface: MARKETPLACE_EVENTS });
    const listener = new ChainListener({
      provider,
      repo: app.repo,
      sources,
      confirmations: c.confirmations ?? 0,
      pollMs: c.pollMs ?? 1000,
      startBlock: c.startBlock ?? 0,
      events: app.events,
      log: app.log,
      onEvent: async (ev) => {
        app.metrics.chainEvents.inc({ name: ev.name });
        if (ev.source === "ComputeMarketplace") {
          try {
            await app.clusters.onChainEvent(ev);
          } catch (err) {
            // Left unhandled in the store; the cluster service tries again at start.
            app.log.error({ err, txHash: ev.txHash }, "marketplace event handling failed");
          }
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
