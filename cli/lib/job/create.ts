/**
 * Creating a training job: check everything that can be checked (funds, the orchestrator and
 * its chain) before spending anything, then upload to the orchestrator, approve and escrow the
 * pool in TrainingPool naming the orchestrator's evaluator, and wait until the orchestrator
 * has activated the job.
 */
import { LOCAL_CHAIN_ID } from "../../../protocol/chain/networks.js";
import type { Provider, Wallet } from "ethers";
import type { InfoReply, JobSummary, OrchestratorClient } from "../../../orchestrator/client.js";
import { QuackError, isQuackError } from "../../../protocol/errors.js";
import type { Contracts } from "../../../protocol/chain/contracts.js";
import { formatAmount } from "../../../protocol/chain/units.js";
import { sendTx } from "../chain/tx.js";
import { eventFromReceipt } from "./chainJob.js";
import type { JobPlan } from "./params.js";
import { sleep } from "./wait.js";

/** What creating a job needs: the requester's wallet on a chain with the deployment, and the orchestrator. */
export interface JobDeps {
  signer: Wallet;
  provider: Provider;
  contracts: Contracts;
  chainId: number;
  client: OrchestratorClient;
}

export type CreateEvent =
  | { event: "checked"; requester: string; duck: bigint; eth: bigint; evaluator: string; orchestrator: string }
  | { event: "uploaded"; draftId: string; modelHash: string; validationSamples: number }
  | { event: "approved"; txHash: string; amount: bigint }
  | { event: "escrowed"; jobId: number; txHash: string; modelHash: string; deadline: number }
  | { event: "activated"; jobId: number; currentRound: number; rounds: number };

export interface CreatedJob {
  jobId: number;
  txHash: string;
  modelHash: string;
  draftId: string;
  evaluator: string;
  requester: string;
  deadline: number;
  job: JobSummary;
}

/**
 * Seconds contributors have to claim after the last round's commitment before anyone may finish
 * the job: a day on a public chain, two minutes on the local one (where the demo runs).
 */
export function defaultClaimWindow(chainId: number): number {
  return chainId === LOCAL_CHAIN_ID ? 120 : 86400;
}

// Gas that an approve plus createTrainingJob stay under, with room: checked against the ETH balance.
const CREATE_GAS = 600_000n;

export interface Prechecked {
  info: InfoReply;
  evaluator: string;
  duck: bigint;
  eth: bigint;
}

/** Everything that can refuse the job without spending: DUCK, ETH, the orchestrator and its chain. */
export async function precheckJob(plan: JobPlan, deps: JobDeps): Promise<Prechecked> {
  const { signer, provider, contracts, client } = deps;
  const me = signer.address;
  const [duck, eth, fees] = await Promise.all([
    contracts.duck.getFunction("balanceOf")(me) as Promise<bigint>,
    provider.getBalance(me),
    provider.getFeeData(),
  ]);
  if (duck < plan.reward) {
    throw new QuackError("NOT_ENOUGH_DUCK", `${me} holds ${formatAmount(duck)} DUCK; the reward pool needs ${formatAmount(plan.reward)} DUCK.`, {
      fix: `Lower --reward, or get more DUCK for this wallet (on the local chain: \`quackmesh wallet faucet --to ${me} --amount ${formatAmount(plan.reward - duck)}\`).`,
      details: { address: me, balance: duck.toString(), needed: plan.reward.toString() },
    });
  }
  const gasPrice = fees.maxFeePerGas ?? fees.gasPrice ?? 0n;
  if (eth < CREATE_GAS * gasPrice) {
    throw new QuackError("NO_FUNDS", `${me} holds ${formatAmount(eth)} ETH; approving and escrowing need about ${formatAmount(CREATE_GAS * gasPrice)} ETH for gas.`, {
      fix: `Fund this address with ETH (on the local chain: \`quackmesh wallet faucet --to ${me} --amount 0\`).`,
    });
  }
  const info = await client.info();
  const pool = await contracts.trainingPool.getAddress();
  if (info.chainId !== deps.chainId) {
    throw new QuackError("WRONG_ORCHESTRATOR", `The orchestrator at ${client.baseUrl} serves chain id ${info.chainId}, but this wallet is on chain id ${deps.chainId}.`, {
      fix: "Point --orchestrator at the orchestrator of this chain, or --network/--rpc at the orchestrator's chain.",
    });
  }
  const theirs = (info.contracts as Record<string, string | undefined>).TrainingPool;
  if (!theirs || theirs.toLowerCase() !== pool.toLowerCase()) {
    throw new QuackError("WRONG_ORCHESTRATOR", `The orchestrator at ${client.baseUrl} watches TrainingPool ${theirs ?? "(none)"}, but the deployment here is ${pool}.`, {
      fix: "Use the orchestrator of this deployment, or the deployments file it was started with (QUACKMESH_DEPLOYMENTS).",
    });
  }
  const recorded = contracts.deployment.evaluator;
  if (recorded && recorded.toLowerCase() !== info.evaluator.toLowerCase()) {
    throw new QuackError("WRONG_ORCHESTRATOR", `The deployment names evaluator ${recorded}, but the orchestrator at ${client.baseUrl} signs as ${info.evaluator}.`, {
      fix: "Use the orchestrator recorded in the deployment file, or let it record its evaluator again.",
    });
  }
  return { info, evaluator: info.evaluator, duck, eth };
}

