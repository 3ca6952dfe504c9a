/**
 * `quackmesh infer --cluster N` (or `--rentals IDS`): paid inference on rented machines. Every
 * check that can refuse runs before anything is spent; then the machines are rented (jobId 0:
 * they serve no training job) and acknowledged, the escrow goes into InferencePool naming the
 * orchestrator, and the orchestrator runs the input's parts on the machines' workers with the
 * rentals' SSH key and signs one usage statement (a line per provider: the compute time its
 * workers measured at its rentals' price per hour, then its own fee). The statement is checked
 * here (statement.ts) and settled; the rentals made here are ended for the refund of their
 * unserved time. Whatever fails after the escrow, what was returned is paid and the rest refunded.
 */
import { performance } from "node:perf_hooks";
import { readFile } from "node:fs/promises";
import type { Provider, Wallet } from "ethers";
import type { ClusterRunReply, OrchestratorClient, RentalUsage } from "../../../orchestrator/client.js";
import type { Contracts } from "../../../protocol/chain/contracts.js";
import { formatAmount } from "../../../protocol/chain/units.js";
import { QuackError, isQuackError } from "../../../protocol/errors.js";
import { ensureKeyPair, formatPublicKey } from "../../../protocol/market/sshKeys.js";
import { sendTx } from "../chain/tx.js";
import { faucetHint } from "../chain/wallet.js";
import { chainNow, filterMachines, getRentalInfo, readMarket, type MarketMachine } from "../market/marketplace.js";
import { endRental, rentMachines, waitForAcks, type RentEvent } from "../market/renter.js";
import { sleep } from "../job/wait.js";
import { eventArgs } from "./chain.js";
import { precheckInference, type Prechecked } from "./precheck.js";
import { predictionsOf, previewOf, writePredictions } from "./predictions.js";
import { checkClusterStatement, type CheckedStatement, type RentalLine } from "./statement.js";

export interface ClusterInferPlan {
  jobId: number;
  input: string;
  out: string;
  /** DUCK wei escrowed in InferencePool for the providers' compute time. */
  maxPayment: bigint;
  /** Machines to rent (with `hours`); 0 with `rentals`. */
  machines: number;
  hours: number;
  /** DUCK wei per hour at most, for machines rented here. */
  maxPrice?: bigint;
  /** Active rentals of this wallet to use instead of renting (left running afterwards). */
  rentals?: bigint[];
  /** The rentals' SSH private key (made when absent); unused with trainingCluster. */
  sshKeyFile: string;
  /** Run on the training job's own cluster (its live rentals; the orchestrator holds their key). */
  trainingCluster?: boolean;
  /** Rows per part at most. */
  partRows: number;
  /** Divide the input CSV's features by this (--scale); absent: as written. */
  scale?: number;
  /** How long the providers have to acknowledge new rentals. */
  ackTimeoutMs?: number;
}

export interface ClusterInferDeps {
  signer: Wallet;
  provider: Provider;
  contracts: Contracts;
  chainId: number;
  client: OrchestratorClient;
}

export interface EndedRental {
  rentalId: string;
  refund: bigint;
  earned: bigint;
  txHash: string;
}

export type ClusterInferEvent =
  | { event: "warning"; warning: string }
  | { event: "checked"; requester: string; duck: bigint; jobId: number; modelHash: string; orchestrator: string; samples: number; labelled: boolean; machines: number; rent: bigint }
  | RentEvent
  | { event: "acknowledged"; acknowledged: string[]; pending: string[] }
  | { event: "approved"; txHash: string; amount: bigint }
  | { event: "escrowed"; inferenceJobId: number; txHash: string; maxPayment: bigint; modelHash: string; orchestrator: string }
  | { event: "started"; inferenceJobId: number; parts: number; machines: number }
  | { event: "connected"; rentalId: string; provider: string }
  | { event: "part"; part: number; rows: number; rentalId: string; computeMs: number; rowsDone: number; rowsTotal: number }
  | { event: "machine-failed"; rentalId: string; provider: string; code: string; message: string; requeued: number | null }
  | { event: "predicted"; count: number; out: string; accuracy?: number }
  | { event: "settled"; inferenceJobId: number; txHash: string; paid: bigint; refund: bigint; providers: string[]; amounts: bigint[] }
  | { event: "ended"; rental: EndedRental }
  | { event: "not-ended"; rentalId: string; reason: string };

