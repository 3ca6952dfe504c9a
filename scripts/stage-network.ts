/**
 * Stages a network on a running chain: deploys the contracts (or keeps a live deployment), funds
 * the requester, splits MNIST into contributor folders and, when the orchestrator answers,
 * creates a sample job (MLP 784-128-10). Starts nothing.
 *
 *   quackmesh chain &                                   # a chain
 *   node dist/scripts/stage-network.js --out ./net      # deploy, fund, split
 *   quackmesh serve &                                   # the orchestrator, on that deployment
 *   node dist/scripts/stage-network.js --out ./net      # again: creates the sample job
 *   node dist/scripts/run-contributors.js --job 1 --data ./net/data
 */
import { writeFile, mkdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { OrchestratorClient } from "../orchestrator/client.js";
import { QuackError, isQuackError } from "../protocol/errors.js";
import { devAccount } from "../cli/lib/chain/accounts.js";
import { deployAll } from "../cli/lib/chain/deploy.js";
import { openChain } from "../cli/lib/chain/options.js";
import { faucet } from "../cli/lib/chain/wallet.js";
import { createJob } from "../cli/lib/job/create.js";
import { orchestratorUrl } from "../cli/lib/job/connect.js";
import { planJob } from "../cli/lib/job/params.js";
import { splitMnist } from "../cli/lib/data/splitMnist.js";

export interface StageOptions {
  rpc?: string;
  orchestrator?: string;
  out: string;
  clients: number;
  alpha: number;
  onLine?: (line: string) => void;
}

export async function stageNetwork(o: StageOptions): Promise<{ deployed: boolean; dataDir: string; jobId: number | null }> {
  const say = o.onLine ?? ((l: string) => process.stdout.write(l + "\n"));
  const chain = await openChain({ rpc: o.rpc }, { defaultAccount: "operator" });
  try {
    let deployed = true;
    try {
      const d = await deployAll(chain.settings, chain.signer);
      say(`deployed: TrainingPool ${d.contracts.TrainingPool} (${d.file})`);
    } catch (err) {
      if (!isQuackError(err) || err.code !== "DEPLOYMENT_EXISTS") throw err;
      deployed = false;
      say("kept the live deployment");
    }
    const contracts = await chain.contracts();
    const requester = devAccount("requester").address;
    await faucet(contracts, chain.provider, requester, { duck: 10n ** 21n, eth: 0n });
    say(`funded the requester ${requester} with 1000 DUCK`);
    const out = resolve(o.out);
    const split = await splitMnist({ out: join(out, "data"), clients: o.clients, alpha: o.alpha, seed: 1 });
    say(`split MNIST: ${split.clients.map((c) => `${c.name} ${c.count}`).join(", ")}; validation ${split.validation.count}`);

    const requesterChain = await openChain({ rpc: o.rpc }, { defaultAccount: "requester" });
    try {
      const client = new OrchestratorClient(orchestratorUrl({ orchestrator: o.orchestrator }), { signer: requesterChain.signer });
      try {
        await client.info();
      } catch (err) {
        if (!isQuackError(err) || err.code !== "ORCHESTRATOR_UNREACHABLE") throw err;
        say(`no orchestrator at ${client.baseUrl}: start \`quackmesh serve\` and run this again to create the sample job`);
        return { deployed, dataDir: split.out, jobId: null };
      }
      await mkdir(out, { recursive: true });
      const specFile = join(out, "mlp.json");
      await writeFile(specFile, JSON.stringify({ input: [784], layers: [{ type: "dense", units: 128, activation: "relu" }, { type: "dense", units: 10 }], loss: "cross-entropy" }, null, 2) + "\n");
      const plan = await planJob({ model: specFile, validation: split.validation.dir, reward: "1000", rounds: "10", minUpdates: String(o.clients), threshold: "0.7", seed: "1" });
      const job = await createJob(plan, { signer: requesterChain.signer, provider: requesterChain.provider, contracts: await requesterChain.contracts(), chainId: requesterChain.network.chainId, client });
      say(`sample job ${job.jobId} created (tx ${job.txHash}); train it: node dist/scripts/run-contributors.js --job ${job.jobId} --data ${split.out}`);
      return { deployed, dataDir: split.out, jobId: job.jobId };
    } finally {
      requesterChain.close();
    }
  } finally {
    chain.close();
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: { rpc: { type: "string" }, orchestrator: { type: "string" }, out: { type: "string" }, clients: { type: "string" }, alpha: { type: "string" }, help: { type: "boolean", short: "h" } },
  });
  if (values.help) process.stdout.write("usage: node dist/scripts/stage-network.js [--rpc URL] [--orchestrator URL] [--out DIR] [--clients 3] [--alpha 1]\n");
  else {
    stageNetwork({ rpc: values.rpc, orchestrator: values.orchestrator, out: values.out ?? "quackmesh-network", clients: Number(values.clients ?? 3), alpha: Number(values.alpha ?? 1) })
      .then((r) => process.stdout.write(JSON.stringify(r) + "\n"))
      .catch((err: unknown) => {
        process.stderr.write(`error: ${(err as Error).message}\n${err instanceof QuackError && err.fix ? `  fix: ${err.fix}\n` : ""}`);
        process.exitCode = 1;
      });
  }
}