export interface CreateOptions {
  onEvent?: (e: CreateEvent) => void;
  /** How long to wait for the orchestrator to see the job on chain (default 120 s). */
  activationTimeoutMs?: number;
  pollMs?: number;
  signal?: AbortSignal;
  /** Runs once the draft is complete, before anything is spent (a cluster job uploads its key and training data here). */
  beforeEscrow?: (draft: { draftId: string; modelHash: string }) => Promise<void>;
}

/** Pre-check, upload, approve, escrow, wait for activation. */
export async function createJob(plan: JobPlan, deps: JobDeps, opts: CreateOptions = {}): Promise<CreatedJob> {
  const emit = opts.onEvent ?? (() => {});
  const { signer, provider, contracts, client } = deps;
  const checked = await precheckJob(plan, deps);
  emit({ event: "checked", requester: signer.address, duck: checked.duck, eth: checked.eth, evaluator: checked.evaluator, orchestrator: client.baseUrl });

  const settings = {
    rounds: plan.rounds,
    minUpdates: plan.minUpdates,
    thresholdBps: plan.thresholdBps,
    strategy: { name: plan.strategy },
    trustNumSamples: plan.trustNumSamples,
    ...(plan.roundDeadlineSeconds === undefined ? {} : { roundDeadlineSeconds: plan.roundDeadlineSeconds }),
    ...(plan.normBound === undefined ? {} : { normBound: plan.normBound }),
    ...(plan.normMultiple === undefined ? {} : { normMultiple: plan.normMultiple }),
    ...(Object.keys(plan.train).length === 0 ? {} : { train: plan.train }),
  };
  let draft = await client.createJob({ spec: plan.spec, settings, ...(plan.weights ? {} : { seed: plan.seed }) });
  if (plan.weights) draft = await client.uploadWeights(draft.draftId, plan.weights);
  draft = await client.uploadValidation(draft.draftId, plan.validation.upload);
  if (draft.status !== "ready" || !draft.modelHash) {
    throw new QuackError("DRAFT_INCOMPLETE", `The orchestrator holds draft ${draft.draftId} as '${draft.status}' after the uploads.`, {
      fix: "Run `quackmesh job create` again; nothing was spent.",
    });
  }
  if (draft.evaluator.toLowerCase() !== checked.evaluator.toLowerCase()) {
    throw new QuackError("WRONG_ORCHESTRATOR", `The draft names evaluator ${draft.evaluator}, /api/info names ${checked.evaluator}.`, {
      fix: "The orchestrator changed its evaluator key while uploading; run `quackmesh job create` again.",
    });
  }
  const modelHash = draft.modelHash;
  emit({ event: "uploaded", draftId: draft.draftId, modelHash, validationSamples: draft.validationSamples ?? plan.validation.samples });
  await opts.beforeEscrow?.({ draftId: draft.draftId, modelHash });

  const pool = contracts.trainingPool;
  const poolAddress = await pool.getAddress();
  const allowance = (await contracts.duck.getFunction("allowance")(signer.address, poolAddress)) as bigint;
  if (allowance < plan.reward) {
    const approved = await sendTx(contracts.duck, "approve", [poolAddress, plan.reward]);
    emit({ event: "approved", txHash: approved.hash, amount: plan.reward });
  }
  const latest = await provider.getBlock("latest");
  const deadline = Number(latest?.timestamp ?? Math.floor(Date.now() / 1000)) + plan.deadlineSeconds;
  const terms = {
    modelHash,
    totalRewardPool: plan.reward,
    roundBudget: plan.roundBudget,
    maxPerContributor: plan.maxPerContributor,
    flatPerUpdate: plan.flatPerUpdate,
    rounds: plan.rounds,
    accuracyThresholdBps: plan.thresholdBps,
    evaluator: checked.evaluator,
    deadline,
    claimWindow: plan.claimWindow ?? defaultClaimWindow(deps.chainId),
  };
  const receipt = await sendTx(pool, "createTrainingJob", [terms]);
  const created = await eventFromReceipt(pool, receipt, "TrainingJobCreated");
  const jobId = Number(created.args.jobId);
  emit({ event: "escrowed", jobId, txHash: receipt.hash, modelHash, deadline });

  const job = await waitForActivation(client, { jobId, modelHash, requester: signer.address, txHash: receipt.hash }, opts);
  emit({ event: "activated", jobId, currentRound: job.currentRound, rounds: job.rounds });
  return { jobId, txHash: receipt.hash, modelHash, draftId: draft.draftId, evaluator: checked.evaluator, requester: signer.address, deadline, job };
}

