import { ZeroAddress, type Contract, type Provider, type TransactionReceipt } from "ethers";
import { QuackError, isErrorCode, isQuackError } from "../../../protocol/errors.js";
import { sendTx } from "../chain/tx.js";
import { faucetHint } from "../chain/wallet.js";
import { formatAmount } from "../../../protocol/chain/units.js";
import {
  MARKET_FIXES,
  marketFixes,
  filterMachines,
  getRentalInfo,
  queryChunked,
  latestListings,
  readMarket,
  type MachineFilter,
  type MarketMachine,
  type RentalInfo,
} from "./marketplace.js";
import { formatPublicKey, parsePublicKey } from "../../../protocol/market/sshKeys.js";
import { marketplaceDomain, recoverDowntimeSigner } from "../../../protocol/chain/eip712.js";

export interface RenterContracts {
  marketplace: Contract;
  duck: Contract;
}

export interface RentRequest {
  count: number;
  hours: number;
  /** Training job served (0 = none). */
  jobId?: bigint;
  /** Renter's OpenSSH public key line. */
  sshPublicKey: string;
  /**
   * Who signs the rentals' downtime statements (the orchestrator running the cluster: its
   * evaluator address); none when absent. Providers that do not trust it decline the rental.
   */
  arbiter?: string;
  filter?: Omit<MachineFilter, "hours" | "all">;
  /**
   * Marks stale machines (see liveness.ts withLiveness) so that none is paid for; absent: the
   * chain alone decides (rent --no-liveness, library callers that check otherwise).
   */
  liveness?: (machines: MarketMachine[]) => Promise<MarketMachine[]>;
}

export interface RentedMachine {
  rentalId: bigint;
  machineId: bigint;
  provider: string;
  endpoint: string;
  pricePerHour: bigint;
  hours: number;
  amount: bigint;
  txHash: string;
}

export type RentEvent =
  | { event: "matched"; matched: number; listed: number; cost: bigint }
  | { event: "approved"; amount: bigint; txHash: string }
  | { event: "rented"; rental: RentedMachine }
  | { event: "skipped"; machineId: bigint; reason: string };

const MAX_UINT32 = 0xffffffff;

function checkRequest(req: RentRequest): void {
  if (!Number.isInteger(req.count) || req.count < 1 || req.count > 1000) {
    throw new QuackError("BAD_ARGUMENT", `--count ${req.count} is not a whole number from 1 to 1000.`, { fix: "Pass e.g. --count 3." });
  }
  if (!Number.isInteger(req.hours) || req.hours < 1 || req.hours > MAX_UINT32) {
    throw new QuackError("BAD_ARGUMENT", `--hours ${req.hours} is not a whole number of hours from 1 to ${MAX_UINT32}.`, { fix: "Pass e.g. --hours 2." });
  }
  if (req.jobId !== undefined && (req.jobId < 0n || req.jobId >= 2n ** 64n)) {
    throw new QuackError("BAD_ID", `--job ${req.jobId} is outside 0 to 2^64-1.`, { fix: "Pass the id `quackmesh job create` printed." });
  }
}

/**
 * Rent the `count` cheapest available machines that match: checks the DUCK balance first (a
 * refusal changes nothing), approves the marketplace for the total, then rents one by one. A
 * machine taken by someone else in the meantime is skipped for the next cheapest match.
 */