export interface ClusterInferResult {
  inferenceJobId: number;
  jobId: number;
  modelHash: string;
  /** The orchestrator that ran the parts and signed the statement. */
  orchestrator: string;
  count: number;
  classes: number;
  out: string;
  rentals: RentalUsage[];
  /** The orchestrator's fee line. */
  fee: bigint;
  maxPayment: bigint;
  paid: bigint;
  refund: bigint;
  settleTx: string;
  /** Rentals made for this run and ended; rentals passed with --rentals keep running. */
  ended: EndedRental[];
  failedMachines: Array<{ rentalId: string; provider: string; code: string; message: string }>;
  accuracy?: number;
  /** A regression's MSE and R² against the input's targets, when it has them. */
  regression?: { mse: number; r2: number };
  /** What the model predicts: classes, or a regression's outputs ("loss":"mse"). */
  predicts: "classes" | "outputs";
  preview: number[];
}

// Gas of approve, createInferenceJob, settle and a rent + end per machine stays under these.
const BASE_GAS = 400_000n;
const GAS_PER_MACHINE = 400_000n;

const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

interface Checked extends Prechecked {
  /** Machines to rent, cheapest first (none with --rentals). */
  market: MarketMachine[];
  /** The rentals of --rentals. */
  given: RentalLine[];
  rent: bigint;
}

/** The rentals of --rentals: this wallet's, active with time left, on a listed machine. */
async function givenRentals(deps: ClusterInferDeps, ids: bigint[], market: MarketMachine[]): Promise<RentalLine[]> {
  const now = await chainNow(deps.provider);
  const out: RentalLine[] = [];
  for (const id of ids) {
    const refuse = (why: string) =>
      new QuackError("RENTAL_NOT_USABLE", `Rental ${id} ${why}.`, { fix: "Pass active rentals of this wallet (`quackmesh rent list`), or --cluster N to rent machines.", details: { rentalId: id.toString() } });
    const r = await getRentalInfo(deps.contracts.marketplace, id).catch((err: unknown) => {
      throw isQuackError(err) && err.details?.error === "UnknownRental" ? refuse("does not exist") : err;
    });
    if (r.status === "none") throw refuse("does not exist");
    if (!same(r.renter, deps.signer.address)) throw refuse(`was rented by ${r.renter}, not by ${deps.signer.address}`);
    if (r.status !== "active" || r.endsAt <= now) throw refuse(`is ${r.status === "active" ? "over" : r.status}, not active`);
    const listing = market.find((m) => m.machineId === r.machineId);
    if (!listing) throw refuse(`runs on machine ${r.machineId}, which has no listing`);
    out.push({ rentalId: id.toString(), provider: listing.provider, pricePerHour: r.amount / BigInt(r.hours) });
  }
  return out;
}

async function check(plan: ClusterInferPlan, deps: ClusterInferDeps): Promise<Checked> {
  // The orchestrator, the job, its model, the input and the ETH as for `infer`; the DUCK, rent included, below.
  const pre = await precheckInference({ jobId: plan.jobId, input: plan.input, maxPayment: 0n, out: plan.out, scale: plan.scale }, deps);
  const all = await readMarket(deps.contracts.marketplace, deps.provider, deps.contracts.deployment.block);
  let market: MarketMachine[] = [];
  let given: RentalLine[] = [];
  let rent = 0n;
  if (plan.rentals) given = await givenRentals(deps, plan.rentals, all);
  else {
    market = filterMachines(all, { maxPrice: plan.maxPrice, hours: plan.hours });
    if (market.length < plan.machines) {
      throw new QuackError("TOO_FEW_MACHINES", `Only ${market.length} available machine${market.length === 1 ? "" : "s"} match; the inference needs ${plan.machines}.`, {
        fix: "Lower --cluster, raise --max-price or lower --hours, or wait for machines (`quackmesh market list`). Nothing was spent.",
        details: { matched: market.length, requested: plan.machines },
      });
    }
    rent = market.slice(0, plan.machines).reduce((s, m) => s + m.pricePerHour * BigInt(plan.hours), 0n);
  }
  const me = deps.signer.address;
  if (pre.duck < rent + plan.maxPayment) {
    throw new QuackError("NOT_ENOUGH_DUCK", `${me} holds ${formatAmount(pre.duck)} DUCK; the escrow (${formatAmount(plan.maxPayment)}) and the rent (${formatAmount(rent)}) need ${formatAmount(rent + plan.maxPayment)} DUCK.`, {
      fix: `Lower --max-payment, rent fewer machines or hours, or get more DUCK (on the local chain: \`${faucetHint(me, rent + plan.maxPayment - pre.duck)}\`). Nothing was spent.`,
      details: { have: pre.duck.toString(), need: (rent + plan.maxPayment).toString() },
    });
  }
  const fees = await deps.provider.getFeeData();
  const gas = (BASE_GAS + GAS_PER_MACHINE * BigInt(plan.machines || given.length)) * (fees.maxFeePerGas ?? fees.gasPrice ?? 0n);
  if (pre.eth < gas) {
    throw new QuackError("NO_FUNDS", `${me} holds ${formatAmount(pre.eth)} ETH; renting, escrowing and settling need about ${formatAmount(gas)} ETH for gas.`, {
      fix: `Fund ${me} with ETH (on the local chain: \`${faucetHint(me)}\`). Nothing was spent.`,
    });
  }
  return { ...pre, market, given, rent };
}