/** The job just created on chain, as the orchestrator must hold it. */
export interface ExpectedJob {
  jobId: number;
  modelHash: string;
  requester: string;
  /** The createTrainingJob transaction. */
  txHash: string;
}

/**
 * Poll the orchestrator until it runs the job just created: the same on-chain id, model hash,
 * requester and creation transaction. An orchestrator whose store outlived a reset chain may hold
 * an older job under the same id (and, with the same seed and requester, even the same model
 * hash): that is refused at once, as is an orchestrator that reports the reset on /healthz.
 */
export async function waitForActivation(client: OrchestratorClient, expected: ExpectedJob, opts: Pick<CreateOptions, "activationTimeoutMs" | "pollMs" | "signal"> = {}): Promise<JobSummary> {
  const { jobId } = expected;
  const until = Date.now() + (opts.activationTimeoutMs ?? 120_000);
  for (;;) {
    try {
      const job = await client.getJob(jobId);
      assertSameJob(client.baseUrl, job, expected);
      return job;
    } catch (err) {
      if (!isQuackError(err) || !["JOB_NOT_FOUND", "ORCHESTRATOR_UNREACHABLE"].includes(err.code)) throw err;
      // An orchestrator that lost its chain will never activate the job: say so now, not at the timeout.
      if (err.code === "JOB_NOT_FOUND") await assertChainCurrent(client);
      if (Date.now() > until) {
        throw new QuackError("ACTIVATION_TIMEOUT", `Job ${jobId} is escrowed on chain, but the orchestrator at ${client.baseUrl} has not activated it.`, {
          fix: `Check that the orchestrator's chain listener runs on this chain; \`quackmesh job status ${jobId}\` shows when it does. After the deadline \`quackmesh job cancel ${jobId}\` returns the pool.`,
          details: { jobId },
          cause: err,
        });
      }
    }
    await sleep(opts.pollMs ?? 250, opts.signal);
  }
}

/** The orchestrator's job `expected.jobId` is the one just sent, else JOB_MISMATCH naming both. */
export function assertSameJob(orchestrator: string, job: JobSummary, expected: ExpectedJob): void {
  const differs: string[] = [];
  if (job.jobId !== expected.jobId) differs.push(`id ${job.jobId}`);
  if (job.initialModelHash.toLowerCase() !== expected.modelHash.toLowerCase()) differs.push(`model ${job.initialModelHash}`);
  if (job.requester.toLowerCase() !== expected.requester.toLowerCase()) differs.push(`requester ${job.requester}`);
  if (job.chain.txHash.toLowerCase() !== expected.txHash.toLowerCase()) differs.push(`creation transaction ${job.chain.txHash}`);
  if (differs.length === 0) return;
  throw new QuackError(
    "JOB_MISMATCH",
    `The orchestrator at ${orchestrator} holds another job ${expected.jobId} (${differs.join(", ")}) than the one just created on chain ` +
      `(model ${expected.modelHash}, requester ${expected.requester}, transaction ${expected.txHash}): its store outlived a chain reset, or it serves another chain.`,
    {
      fix:
        `The orchestrator's operator restarts \`quackmesh serve\` with a fresh --data-dir on this chain's deployment. ` +
        `Job ${expected.jobId}'s pool stays escrowed on chain: after its deadline \`quackmesh job cancel ${expected.jobId}\` returns it.`,
      details: { expected, found: { jobId: job.jobId, modelHash: job.initialModelHash, requester: job.requester, txHash: job.chain.txHash, status: job.status } },
    },
  );
}

/** Throws the orchestrator's CHAIN_RESET when its /healthz reports one; any other answer passes. */
async function assertChainCurrent(client: OrchestratorClient): Promise<void> {
  try {
    await client.health();
  } catch (err) {
    if (isQuackError(err) && err.code === "CHAIN_RESET") throw err;
  }
}
