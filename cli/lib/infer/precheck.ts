/**
 * Everything `quackmesh infer` can check before it spends anything: the orchestrator (reachable,
 * same chain and InferencePool), the training job and its model, the input against the model's
 * input size and the orchestrator's limit, and the requester's DUCK and ETH.
 */
import type { Provider, Wallet } from "ethers";
import { inputFeatures, outputCount } from "../../../native/index.js";
import type { InferenceInfoReply, JobDetail, OrchestratorClient } from "../../../orchestrator/client.js";
import { QuackError } from "../../../protocol/errors.js";
import type { Contracts } from "../../../protocol/chain/contracts.js";
import { formatAmount } from "../../../protocol/chain/units.js";
import { loadInferenceInput, type InferenceInput } from "./input.js";
import { faucetHint } from "../chain/wallet.js";

/** What running inference needs: the requester's wallet on a chain with the deployment, and the orchestrator. */
export interface InferDeps {
  signer: Wallet;
  provider: Provider;
  contracts: Contracts;
  chainId: number;
  client: OrchestratorClient;
}

export interface InferPlan {
  /** Training job whose model answers. */
  jobId: number;
  /** --input path. */
  input: string;
  /** DUCK wei to escrow (ignored with resume: the escrow exists). */
  maxPayment: bigint;
  /** Where the predictions go (JSON). */
  out: string;
  /** An inference job escrowed earlier, to run (again) instead of escrowing a new one. */
  resume?: number;
  /** Divide the input CSV's features by this (--scale); absent: as written. */
  scale?: number;
}

export interface Prechecked {
  info: InferenceInfoReply;
  job: JobDetail;
  /** Rounds of the job that closed: 0 means its model is still the initial one. */
  roundsClosed: number;
  /** What the requester should know before paying (untrained model, raw-looking pixels). */
  warnings: string[];
  input: InferenceInput;
  poolAddress: string;
  duck: bigint;
  eth: bigint;
}

// Gas an approve, createInferenceJob and settle stay under, with room: checked against the ETH balance.
const INFER_GAS = 400_000n;

export async function precheckInference(plan: InferPlan, deps: InferDeps): Promise<Prechecked> {
  const { client, contracts, signer, provider } = deps;
  const info = await client.inferenceInfo();
  if (info.chainId !== deps.chainId) {
    throw new QuackError("WRONG_ORCHESTRATOR", `The orchestrator at ${client.baseUrl} serves chain id ${info.chainId}, but this wallet is on chain id ${deps.chainId}.`, {
      fix: "Point --orchestrator at the orchestrator of this chain, or --network/--rpc at the orchestrator's chain.",
    });
  }
  const poolAddress = await contracts.inferencePool.getAddress();
  if (!info.inferencePool || info.inferencePool.toLowerCase() !== poolAddress.toLowerCase()) {
    throw new QuackError("WRONG_ORCHESTRATOR", `The orchestrator at ${client.baseUrl} reads InferencePool ${info.inferencePool ?? "(none)"}, but the deployment here is ${poolAddress}.`, {
      fix: "Use the orchestrator of this deployment, or the deployments file it was started with (QUACKMESH_DEPLOYMENTS).",
    });
  }
  const job = await client.getJob(plan.jobId);
  const warnings: string[] = [];
  const roundsClosed = job.history.filter((r) => r.status === "closed").length;
  if (roundsClosed === 0) warnings.push(untrainedWarning(job));
  const regressionOutputs = job.spec.loss === "mse" ? outputCount(job.spec) : 0;
  const input = await loadInferenceInput(plan.input, inputFeatures(job.spec), { scale: plan.scale, warn: (w) => warnings.push(w) }, regressionOutputs);
  const bytes = input.count * input.features * 4;
  if (bytes > info.inputBytes) {
    throw new QuackError("INPUT_TOO_LARGE", `${input.source} holds ${input.count} samples (${bytes} bytes as float32); the orchestrator accepts at most ${info.inputBytes} bytes per job.`, {
      fix: `Split the input into parts of at most ${Math.floor(info.inputBytes / (input.features * 4))} samples and run one job for each.`,
    });
  }
  const me = signer.address;
  const [duck, eth, fees] = await Promise.all([
    contracts.duck.getFunction("balanceOf")(me) as Promise<bigint>,
    provider.getBalance(me),
    provider.getFeeData(),
  ]);
  if (plan.resume === undefined && duck < plan.maxPayment) {
    throw new QuackError("NOT_ENOUGH_DUCK", `${me} holds ${formatAmount(duck)} DUCK; the escrow needs ${formatAmount(plan.maxPayment)} DUCK.`, {
      fix: `Lower --max-payment, or get more DUCK for this wallet (on the local chain: \`${faucetHint(me, plan.maxPayment - duck)}\`).`,
      details: { address: me, balance: duck.toString(), needed: plan.maxPayment.toString() },
    });
  }
  const gasPrice = fees.maxFeePerGas ?? fees.gasPrice ?? 0n;
  if (eth < INFER_GAS * gasPrice) {
    throw new QuackError("NO_FUNDS", `${me} holds ${formatAmount(eth)} ETH; escrowing and settling need about ${formatAmount(INFER_GAS * gasPrice)} ETH for gas.`, {
      fix: `Fund this address with ETH (on the local chain: \`${faucetHint(me, 0n)}\`).`,
    });
  }
  return { info, job, roundsClosed, warnings, input, poolAddress, duck, eth };
}

/** Paying for the answers of weights nobody trained deserves a word first. */
function untrainedWarning(job: JobDetail): string {
  const where = job.status === "active" ? `round ${job.currentRound} of rounds 0–${job.rounds - 1} is open` : "it ended before any round closed";
  return `Job ${job.jobId} has not closed any round (${where}): its model is the initial, untrained one and the predictions will be close to chance. ` +
    `To pay for a trained model, wait until a round closed (quackmesh job watch ${job.jobId}).`;
}