/** Rent the machines, wait for the acknowledgements; the acknowledged ones. */
async function rentForInference(plan: ClusterInferPlan, deps: ClusterInferDeps, publicKey: string, emit: (e: ClusterInferEvent) => void): Promise<{ machines: RentalLine[]; rented: bigint[] }> {
  const rentals = await rentMachines(
    { marketplace: deps.contracts.marketplace, duck: deps.contracts.duck },
    deps.provider,
    deps.signer.address,
    deps.contracts.deployment.block,
    { count: plan.machines, hours: plan.hours, jobId: 0n, sshPublicKey: publicKey, filter: { maxPrice: plan.maxPrice } },
    emit,
  );
  const acks = await waitForAcks(deps.contracts.marketplace, rentals.map((r) => r.rentalId), { timeoutMs: plan.ackTimeoutMs ?? 120_000 });
  emit({ event: "acknowledged", acknowledged: acks.acknowledged.map(String), pending: acks.pending.map(String) });
  for (const id of acks.pending) {
    emit({ event: "not-ended", rentalId: String(id), reason: `not acknowledged in time; \`quackmesh rent cancel ${id}\` refunds it once the acknowledgement window closed` });
  }
  const machines = rentals
    .filter((r) => acks.acknowledged.includes(r.rentalId))
    .map((r) => ({ rentalId: r.rentalId.toString(), provider: r.provider, pricePerHour: r.pricePerHour }));
  return { machines, rented: acks.acknowledged };
}

async function escrow(deps: ClusterInferDeps, c: Checked, maxPayment: bigint, emit: (e: ClusterInferEvent) => void): Promise<number> {
  const { duck, inferencePool: pool } = deps.contracts;
  const allowance = (await duck.getFunction("allowance")(deps.signer.address, c.poolAddress)) as bigint;
  if (allowance < maxPayment) {
    const approved = await sendTx(duck, "approve", [c.poolAddress, maxPayment]);
    emit({ event: "approved", txHash: approved.hash, amount: maxPayment });
  }
  const receipt = await sendTx(pool, "createInferenceJob", [c.job.modelHash, maxPayment, c.info.orchestrator]);
  const id = Number(eventArgs(pool, receipt, "InferenceJobCreated").jobId);
  emit({ event: "escrowed", inferenceJobId: id, txHash: receipt.hash, maxPayment, modelHash: c.job.modelHash, orchestrator: c.info.orchestrator });
  return id;
}

/** Machine states of a training cluster that can take inference parts. */
const LIVE_TRAINING = new Set(["ready", "running", "done"]);

/** The live rentals of the training job's cluster, as the orchestrator shows them. */
async function trainingRentals(client: OrchestratorClient, jobId: number): Promise<bigint[]> {
  const { machines } = await client.cluster(jobId);
  const live = machines.filter((m) => m.rentalId !== null && LIVE_TRAINING.has(m.status)).map((m) => BigInt(m.rentalId!));
  if (live.length === 0) {
    throw new QuackError("TOO_FEW_MACHINES", `Job ${jobId} has no live machine in a training cluster (${machines.length ? machines.map((m) => `rental ${m.rentalId}: ${m.status}`).join(", ") : "no cluster"}).`, {
      fix: "Rent machines for the inference with --cluster N instead. Nothing was spent.",
    });
  }
  return live;
}

/**
 * Poll the run until it is over, reporting each machine's start and failure and each part. A run
 * the orchestrator lost in a restart (it signed nothing) is started again, twice at most.
 */