export async function rentMachines(
  c: RenterContracts,
  provider: Provider,
  renter: string,
  fromBlock: number,
  req: RentRequest,
  onEvent: (e: RentEvent) => void = () => {},
): Promise<RentedMachine[]> {
  checkRequest(req);
  const key = formatPublicKey(parsePublicKey(req.sshPublicKey));
  const onChain = await readMarket(c.marketplace, provider, fromBlock);
  const market = req.liveness ? await req.liveness(onChain) : onChain;
  const candidates = filterMachines(market, { ...req.filter, hours: req.hours });
  const stale = market.filter((m) => m.status === "stale").length;
  const listed = market.filter((m) => m.status !== "unlisted").length;
  if (candidates.length < req.count) {
    throw new QuackError(
      "TOO_FEW_MACHINES",
      `Only ${candidates.length} available machine${candidates.length === 1 ? "" : "s"} match (of ${listed} listed, ${market.filter((m) => m.status === "available").length} available${stale ? `, ${stale} stale: their providers sent no recent sign of life` : ""}); ${req.count} requested.`,
      { fix: "Lower --count, raise --max-price, relax --min-cores/--gpu or --hours, or wait for machines to free up (`quackmesh market list` shows every machine and its status).", details: { matched: candidates.length, listed, stale, requested: req.count } },
    );
  }
  const cost = (ms: MarketMachine[]) => ms.reduce((sum, m) => sum + m.pricePerHour * BigInt(req.hours), 0n);
  const need = cost(candidates.slice(0, req.count));
  onEvent({ event: "matched", matched: candidates.length, listed, cost: need });
  const have = (await c.duck.getFunction("balanceOf")(renter)) as bigint;
  if (have < need) {
    throw new QuackError("NOT_ENOUGH_DUCK", `Renting ${req.count} machine${req.count === 1 ? "" : "s"} for ${req.hours} h costs ${formatAmount(need)} DUCK; the wallet ${renter} holds ${formatAmount(have)} DUCK.`, {
      fix: `Get more DUCK for this wallet (on the local chain: \`${faucetHint(renter, need - have)}\`), or rent fewer machines or hours.`,
      details: { have: have.toString(), need: need.toString() },
    });
  }

  const marketplaceAddress = await c.marketplace.getAddress();
  const rented: RentedMachine[] = [];
  const queue = [...candidates];
  try {
    await ensureAllowance(c.duck, renter, marketplaceAddress, need, onEvent);
    while (rented.length < req.count && queue.length > 0) {
      const m = queue.shift()!;
      const price = m.pricePerHour * BigInt(req.hours);
      // Covers a replacement machine dearer than the one it stands in for.
      await ensureAllowance(c.duck, renter, marketplaceAddress, price, onEvent);
      let receipt: TransactionReceipt;
      try {
        receipt = await sendTx(c.marketplace, "rentMachineWithArbiter", [m.machineId, req.hours, req.jobId ?? 0n, key, req.arbiter ?? ZeroAddress], { fixes: marketFixes(renter) });
      } catch (err) {
        // Lost a race for this machine: try the next cheapest match.
        const name = isQuackError(err) ? (err.details?.error as string | undefined) : undefined;
        if (name === "MachineBusy" || name === "MachineNotListed") {
          onEvent({ event: "skipped", machineId: m.machineId, reason: name });
          continue;
        }
        throw err;
      }
      const rental = rentalFromReceipt(c.marketplace, receipt, m);
      rented.push(rental);
      onEvent({ event: "rented", rental });
    }
  } catch (err) {
    if (rented.length === 0) throw err;
    throw incomplete(rented, req.count, err);
  }
  if (rented.length < req.count) {
    throw incomplete(rented, req.count, new Error("the other matching machines were taken meanwhile"));
  }
  return rented;
}

function incomplete(rented: RentedMachine[], wanted: number, err: unknown): QuackError {
  const ids = rented.map((r) => r.rentalId.toString());
  return new QuackError("RENT_INCOMPLETE", `Rented ${rented.length} of ${wanted} machines (rentals ${ids.join(", ")}), then: ${(err as Error).message}`, {
    fix: `Keep them, or get your DUCK back: \`quackmesh rent cancel <id>\` once the acknowledgement window closed, or \`quackmesh rent end <id>\` once acknowledged.`,
    details: { rentals: ids },
    cause: err,
  });
}

async function ensureAllowance(duck: Contract, owner: string, spender: string, amount: bigint, onEvent: (e: RentEvent) => void): Promise<void> {
  const allowance = (await duck.getFunction("allowance")(owner, spender)) as bigint;
  if (allowance >= amount) return;
  const receipt = await sendTx(duck, "approve", [spender, amount], { method: "approve" });
  onEvent({ event: "approved", amount, txHash: receipt.hash });
}

