/**
 * `quackmesh infer --cluster N` (or `--rentals IDS`): paid inference on rented machines, driven
 * from the requester's machine. Every check that can refuse runs before anything is spent; then
 * the machines are rented (jobId 0: they serve no training job) and acknowledged, the escrow goes
 * into InferencePool, the input's parts run on the machines' workers (dispatch.ts), and one usage
 * statement (a line per provider: the compute time its workers measured at its rentals' price per
 * hour) is signed and settled; the rentals made here are ended for the refund of their unserved
 * time. Whatever fails after the escrow, what was returned is paid and the rest refunded at once.
 *
 * The statement is signed by the requester's own wallet, named as InferencePool's signer for this
 * job: a provider's InferencePool pay rests on the requester's CLI (its rent, paid through
 * ComputeMarketplace, does not).
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import type { Contract, Provider, Wallet } from "ethers";
import { inputFeatures } from "../../../native/index.js";
import type { ModelSpec } from "../../../native/types.js";
import type { OrchestratorClient } from "../../../orchestrator/client.js";
import { inferencePoolDomain, signUsage } from "../../../protocol/chain/eip712.js";
import type { Contracts } from "../../../protocol/chain/contracts.js";
import { formatAmount } from "../../../protocol/chain/units.js";
import { QuackError, isQuackError } from "../../../protocol/errors.js";
import { parseEndpoint } from "../../../protocol/market/endpoint.js";
import { ensureKeyPair, formatPublicKey } from "../../../protocol/market/sshKeys.js";
import { sendTx } from "../chain/tx.js";
import { faucetHint } from "../chain/wallet.js";
import { chainNow, filterMachines, getRentalInfo, readMarket, type MarketMachine } from "../market/marketplace.js";
import { endRental, rentMachines, waitForAcks, type RentEvent } from "../market/renter.js";
import { eventArgs } from "./chain.js";
import { dispatchParts, type DispatchEvent, type InferMachine } from "./dispatch.js";
import { loadInferenceInput } from "./input.js";
import { assemble, splitRows, usageOf, type Usage } from "./parts.js";
import { predictionsOf, previewOf, writePredictions } from "./predictions.js";

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
  /** The rentals' SSH private key (made when absent). */
  sshKeyFile: string;
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
  | { event: "checked"; requester: string; duck: bigint; jobId: number; modelHash: string; samples: number; labelled: boolean; machines: number; parts: number; rent: bigint }
  | RentEvent
  | { event: "acknowledged"; acknowledged: string[]; pending: string[] }
  | { event: "approved"; txHash: string; amount: bigint }
  | { event: "escrowed"; inferenceJobId: number; txHash: string; maxPayment: bigint; modelHash: string }
  | DispatchEvent
  | { event: "predicted"; count: number; out: string; accuracy?: number }
  | { event: "settled"; inferenceJobId: number; txHash: string; paid: bigint; refund: bigint; providers: string[]; amounts: bigint[] }
  | { event: "ended"; rental: EndedRental }
  | { event: "not-ended"; rentalId: string; reason: string };

export interface ClusterInferResult {
  inferenceJobId: number;
  jobId: number;
  modelHash: string;
  count: number;
  classes: number;
  out: string;
  usage: Usage;
  maxPayment: bigint;
  paid: bigint;
  refund: bigint;
  settleTx: string;
  /** Rentals made for this run and ended; rentals passed with --rentals keep running. */
  ended: EndedRental[];
  failedMachines: Array<{ rentalId: string; provider: string; code: string; message: string }>;
  accuracy?: number;
  preview: number[];
}

// Gas of approve, createInferenceJob, settle and a rent + end per machine stays under these.
const BASE_GAS = 400_000n;
const GAS_PER_MACHINE = 400_000n;

const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

interface Checked {
  spec: ModelSpec;
  model: Buffer;
  modelHash: string;
  x: Float32Array;
  features: number;
  count: number;
  labels?: Uint8Array;
  /** Machines to rent, cheapest first (none with --rentals). */
  market: MarketMachine[];
  /** The machines of --rentals, ready to connect. */
  given: InferMachine[];
  rent: bigint;
  duck: bigint;
}

/** A machine's SSH target from its listing: the endpoint and the host key it announced. */
function targetOf(listing: Pick<MarketMachine, "endpoint" | "specs" | "machineId">, privateKey: string): InferMachine["target"] {
  const e = parseEndpoint(listing.endpoint, `The endpoint of machine ${listing.machineId}`);
  return { host: e.host, port: e.port, username: e.user ?? "quackmesh", privateKey, hostKeyFingerprint: listing.specs.hostKey };
}

