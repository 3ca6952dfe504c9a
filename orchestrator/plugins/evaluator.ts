/** The evaluator: its key (env or data dir) and the EIP-712 signer bound to the TrainingPool. */
import { loadEvaluatorKey, type KeySource } from "../evaluator/key.js";
import { EvaluatorSigner } from "../evaluator/signer.js";
import type { Wallet } from "ethers";
import { definePlugin } from "./define.js";

declare module "fastify" {
  interface FastifyInstance {
    evaluator: EvaluatorSigner;
    /** The evaluator's wallet: it also signs inference usage statements (the address requesters name). */
    evaluatorWallet: Wallet;
    evaluatorKeySource: KeySource;
  }
}

export const evaluatorPlugin = definePlugin<{ dataDir: string; key?: string; chainId: number; trainingPool: string }>(
  async (app, opts) => {
    const { wallet, source } = await loadEvaluatorKey(opts.dataDir, opts.key);
    app.decorate("evaluator", new EvaluatorSigner(wallet, opts.chainId, opts.trainingPool));
    app.decorate("evaluatorWallet", wallet);
    app.decorate("evaluatorKeySource", source);
  },
  { name: "quackmesh-evaluator", dependencies: ["quackmesh-store"] },
);