async function follow(client: OrchestratorClient, id: number, first: ClusterRunReply, emit: (e: ClusterInferEvent) => void, pollMs: number, restart: () => Promise<ClusterRunReply>): Promise<ClusterRunReply> {
  let seen = new Map<string, string>();
  let answered = 0;
  let rowsDone = 0;
  let misses = 0;
  let restarts = 0;
  for (let run = first; ; ) {
    for (const m of run.machines) {
      if (seen.get(m.rentalId) === m.state) continue;
      seen.set(m.rentalId, m.state);
      if (m.state === "serving") emit({ event: "connected", rentalId: m.rentalId, provider: m.provider });
      if (m.state === "failed") emit({ event: "machine-failed", rentalId: m.rentalId, provider: m.provider, code: m.error?.code ?? "MACHINE_FAILED", message: m.error?.message ?? "", requeued: m.requeued ?? null });
    }
    for (const a of run.answered.slice(answered)) {
      rowsDone += a.rows;
      emit({ event: "part", ...a, rowsDone, rowsTotal: run.rowsTotal });
    }
    answered = run.answered.length;
    if (run.state !== "running") return run;
    await sleep(pollMs);
    try {
      run = await client.clusterInference(id);
      misses = 0;
    } catch (err) {
      if (isQuackError(err) && err.details?.lost === true && restarts++ < 2) {
        emit({ event: "warning", warning: `${err.message} Running it again.` });
        [run, seen, answered, rowsDone] = [await restart(), new Map(), 0, 0];
        continue;
      }
      // A brief outage of the orchestrator is waited out.
      if (!isQuackError(err) || err.code === "INFERENCE_JOB_NOT_FOUND" || ++misses > 30) throw err;
    }
  }
}

async function settle(deps: ClusterInferDeps, id: number, s: CheckedStatement): Promise<{ txHash: string; paid: bigint; refund: bigint }> {
  const pool = deps.contracts.inferencePool;
  const receipt = await sendTx(pool, "settle", [id, s.providers, s.amounts, s.signature]);
  const ev = eventArgs(pool, receipt, "InferenceSettled");
  return { txHash: receipt.hash, paid: BigInt(ev.paid as bigint), refund: BigInt(ev.refund as bigint) };
}

/** End the rentals made for this run (one at a time); a failure is reported, not thrown. */
async function endAll(deps: ClusterInferDeps, ids: bigint[], emit: (e: ClusterInferEvent) => void): Promise<EndedRental[]> {
  const ended: EndedRental[] = [];
  for (const id of ids) {
    try {
      const e = await endRental(deps.contracts.marketplace, id);
      const rental = { rentalId: String(id), refund: e.refund, earned: e.earned, txHash: e.txHash };
      ended.push(rental);
      emit({ event: "ended", rental });
    } catch (err) {
      emit({ event: "not-ended", rentalId: String(id), reason: `${(err as Error).message} (end it with \`quackmesh rent end ${id}\`)` });
    }
  }
  return ended;
}

/** A failure after the escrow names the job and how to get the DUCK back. */
function afterEscrow(err: unknown, id: number): unknown {
  if (!isQuackError(err) || err.details?.inferenceJobId !== undefined) return err;
  return new QuackError(err.code, `${err.message} (inference job ${id} is escrowed).`, {
    fix: `${err.fix ? err.fix + " " : ""}If no statement was settled, \`quackmesh infer --reclaim ${id}\` returns the escrow 24 h after it was made.`,
    details: { ...err.details, inferenceJobId: id },
    cause: err,
  });
}