function rentalFromReceipt(marketplace: Contract, receipt: TransactionReceipt, m: MarketMachine): RentedMachine {
  for (const log of receipt.logs) {
    const parsed = marketplace.interface.parseLog(log);
    if (parsed?.name !== "MachineRented") continue;
    return {
      rentalId: parsed.args.rentalId as bigint,
      machineId: m.machineId,
      provider: m.provider,
      endpoint: m.endpoint,
      pricePerHour: m.pricePerHour,
      hours: Number(parsed.args.numHours),
      amount: parsed.args.amount as bigint,
      txHash: receipt.hash,
    };
  }
  throw new QuackError("EVENT_MISSING", `rentMachine was mined (${receipt.hash}) but emitted no MachineRented event.`);
}

export interface AckResult {
  acknowledged: bigint[];
  pending: bigint[];
  /** Turned down by their providers (refunded in full), e.g. for an arbiter they do not trust. */
  declined: bigint[];
}

/** Poll getRental until every rental is acknowledged or `timeoutMs` passes. */
export async function waitForAcks(marketplace: Contract, rentalIds: bigint[], opts: { timeoutMs?: number; pollMs?: number } = {}): Promise<AckResult> {
  const deadline = Date.now() + (opts.timeoutMs ?? 120_000);
  const acked = new Set<bigint>();
  const declined = new Set<bigint>();
  for (;;) {
    for (const id of rentalIds) {
      if (acked.has(id) || declined.has(id)) continue;
      const r = await getRentalInfo(marketplace, id);
      if (r.status === "cancelled") declined.add(id);
      else if (r.status !== "pending") acked.add(id);
    }
    if (acked.size + declined.size === rentalIds.length || Date.now() >= deadline) break;
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 1000));
  }
  return {
    acknowledged: rentalIds.filter((id) => acked.has(id)),
    pending: rentalIds.filter((id) => !acked.has(id) && !declined.has(id)),
    declined: rentalIds.filter((id) => declined.has(id)),
  };
}

/** End an active rental early: the unserved part comes back. */
export async function endRental(marketplace: Contract, rentalId: bigint): Promise<{ refund: bigint; earned: bigint; txHash: string }> {
  const receipt = await sendTx(marketplace, "endRental", [rentalId], { fixes: MARKET_FIXES });
  const ev = findEvent(marketplace, receipt, "RentalEnded");
  return { refund: ev.refund as bigint, earned: ev.earned as bigint, txHash: receipt.hash };
}

export interface DowntimeSettlement {
  downtimeSeconds: number;
  /** DUCK wei: the down share of the rent, back to the renter. */
  refund: bigint;
  /** DUCK wei taken from the provider's stake for the renter (shortfall and penalty). */
  fromStake: bigint;
  txHash: string;
}

/**
 * Settle an over rental's downtime with its arbiter's statement, fetched from the orchestrator at
 * `url` (GET /api/market/downtime/:rentalId) and checked to be the rental's arbiter's before any
 * gas is spent. Undefined when the rental names no arbiter.
 */
