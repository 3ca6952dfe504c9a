/**
 * A whole network for end-to-end tests: a Hardhat node, the deployed contracts, an orchestrator
 * listening on 127.0.0.1 with its chain listener, a funded requester, and MNIST folders. Every
 * part is registered with `teardown`; everything lives in a temp folder.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Wallet } from "ethers";
import { loadMnist, subset, writeIdx } from "../../native/data.js";
import type { Dataset, ModelSpec } from "../../native/types.js";
import { OrchestratorClient } from "../../orchestrator/client.js";
import { startServer, type RunningServer } from "../../orchestrator/index.js";
import { devAccount } from "../lib/chain/accounts.js";
import { connectContracts, type Contracts } from "../../protocol/chain/contracts.js";
import { deployAll } from "../lib/chain/deploy.js";
import type { Deployment } from "../../protocol/chain/deployments.js";
import { startLocalChain, type LocalChain } from "../lib/chain/localChain.js";
import { makeProvider } from "../../protocol/chain/networks.js";
import { faucet } from "../lib/chain/wallet.js";
import type { JobDeps } from "../lib/job/create.js";

export const TINY_SPEC: ModelSpec = {
  input: [784],
  layers: [
    { type: "dense", units: 32, activation: "relu" },
    { type: "dense", units: 10, activation: "none" },
  ],
  loss: "cross-entropy",
};

export interface TestNetwork {
  dir: string;
  chain: LocalChain;
  deployment: Deployment;
  server: RunningServer;
  requester: Wallet;
  contracts: Contracts;
  provider: ReturnType<typeof makeProvider>;
  /** Environment for CLI child processes: this deployment, a home of their own. */
  env: NodeJS.ProcessEnv;
  specFile: string;
  /** Job dependencies for the requester (createJob). */
  deps(): JobDeps;
  /** A wallet of a dev account, connected to the chain. */
  wallet(name: string): Wallet;
  /** Write an MNIST slice as an IDX folder; `relabel` rewrites the labels (garbage data). */
  dataDir(name: string, from: number, count: number, relabel?: (y: number) => number): Promise<string>;
}

export async function startTestNetwork(teardown: (fn: () => unknown) => void, opts: { requesterDuck?: bigint } = {}): Promise<TestNetwork> {
  const dir = await mkdtemp(join(tmpdir(), "qm-e2e-"));
  teardown(() => rm(dir, { recursive: true, force: true }));
  const chain = await startLocalChain({ port: 0 });
  teardown(() => chain.stop());
  const provider = makeProvider(chain.url, chain.chainId);
  teardown(() => provider.destroy());
  const settings = { network: "local", rpc: chain.url, deploymentsDir: join(dir, "deployments"), duckToken: undefined };
  const deployment = await deployAll(settings, new Wallet(devAccount("operator").privateKey, provider));
  const server = await startServer({
    dataDir: join(dir, "orchestrator"),
    port: 0,
    evalConcurrency: 1,
    chain: { chainId: chain.chainId, trainingPool: deployment.contracts.TrainingPool, contracts: deployment.contracts, rpcUrl: chain.url, startBlock: deployment.block, pollMs: 100 },
  });
  teardown(() => server.close());
  const requester = new Wallet(devAccount("requester").privateKey, provider);
  const contracts = await connectContracts(settings, requester);
  await faucet(contracts, provider, requester.address, { duck: opts.requesterDuck ?? 10n ** 21n, eth: 0n });
  const specFile = join(dir, "tiny.json");
  await writeFile(specFile, JSON.stringify(TINY_SPEC));
  const train = await loadMnist("train");
  return {
    dir,
    chain,
    deployment,
    server,
    requester,
    contracts,
    provider,
    env: { QUACKMESH_DEPLOYMENTS: join(dir, "deployments"), QUACKMESH_HOME: join(dir, "home"), QUACKMESH_PRIVATE_KEY: "", QUACKMESH_NETWORK: "", QUACKMESH_RPC_URL: "" },
    specFile,
    deps: () => ({ signer: requester, provider, contracts, chainId: chain.chainId, client: new OrchestratorClient(server.url, { signer: requester }) }),
    wallet: (name) => new Wallet(devAccount(name).privateKey, provider),
    async dataDir(name, from, count, relabel) {
      const part: Dataset = subset(train, Array.from({ length: count }, (_, i) => from + i));
      if (relabel) part.y = part.y.map(relabel);
      const out = join(dir, "data", name);
      await writeIdx(out, part, "train");
      return out;
    },
  };
}