/** The rentals of --rentals: this wallet's, active with time left, on a listed machine. */
async function givenRentals(deps: ClusterInferDeps, ids: bigint[], market: MarketMachine[], privateKey: string): Promise<InferMachine[]> {
  const now = await chainNow(deps.provider);
  const out: InferMachine[] = [];
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
    out.push({ rentalId: id.toString(), provider: listing.provider, pricePerHour: r.amount / BigInt(r.hours), target: targetOf(listing, privateKey) });
  }
  return out;
}

async function check(plan: ClusterInferPlan, deps: ClusterInferDeps, privateKey: string, warn: (warning: string) => void): Promise<Checked> {
  const job = await deps.client.getJob(plan.jobId);
  const spec = job.spec as unknown as ModelSpec;
  const input = await loadInferenceInput(plan.input, inputFeatures(spec), { scale: plan.scale, warn });
  const download = await deps.client.getModel(plan.jobId);
  if (download.notModified) throw new QuackError("INTERNAL", "The orchestrator answered 304 to a model download without an etag.");
  const modelHash = "0x" + createHash("sha256").update(download.bytes).digest("hex");
  if (!same(modelHash, download.modelHash)) {
    throw new QuackError("MODEL_MISMATCH", `The model the orchestrator sent for job ${plan.jobId} hashes to ${modelHash}, not the ${download.modelHash} it names.`, {
      fix: "Nothing was spent; try again (the model may have changed during the download), or ask the orchestrator's operator.",
    });
  }
  const { marketplace, duck } = deps.contracts;
  const all = await readMarket(marketplace, deps.provider, deps.contracts.deployment.block);
  let market: MarketMachine[] = [];
  let given: InferMachine[] = [];
  let rent = 0n;
  if (plan.rentals) given = await givenRentals(deps, plan.rentals, all, privateKey);
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
  const [have, eth, fees] = await Promise.all([duck.getFunction("balanceOf")(me) as Promise<bigint>, deps.provider.getBalance(me), deps.provider.getFeeData()]);
  if (have < rent + plan.maxPayment) {
    throw new QuackError("NOT_ENOUGH_DUCK", `${me} holds ${formatAmount(have)} DUCK; the escrow (${formatAmount(plan.maxPayment)}) and the rent (${formatAmount(rent)}) need ${formatAmount(rent + plan.maxPayment)} DUCK.`, {
      fix: `Lower --max-payment, rent fewer machines or hours, or get more DUCK (on the local chain: \`${faucetHint(me, rent + plan.maxPayment - have)}\`). Nothing was spent.`,
      details: { have: have.toString(), need: (rent + plan.maxPayment).toString() },
    });
  }
  const gas = (BASE_GAS + GAS_PER_MACHINE * BigInt(plan.machines || given.length)) * (fees.maxFeePerGas ?? fees.gasPrice ?? 0n);
  if (eth < gas) {
    throw new QuackError("NO_FUNDS", `${me} holds ${formatAmount(eth)} ETH; renting, escrowing and settling need about ${formatAmount(gas)} ETH for gas.`, {
      fix: `Fund ${me} with ETH (on the local chain: \`${faucetHint(me)}\`). Nothing was spent.`,
    });
  }
  return { spec, model: download.bytes, modelHash, x: input.x, features: input.features, count: input.count, labels: input.labels, market, given, rent, duck: have };
}

/** Rent the machines, wait for the acknowledgements; the acknowledged ones, ready to connect. */
async function rentForInference(plan: ClusterInferPlan, deps: ClusterInferDeps, publicKey: string, privateKey: string, market: MarketMachine[], emit: (e: ClusterInferEvent) => void): Promise<{ machines: InferMachine[]; rented: bigint[] }> {
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
  const byMachine = new Map(market.map((m) => [m.machineId, m]));
  const machines = rentals
    .filter((r) => acks.acknowledged.includes(r.rentalId))
    .map((r) => ({ rentalId: r.rentalId.toString(), provider: r.provider, pricePerHour: r.pricePerHour, target: targetOf(byMachine.get(r.machineId) ?? { endpoint: r.endpoint, specs: { valid: false } as MarketMachine["specs"], machineId: r.machineId }, privateKey) }));
  return { machines, rented: acks.acknowledged };
}

async function escrow(deps: ClusterInferDeps, modelHash: string, maxPayment: bigint, emit: (e: ClusterInferEvent) => void): Promise<number> {
  const { duck, inferencePool: pool } = deps.contracts;
  const poolAddress = await pool.getAddress();
  const allowance = (await duck.getFunction("allowance")(deps.signer.address, poolAddress)) as bigint;
  if (allowance < maxPayment) {
    const approved = await sendTx(duck, "approve", [poolAddress, maxPayment]);
    emit({ event: "approved", txHash: approved.hash, amount: maxPayment });
  }
  // The requester signs this job's usage statement itself (see the file's comment).
  const receipt = await sendTx(pool, "createInferenceJob", [modelHash, maxPayment, deps.signer.address]);
  const id = Number(eventArgs(pool, receipt, "InferenceJobCreated").jobId);
  emit({ event: "escrowed", inferenceJobId: id, txHash: receipt.hash, maxPayment, modelHash });
  return id;
}