export async function settleDowntime(marketplace: Contract, rentalId: bigint, url: string): Promise<DowntimeSettlement | undefined> {
  const info = await getRentalInfo(marketplace, rentalId);
  if (info.arbiter === ZeroAddress || info.settled) return undefined;
  const fix = `Ask the arbiter's orchestrator (--orchestrator URL) again within the dispute window: \`quackmesh rent settle ${rentalId}\`.`;
  let res: Response;
  let body: { downtimeSeconds: number; signature: string; error?: string; message?: string };
  // Right after an end, the orchestrator's view of the latest block may lag a moment: RENTAL_NOT_OVER is asked again.
  for (let attempt = 1; ; attempt++) {
    try {
      res = await fetch(`${url}/api/market/downtime/${rentalId}`, { signal: AbortSignal.timeout(10_000) });
      body = (await res.json()) as typeof body;
    } catch (err) {
      throw new QuackError("ORCHESTRATOR_UNREACHABLE", `Rental ${rentalId}'s downtime statement could not be had from ${url}: ${(err as Error).message}`, { fix });
    }
    if (res.ok || body.error !== "RENTAL_NOT_OVER" || attempt === 4) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  // The orchestrator's refusal keeps its code (NOT_ARBITER, RENTAL_NOT_OVER, …).
  if (!res.ok) throw new QuackError(isErrorCode(body.error) ? body.error : "TX_FAILED", `${url} refused rental ${rentalId}'s downtime statement: ${body.message ?? `HTTP ${res.status}`}`, { fix });
  const statement = body;
  const { chainId } = await marketplace.runner!.provider!.getNetwork();
  const domain = marketplaceDomain(chainId, await marketplace.getAddress());
  const signer = recoverDowntimeSigner(domain, { rentalId, downtimeSeconds: BigInt(statement.downtimeSeconds) }, statement.signature);
  if (signer.toLowerCase() !== info.arbiter.toLowerCase()) {
    throw new QuackError("TX_REVERTED", `The statement for rental ${rentalId} from ${url} is signed by ${signer}, not by its arbiter ${info.arbiter}.`, { fix: "Point --orchestrator at the orchestrator the rental named as arbiter." });
  }
  const args = [rentalId, statement.downtimeSeconds, statement.signature] as const;
  // The provider may withdraw between the gas estimate and the transaction (the shortfall then
  // comes from its stake, about 3k gas more): sendTx's margin over the estimate covers it.
  const receipt = await sendTx(marketplace, "settleDowntime", args, { fixes: MARKET_FIXES });
  let refund = 0n;
  let fromStake = 0n;
  for (const log of receipt.logs) {
    const parsed = marketplace.interface.parseLog(log);
    if (parsed?.name === "DowntimeSettled") refund += parsed.args.refund as bigint;
    if (parsed?.name === "StakeSlashed") fromStake += parsed.args.amount as bigint;
  }
  return { downtimeSeconds: statement.downtimeSeconds, refund, fromStake, txHash: receipt.hash };
}

/** Cancel a rental the provider never acknowledged (after the window): full refund. */
export async function cancelRental(marketplace: Contract, rentalId: bigint): Promise<{ refund: bigint; txHash: string }> {
  const receipt = await sendTx(marketplace, "cancelUnacknowledged", [rentalId], { fixes: MARKET_FIXES });
  return { refund: findEvent(marketplace, receipt, "RentalCancelled").refund as bigint, txHash: receipt.hash };
}

function findEvent(marketplace: Contract, receipt: TransactionReceipt, name: string): Record<string, unknown> {
  for (const log of receipt.logs) {
    const parsed = marketplace.interface.parseLog(log);
    if (parsed?.name === name) return parsed.args.toObject();
  }
  throw new QuackError("EVENT_MISSING", `The transaction ${receipt.hash} emitted no ${name} event.`);
}

export interface RenterRental extends RentalInfo {
  endpoint: string;
  provider: string;
}

/** The renter's rentals since `fromBlock`, newest first, with each machine's endpoint. */
export async function listRentals(marketplace: Contract, provider: Provider, renter: string, fromBlock: number): Promise<RenterRental[]> {
  const latest = await provider.getBlockNumber();
  const rentedLogs = await queryChunked(marketplace, "MachineRented", [null, null, renter], fromBlock, latest);
  const machineIds = [...new Set(rentedLogs.map((l) => l.args.machineId as bigint))];
  const listings = new Map<bigint, { endpoint: string; provider: string }>();
  for (const id of machineIds) {
    // The latest listing: a restarted provider relists the same machine id, maybe at a new endpoint.
    const [listing] = latestListings(await queryChunked(marketplace, "MachineListed", [id], fromBlock, latest));
    if (listing) listings.set(id, listing);
  }
  const out = await Promise.all(
    rentedLogs.map(async (l) => {
      const info = await getRentalInfo(marketplace, l.args.rentalId as bigint);
      const listing = listings.get(info.machineId);
      return { ...info, endpoint: listing?.endpoint ?? "", provider: listing?.provider ?? "" };
    }),
  );
  return out.sort((a, b) => Number(b.rentalId - a.rentalId));
}
