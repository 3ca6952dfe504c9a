/** The demo's set-up steps: chain, contracts, orchestrator, funds, data, the job. */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Wallet } from "ethers";
import { Network } from "../../../native/index.js";
import { loadMnist } from "../../../native/data.js";
import { decodeSafetensors } from "../../../native/safetensors.js";
import { OrchestratorClient } from "../../../orchestrator/client.js";
import { startServer } from "../../../orchestrator/index.js";
import { splitMnist } from "../data/splitMnist.js";
import { QuackError } from "../../../protocol/errors.js";
import { devAccount } from "../chain/accounts.js";
import { connectContracts } from "../../../protocol/chain/contracts.js";
import { deployAll } from "../chain/deploy.js";
import { startLocalChain } from "../chain/localChain.js";
import { makeProvider } from "../../../protocol/chain/networks.js";
import { formatAmount, parseAmount } from "../../../protocol/chain/units.js";
import { faucet } from "../chain/wallet.js";
import { createJob } from "../job/create.js";
import { planJob } from "../job/params.js";
import { demoSpec, describeDemoModel } from "./model.js";
import type { DemoContext } from "./types.js";

function need<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new QuackError("DEMO_ORDER", `The demo step needs ${what}, which an earlier step sets.`);
  return value;
}

function settings(ctx: DemoContext) {
  return { network: "local", rpc: need(ctx.chain, "the chain").url, deploymentsDir: join(ctx.workDir, "deployments"), duckToken: undefined };
}

export async function startChainStep(ctx: DemoContext): Promise<string> {
  const chain = await startLocalChain({ port: 0 });
  ctx.onCleanup(() => chain.stop());
  ctx.chain = chain;
  ctx.provider = makeProvider(chain.url, chain.chainId);
  ctx.onCleanup(() => ctx.provider?.destroy());
  return `Hardhat node on ${chain.url} (pid ${chain.pid})`;
}

export async function deployStep(ctx: DemoContext): Promise<string> {
  const provider = need(ctx.provider, "the chain");
  const operator = new Wallet(devAccount("operator").privateKey, provider);
  const deployment = await deployAll(settings(ctx), operator);
  ctx.deployment = deployment;
  ctx.requester = new Wallet(devAccount("requester").privateKey, provider);
  ctx.contracts = await connectContracts(settings(ctx), ctx.requester);
  ctx.pool = ctx.contracts.trainingPool;
  ctx.childEnv = { ...ctx.childEnv, QUACKMESH_DEPLOYMENTS: join(ctx.workDir, "deployments"), QUACKMESH_HOME: join(ctx.workDir, "home") };
  return `TrainingPool ${deployment.contracts.TrainingPool}, DuckToken ${deployment.contracts.DuckToken}`;
}

export async function orchestratorStep(ctx: DemoContext): Promise<string> {
  const deployment = need(ctx.deployment, "the deployment");
  const chain = need(ctx.chain, "the chain");
  const server = await startServer({
    dataDir: join(ctx.workDir, "orchestrator"),
    host: "127.0.0.1",
    port: 0,
    chain: {
      chainId: chain.chainId,
      trainingPool: deployment.contracts.TrainingPool,
      contracts: deployment.contracts,
      rpcUrl: chain.url,
      startBlock: deployment.block,
      pollMs: 200,
    },
  });
  ctx.onCleanup(() => server.close());
  ctx.server = server;
  ctx.client = new OrchestratorClient(server.url, { signer: need(ctx.requester, "the requester") });
  return `dashboard ${server.url}/ (API under /api, docs at /docs), evaluator ${(await ctx.client.info()).evaluator}`;
}

