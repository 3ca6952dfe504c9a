/**
 * A job trained on rented machines: `job create --cluster N --hours H --train DIR` (and
 * `rent --job ID --train DIR` for a job that exists). The SSH key of the rentals is made for the
 * job and handed, signed, to the orchestrator with the training data; the machines are rented
 * tagged with the job id, among those the orchestrator has fresh liveness records of, and name
 * the orchestrator (its evaluator address) as arbiter: it watches the workers' heartbeats, and
 * its signed downtime statement refunds the time a machine did not serve. The orchestrator's
 * cluster service deploys the workers. Every check that can refuse runs before anything is spent.
 */
import { readFile } from "node:fs/promises";
import type { Contract, Provider } from "ethers";
import type { ClusterReply, ClusterTarget, OrchestratorClient } from "../../../orchestrator/client.js";
import type { ModelSpec } from "../../../native/types.js";
import { QuackError } from "../../../protocol/errors.js";
import { formatAmount } from "../../../protocol/chain/units.js";
import type { TrainHyperparams } from "../../../protocol/train.js";
import { parsePrice, parseTrainFlags, parseWhole } from "../flags.js";
import { filterMachines, readMarket, type MarketMachine } from "../market/marketplace.js";
import { readLiveness, withLiveness } from "../market/liveness.js";
import { rentMachines, waitForAcks, type RentEvent, type RentedMachine } from "../market/renter.js";
import { ensureKeyPair, formatPublicKey, type KeyPairFiles } from "../../../protocol/market/sshKeys.js";
import { readValidation, type JobPlan } from "./params.js";
import { parseScale } from "../data/scale.js";
import { sleep } from "./wait.js";

export interface ClusterInput {
  cluster: string;
  hours: string;
  train: string;
  maxPrice?: string;
  epochs?: string;
  batch?: string;
  lr?: string;
  momentum?: string;
  /** Divide the training CSV's features by this (--scale, as for the validation set). */
  scale?: string;
}

export interface ClusterPlan {
  machines: number;
  hours: number;
  /** DUCK wei per hour. */
  maxPrice?: bigint;
  train: JobPlan["validation"];
  settings: TrainHyperparams;
}

function bad(message: string, fix: string): QuackError {
  return new QuackError("BAD_ARGUMENT", message, { fix });
}

/** Check the cluster flags and read the training data (against the model spec); nothing leaves this machine. */
export async function planCluster(input: ClusterInput, spec: ModelSpec): Promise<ClusterPlan> {
  const machines = parseWhole(input.cluster, "--cluster", 1, 1000);
  const hours = parseWhole(input.hours, "--hours", 1, 0xffffffff);
  const maxPrice = input.maxPrice === undefined ? undefined : parsePrice(input.maxPrice, "--max-price");
  const settings = parseTrainFlags(input);
  let train: JobPlan["validation"];
  try {
    train = await readValidation(input.train, spec, input.scale === undefined ? {} : { scale: parseScale(input.scale) });
  } catch (err) {
    // The same reader as the validation set; its messages name the training data here.
    const e = err as QuackError;
    const message = String(e.message).replace(/^Validation set: /, "").replaceAll("validation set", "training data");
    throw new QuackError(e.code ?? "BAD_DATA", `Training data: ${message}`, { fix: e.fix, cause: err });
  }
  if (train.samples < machines) {
    throw new QuackError("BAD_DATA", `The training data ${input.train} holds ${train.samples} samples, fewer than the ${machines} machines to share it.`, {
      fix: "Rent fewer machines or pass more training data.",
    });
  }
  return { machines, hours, maxPrice, train, settings };
}

/** Marks the machines the orchestrator at `client` has no fresh liveness record of as stale (never rented). */
export function clusterLiveness(client: OrchestratorClient, marketplace: Contract, provider: Provider): (machines: MarketMachine[]) => Promise<MarketMachine[]> {
  return async (machines) => {
    const target = { url: client.baseUrl, chainId: (await provider.getNetwork()).chainId, marketplace: await marketplace.getAddress() };
    return withLiveness(machines, await readLiveness(target, new Map(machines.map((m) => [m.machineId, m.provider]))));
  };
}

/**
 * Refuse before spending when the market has too few matching machines (live ones, given
 * `liveness`) or the wallet cannot pay the reward pool plus the rent of the cheapest matches.
 */