async function settle(deps: ClusterInferDeps, id: number, usage: Usage): Promise<{ txHash: string; paid: bigint; refund: bigint }> {
  const pool: Contract = deps.contracts.inferencePool;
  const domain = inferencePoolDomain(deps.chainId, await pool.getAddress());
  const signature = signUsage(deps.signer, domain, { jobId: id, providers: usage.providers, amounts: usage.amounts });
  const receipt = await sendTx(pool, "settle", [id, usage.providers, usage.amounts, signature]);
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

export async function runClusterInference(plan: ClusterInferPlan, deps: ClusterInferDeps, opts: { onEvent?: (e: ClusterInferEvent) => void; partTimeoutMs?: number } = {}): Promise<ClusterInferResult> {
  const emit = opts.onEvent ?? (() => {});
  const pair = await ensureKeyPair(plan.sshKeyFile);
  const privateKey = await readFile(pair.privateKeyFile, "utf8");
  const c = await check(plan, deps, privateKey, (warning) => emit({ event: "warning", warning }));
  const machineCount = plan.rentals ? c.given.length : plan.machines;
  const parts = splitRows(c.count, machineCount, plan.partRows);
  emit({ event: "checked", requester: deps.signer.address, duck: c.duck, jobId: plan.jobId, modelHash: c.modelHash, samples: c.count, labelled: c.labels !== undefined, machines: machineCount, parts: parts.length, rent: c.rent });

  let rented: bigint[] = [];
  try {
    let machines = c.given;
    if (!plan.rentals) ({ machines, rented } = await rentForInference(plan, deps, formatPublicKey(pair.publicKey), privateKey, c.market, emit));
    if (machines.length === 0) {
      throw new QuackError("INFERENCE_INCOMPLETE", "No rented machine acknowledged its rental in time; nothing was escrowed.", { fix: "Try again later or with other machines (`quackmesh market list`)." });
    }
    const id = await escrow(deps, c.modelHash, plan.maxPayment, emit);
    const run = await dispatchParts({ machines, parts, x: c.x, features: c.features, model: { safetensors: c.model, spec: c.spec, sha256: c.modelHash.slice(2) } }, { onEvent: emit, partTimeoutMs: opts.partTimeoutMs });
    const usage = usageOf(parts, run.results, machines, plan.maxPayment);
    const missing = parts.filter((p) => !run.results[p.part]);
    let written: { file: string; accuracy?: number; classes: number; preview: number[] } | undefined;
    let failure: unknown;
    if (missing.length === 0) {
      try {
        const classes = run.results[0]!.probabilities.length / parts[0].count;
        const predictions = predictionsOf(assemble(parts, run.results, classes), classes, c.spec.loss === "mse");
        const rentals = usage.rentals.map((u) => ({ rentalId: u.rentalId, provider: u.provider, rows: u.rows, computeMs: u.computeMs, amount: u.amount.toString() }));
        const w = await writePredictions(plan.out, { inferenceJobId: id, jobId: plan.jobId, modelHash: c.modelHash, classes, rentals }, predictions, c.labels);
        written = { ...w, classes, preview: previewOf(predictions) };
        emit({ event: "predicted", count: predictions.length, out: w.file, accuracy: w.accuracy });
      } catch (err) {
        failure = err;
      }
    } else {
      const rows = missing.reduce((n, p) => n + p.count, 0);
      failure = new QuackError("INFERENCE_INCOMPLETE", `${rows} of ${c.count} rows have no answer: every machine failed (${run.failed.map((f) => `rental ${f.rentalId}: ${f.code}`).join("; ")}).`, {
        fix: `Nothing was written. Inference job ${id} is settled: the compute that was returned is paid, the rest refunded; the rentals made for it are ended. Run it again with other machines.`,
        details: { inferenceJobId: id, missingRows: rows },
      });
    }
    // Settled whatever happened: the machines are paid for what they returned, the rest comes back now.
    const settled = await settle(deps, id, usage);
    emit({ event: "settled", inferenceJobId: id, txHash: settled.txHash, paid: settled.paid, refund: settled.refund, providers: usage.providers, amounts: usage.amounts });
    const ended = await endAll(deps, rented, emit);
    rented = [];
    if (failure !== undefined || !written) throw failure;
    return {
      inferenceJobId: id, jobId: plan.jobId, modelHash: c.modelHash, count: c.count, classes: written.classes, out: written.file, usage, maxPayment: plan.maxPayment,
      paid: settled.paid, refund: settled.refund, settleTx: settled.txHash, ended, failedMachines: run.failed, accuracy: written.accuracy, preview: written.preview,
    };
  } finally {
    // Rentals made here are not left running (and paid) because the run failed.
    if (rented.length > 0) await endAll(deps, rented, emit);
  }
}