export async function fundStep(ctx: DemoContext): Promise<string> {
  const contracts = need(ctx.contracts, "the contracts");
  const provider = need(ctx.provider, "the chain");
  const requester = need(ctx.requester, "the requester");
  const reward = parseAmount(ctx.opts.reward, "--reward");
  await faucet(contracts, provider, requester.address, { duck: reward, eth: 0n });
  for (let i = 0; i < ctx.opts.contributors; i++) {
    const account = `contributor${i + 1}`;
    const address = i < 4 ? devAccount(account).address : devAccount(10 + i - 4).address;
    ctx.contributors.push({ name: `contributor-${i + 1}`, account: i < 4 ? account : String(10 + i - 4), address, dir: "" });
  }
  // Contributors pay only gas: the dev accounts start with ETH; top up any that ran low.
  for (const c of ctx.contributors) {
    if ((await provider.getBalance(c.address)) < 10n ** 18n) await faucet(contracts, provider, c.address, { duck: 0n, eth: 10n ** 19n });
    c.duckBefore = (await contracts.duck.getFunction("balanceOf")(c.address)) as bigint;
  }
  return `requester ${requester.address} got ${formatAmount(reward)} DUCK; ${ctx.contributors.length} contributors have ETH for gas`;
}

export async function dataStep(ctx: DemoContext): Promise<string> {
  const split = await splitMnist({ out: join(ctx.workDir, "data"), clients: ctx.opts.contributors, alpha: ctx.opts.alpha, seed: 1, validation: ctx.opts.validation });
  ctx.split = split;
  split.clients.forEach((part, i) => (ctx.contributors[i].dir = part.dir));
  return `MNIST train split non-IID (Dirichlet α = ${ctx.opts.alpha}): ${split.clients.map((c) => c.count).join(" + ")} samples; validation ${split.validation.count}; label skew ${split.skew}`;
}

export async function jobStep(ctx: DemoContext): Promise<string> {
  const o = ctx.opts;
  ctx.spec = demoSpec(o.model, o);
  const specFile = join(ctx.workDir, `${o.model}.json`);
  await writeFile(specFile, JSON.stringify(ctx.spec, null, 2) + "\n");
  const plan = await planJob({
    model: specFile,
    validation: need(ctx.split, "the data").validation.dir,
    reward: o.reward,
    roundBudget: o.roundBudget,
    rounds: String(o.rounds),
    minUpdates: String(o.contributors),
    threshold: String(o.threshold),
    deadlineHours: "24",
    roundDeadline: String(o.roundDeadlineSeconds),
    seed: "1",
  });
  const chain = need(ctx.chain, "the chain");
  ctx.job = await createJob(
    plan,
    { signer: need(ctx.requester, "the requester"), provider: need(ctx.provider, "the chain"), contracts: need(ctx.contracts, "the contracts"), chainId: chain.chainId, client: need(ctx.client, "the orchestrator") },
    { pollMs: 100, signal: o.signal },
  );
  return `job ${ctx.job.jobId}: ${describeDemoModel(o.model, o.hidden)}${o.normalize ? " (standardized input)" : ""}, ${o.rounds} rounds, ${o.contributors} updates a round, threshold ${o.threshold * 100} %, ${o.reward} DUCK pool, up to ${o.roundBudget} a round by contribution`;
}

/** Evaluate each round's global model, as the orchestrator publishes it, on the MNIST test set. */
export function followRounds(ctx: DemoContext): void {
  const server = need(ctx.server, "the orchestrator");
  const spec = need(ctx.spec, "the model spec");
  const jobId = need(ctx.job, "the job").jobId;
  const test = loadMnist("test");
  let queue: Promise<unknown> = Promise.resolve();
  const off = server.app.events.on("round:closed", (e) => {
    if (e.jobId !== jobId) return;
    queue = queue.then(async () => {
      const bytes = await server.app.blobs.get(e.modelHash);
      const ev = await Network.fromWeights(spec, decodeSafetensors(bytes).tensors).evaluate(await test);
      const round = { round: e.round, validationAccuracy: e.accuracy, testAccuracy: ev.accuracy, contributors: e.contributors };
      ctx.rounds.push(round);
      ctx.emit({ event: "round", ...round });
    });
  });
  ctx.onCleanup(off);
  ctx.evaluated = () => queue.then(() => undefined);
}