export async function runClusterInference(
  plan: ClusterInferPlan,
  deps: ClusterInferDeps,
  opts: { onEvent?: (e: ClusterInferEvent) => void; pollMs?: number } = {},
): Promise<ClusterInferResult> {
  const emit = opts.onEvent ?? (() => {});
  if (plan.trainingCluster) plan = { ...plan, machines: 0, rentals: await trainingRentals(deps.client, plan.jobId) };
  const pair = plan.trainingCluster ? undefined : await ensureKeyPair(plan.sshKeyFile);
  // Empty: the orchestrator uses the training cluster's key, which it holds.
  const privateKey = pair ? await readFile(pair.privateKeyFile, "utf8") : "";
  const c = await check(plan, deps);
  for (const warning of c.warnings) emit({ event: "warning", warning });
  const machineCount = plan.rentals ? c.given.length : plan.machines;
  emit({ event: "checked", requester: deps.signer.address, duck: c.duck, jobId: plan.jobId, modelHash: c.job.modelHash, orchestrator: c.info.orchestrator, samples: c.input.count, labelled: c.input.labels !== undefined, machines: machineCount, rent: c.rent });

  let rented: bigint[] = [];
  try {
    let machines = c.given;
    if (!plan.rentals) ({ machines, rented } = await rentForInference(plan, deps, formatPublicKey(pair!.publicKey), emit));
    if (machines.length === 0) {
      throw new QuackError("INFERENCE_INCOMPLETE", "No rented machine acknowledged its rental in time; nothing was escrowed.", { fix: "Try again later or with other machines (`quackmesh market list`)." });
    }
    const id = await escrow(deps, c, plan.maxPayment, emit);
    let statement: CheckedStatement;
    let run: ClusterRunReply;
    try {
      const started = performance.now();
      const call = { inferenceJobId: id, jobId: plan.jobId, x: c.input.x, count: c.input.count, rentals: machines.map((m) => m.rentalId), privateKey, partRows: plan.partRows };
      const first = await deps.client.startClusterInference(call);
      emit({ event: "started", inferenceJobId: id, parts: first.parts, machines: first.machines.length });
      run = await follow(deps.client, id, first, emit, opts.pollMs ?? 500, () => deps.client.startClusterInference(call));
      statement = checkClusterStatement(run, {
        inferenceJobId: id, orchestrator: c.info.orchestrator, payout: c.info.payout, minimumFee: BigInt(c.info.minimumFee), maxPayment: plan.maxPayment,
        chainId: deps.chainId, inferencePool: c.poolAddress, rentals: machines, elapsedMs: performance.now() - started, count: c.input.count,
      });
    } catch (err) {
      throw afterEscrow(err, id);
    }
    let written: { file: string; accuracy?: number; regression?: { mse: number; r2: number }; preview: number[] } | undefined;
    let failure: unknown;
    const rentals: RentalUsage[] = run.result!.rentals.map((u) => ({ ...u, pricePerHour: BigInt(u.pricePerHour), amount: BigInt(u.amount) }));
    if (statement.probabilities) {
      try {
        const predictions = predictionsOf(statement.probabilities, statement.classes, c.job.spec.loss === "mse");
        const head = { inferenceJobId: id, jobId: plan.jobId, modelHash: c.job.modelHash, classes: statement.classes, orchestrator: c.info.orchestrator, rentals: rentals.map((u) => ({ ...u, pricePerHour: u.pricePerHour.toString(), amount: u.amount.toString() })) };
        const w = await writePredictions(plan.out, head, predictions, c.input.labels, c.input.targets);
        written = { ...w, preview: previewOf(predictions) };
        emit({ event: "predicted", count: predictions.length, out: w.file, accuracy: w.accuracy });
      } catch (err) {
        failure = err;
      }
    } else {
      failure = new QuackError("INFERENCE_INCOMPLETE", run.error?.message ?? `${statement.missingRows} of ${c.input.count} rows have no answer.`, {
        fix: `Nothing was written. Inference job ${id} is settled: the compute that was returned is paid, the rest refunded; the rentals made for it are ended. Run it again with other machines.`,
        details: { inferenceJobId: id, missingRows: statement.missingRows },
      });
    }
    // Settled whatever happened: the machines are paid for what they returned, the rest comes back now.
    const settled = await settle(deps, id, statement);
    emit({ event: "settled", inferenceJobId: id, txHash: settled.txHash, paid: settled.paid, refund: settled.refund, providers: statement.providers, amounts: statement.amounts });
    const ended = await endAll(deps, rented, emit);
    rented = [];
    if (failure !== undefined || !written) throw failure;
    const failedMachines = run.machines.filter((m) => m.state === "failed").map((m) => ({ rentalId: m.rentalId, provider: m.provider, code: m.error?.code ?? "MACHINE_FAILED", message: m.error?.message ?? "" }));
    return {
      inferenceJobId: id, jobId: plan.jobId, modelHash: c.job.modelHash, orchestrator: c.info.orchestrator, count: c.input.count, classes: statement.classes, out: written.file,
      rentals, fee: statement.amounts.at(-1)!, maxPayment: plan.maxPayment, paid: settled.paid, refund: settled.refund, settleTx: settled.txHash, ended, failedMachines,
      accuracy: written.accuracy, regression: written.regression, predicts: c.job.spec.loss === "mse" ? "outputs" : "classes", preview: written.preview,
    };
  } finally {
    // Rentals made here are not left running (and paid) because the run failed.
    if (rented.length > 0) await endAll(deps, rented, emit);
  }
}