export async function precheckCluster(
  c: { marketplace: Contract; duck: Contract },
  provider: Provider,
  renter: string,
  fromBlock: number,
  plan: ClusterPlan,
  alsoNeeded: bigint,
  liveness?: (machines: MarketMachine[]) => Promise<MarketMachine[]>,
): Promise<{ rent: bigint }> {
  const onChain = await readMarket(c.marketplace, provider, fromBlock);
  const market = liveness ? await liveness(onChain) : onChain;
  const matches = filterMachines(market, { maxPrice: plan.maxPrice, hours: plan.hours });
  if (matches.length < plan.machines) {
    throw new QuackError("TOO_FEW_MACHINES", `Only ${matches.length} available machine${matches.length === 1 ? "" : "s"} match; the cluster needs ${plan.machines}.`, {
      fix: "Lower --cluster, raise --max-price or lower --hours, or wait for machines (`quackmesh market list`). Nothing was spent.",
      details: { matched: matches.length, requested: plan.machines },
    });
  }
  const rent = matches.slice(0, plan.machines).reduce((s, m) => s + m.pricePerHour * BigInt(plan.hours), 0n);
  const have = (await c.duck.getFunction("balanceOf")(renter)) as bigint;
  if (have < rent + alsoNeeded) {
    throw new QuackError("NOT_ENOUGH_DUCK", `${renter} holds ${formatAmount(have)} DUCK; the pool (${formatAmount(alsoNeeded)}) and ${plan.machines} machines for ${plan.hours} h (${formatAmount(rent)}) need ${formatAmount(rent + alsoNeeded)} DUCK.`, {
      fix: `Get more DUCK for this wallet (on the local chain: \`quackmesh wallet faucet --to ${renter} --amount ${formatAmount(rent + alsoNeeded - have)}\`), or rent fewer machines or hours.`,
      details: { have: have.toString(), need: (rent + alsoNeeded).toString() },
    });
  }
  return { rent };
}

/** Make (or reuse) the cluster's SSH key and hand it, with the training data, to the orchestrator. */
export async function uploadCluster(client: OrchestratorClient, target: ClusterTarget, keyFile: string, plan: ClusterPlan): Promise<KeyPairFiles> {
  const pair = await ensureKeyPair(keyFile, "quackmesh-cluster");
  await client.uploadClusterKey(target, { privateKey: await readFile(pair.privateKeyFile, "utf8"), machines: plan.machines, train: plan.settings });
  await client.uploadTrainData(target, plan.train.upload);
  return pair;
}

export type ClusterEvent =
  | RentEvent
  | { event: "acknowledged"; acknowledged: string[]; pending: string[] }
  | { event: "deployed"; machines: ClusterReply["machines"] };

/** Statuses a machine settles in once the orchestrator is done deploying it. */
const SETTLED = new Set(["running", "done", "failed", "ended"]);

/**
 * Rent the machines for `jobId` with the cluster key (live machines only, the orchestrator named
 * as arbiter), wait for the providers to acknowledge and for the orchestrator to start a worker
 * on each (or give up on it); resolves with the cluster.
 */
export async function rentCluster(
  deps: { marketplace: Contract; duck: Contract; provider: Provider; renter: string; fromBlock: number; client: OrchestratorClient },
  jobId: number,
  pair: KeyPairFiles,
  plan: ClusterPlan,
  opts: { timeoutMs?: number; pollMs?: number; onEvent?: (e: ClusterEvent) => void } = {},
): Promise<{ rentals: RentedMachine[]; cluster: ClusterReply; pending: bigint[] }> {
  const emit = opts.onEvent ?? (() => {});
  // The orchestrator that runs the cluster watches its heartbeats: it is the arbiter.
  const arbiter = (await deps.client.info()).evaluator;
  const rentals = await rentMachines(
    { marketplace: deps.marketplace, duck: deps.duck },
    deps.provider,
    deps.renter,
    deps.fromBlock,
    {
      count: plan.machines,
      hours: plan.hours,
      jobId: BigInt(jobId),
      sshPublicKey: formatPublicKey(pair.publicKey),
      filter: { maxPrice: plan.maxPrice },
      arbiter,
      liveness: clusterLiveness(deps.client, deps.marketplace, deps.provider),
    },
    emit,
  );
  const until = Date.now() + (opts.timeoutMs ?? 120_000);
  const acks = await waitForAcks(deps.marketplace, rentals.map((r) => r.rentalId), { timeoutMs: Math.max(0, until - Date.now()), pollMs: opts.pollMs });
  emit({ event: "acknowledged", acknowledged: acks.acknowledged.map(String), pending: acks.pending.map(String) });
  const wanted = new Set(acks.acknowledged.map(String));
  for (;;) {
    const cluster = await deps.client.cluster(jobId);
    const ours = cluster.machines.filter((m) => wanted.has(String(m.rentalId)));
    if ((ours.length === wanted.size && ours.every((m) => SETTLED.has(m.status))) || Date.now() > until) {
      emit({ event: "deployed", machines: ours });
      return { rentals, cluster, pending: acks.pending };
    }
    await sleep(opts.pollMs ?? 500);
  }
}
