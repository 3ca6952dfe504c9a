import { EventEmitter } from "node:events";
import { mkdirSync, rmSync } from "node:fs";
import { hexlify, randomBytes, ZeroAddress, type Contract, type EventLog, type Provider } from "ethers";
import { formatAmount } from "../../../protocol/chain/units.js";
import { QuackError, isQuackError } from "../../../protocol/errors.js";
import { sendTx } from "../chain/tx.js";
import { faucetHint } from "../chain/wallet.js";
import { rentalFolder } from "./gate.js";
import { authorizedKeysAccess, type RentalAccess } from "./gateAccess.js";
import type { GateLaunch } from "./gateLaunch.js";
import { MARKET_FIXES, chainNow, getRentalInfo, queryChunked } from "./marketplace.js";
import { specsToString, type MachineSpecs } from "../../../protocol/market/specs.js";

export interface ProviderAgentOptions {
  /** ComputeMarketplace bound to the provider's wallet. */
  marketplace: Contract;
  provider: Provider;
  /** DuckToken bound to the provider's wallet: needed to approve a stake. */
  duck?: Contract;
  /** Deployment block: where a relisted machine's earlier rentals are looked for. */
  fromBlock?: number;
  /**
   * Arbiters whose downtime statements this provider accepts (addresses), or "any". A rental
   * naming another arbiter is declined (full refund to the renter, no penalty): an arbiter the
   * renter controls could claim the whole rental as downtime. Rentals naming none are served.
   */
  arbiters?: string[] | "any";
  /** Who lets renter keys in: the embedded gateway; without it, authorizedKeysFile + gate. */
  access?: RentalAccess;
  /** authorized_keys file sshd reads for the user renters log in as (without `access`). */
  authorizedKeysFile?: string;
  /** Absolute folder holding one `rental-<id>` folder per rental. */
  rentalsRoot: string;
  /** How sshd starts the gate (forced command of every renter key; without `access`). */
  gate?: GateLaunch;
  /** Poll interval of start()'s loop (default 2 s). */
  pollMs?: number;
  /** How often earnings are withdrawn while rentals run (default 10 min); always at a rental's end. */
  withdrawEveryMs?: number;
  /** Keep a rental's folder after it ended (default: removed, it holds the renter's data). */
  keepFolders?: boolean;
}

/** Stake and stable identity of a listing (ComputeMarketplace.listStakedMachine). */
export interface ListingOptions {
  /** bytes32 kept by the provider (under QUACKMESH_HOME): the same key relists the same machine id. */
  machineKey?: string;
  /** DUCK wei to add to the machine's stake; default: what it lacks of the marketplace's minimum. */
  stake?: bigint;
}

export type KeyRemovalReason = "ended" | "cancelled" | "expired" | "stopped" | "ack-failed";
export type TrackedStatus = "pending" | "active" | "ended" | "cancelled" | "expired" | "refused";

export interface TrackedRental {
  rentalId: bigint;
  renter: string;
  jobId: bigint;
  hours: number;
  amount: bigint;
  status: TrackedStatus;
  keyInstalled: boolean;
  folder: string;
  startedAt: number;
  endsAt: number;
  withdrawn: bigint;
}

export interface ProviderEvents {
  listed: { machineId: bigint; pricePerHour: bigint; endpoint: string; maxHours: number; txHash: string; relisted: boolean; stake: bigint };
  declined: { rentalId: bigint; reason: string; txHash: string };
  unlisted: { machineId: bigint; txHash: string };
  rented: { rentalId: bigint; machineId: bigint; renter: string; hours: number; amount: bigint; jobId: bigint };
  keyInstalled: { rentalId: bigint; file: string; folder: string };
  acknowledged: { rentalId: bigint; startedAt: number; endsAt: number; txHash: string };
  keyRemoved: { rentalId: bigint; reason: KeyRemovalReason };
  withdrawn: { rentalId: bigint; amount: bigint; total: bigint; txHash: string };
  error: { error: QuackError; rentalId?: bigint };
}

export interface ProviderAgent {
  on<K extends keyof ProviderEvents>(event: K, listener: (e: ProviderEvents[K]) => void): this;
  once<K extends keyof ProviderEvents>(event: K, listener: (e: ProviderEvents[K]) => void): this;
  emit<K extends keyof ProviderEvents>(event: K, e: ProviderEvents[K]): boolean;
}

/**
 * A provider's side of the marketplace, as an object that emits events and never prints: list
 * one machine, watch its rentals by polling logs, install each renter's key (restricted to the
 * gate) and acknowledge, remove the key (and end the rental's open sessions) when the rental
 * ends, is cancelled or runs out, and withdraw what was earned. `stop()` removes every key it
 * added and unlists.
 */
export class ProviderAgent extends EventEmitter {
  machineId?: bigint;
  private lastBlock = 0;
  private readonly tracked = new Map<bigint, TrackedRental>();
  private queue: Promise<void> = Promise.resolve();
  private timer?: NodeJS.Timeout;
  private lastWithdraw = Date.now();
  private withdrawnTotal = 0n;
  private stopped = false;

  private readonly access: RentalAccess;

  constructor(private readonly opts: ProviderAgentOptions) {
    super();
    if (opts.access) this.access = opts.access;
    else if (opts.authorizedKeysFile && opts.gate) this.access = authorizedKeysAccess(opts.authorizedKeysFile, opts.gate, opts.rentalsRoot);
    else throw new QuackError("BAD_ARGUMENT", "A provider agent needs a gateway, or an authorized_keys file and a gate.");
  }

  /**
   * List the machine under its stable key (a restart relists the same id and keeps its record),
   * staking what it lacks of the marketplace's minimum, and start watching its rentals: from the
   * listing's block for a new machine, from `fromBlock` for a relisted one (its earlier rental may
   * still be pending or running).
   */
  async listMachine(specs: MachineSpecs, pricePerHour: bigint, endpoint: string, maxHours = 0, listing: ListingOptions = {}): Promise<bigint> {
    if (this.machineId !== undefined) throw new QuackError("ALREADY_LISTED", `This agent already serves machine ${this.machineId}.`);
    const { marketplace } = this.opts;
    const machineKey = listing.machineKey ?? hexlify(randomBytes(32));
    const owner = await (marketplace.runner as unknown as { getAddress(): Promise<string> }).getAddress();
    const existing = (await marketplace.getFunction("machineOf")(owner, machineKey)) as bigint;
    const staked = existing === 0n ? 0n : ((await marketplace.getFunction("getMachine")(existing)).stake as bigint);
    const minStake = (await marketplace.getFunction("minStake")()) as bigint;
    const stake = listing.stake ?? (staked >= minStake ? 0n : minStake - staked);
    if (stake > 0n) await this.approveStake(owner, stake);
    const receipt = await sendTx(marketplace, "listStakedMachine", [machineKey, specsToString(specs), pricePerHour, endpoint, maxHours, stake], { fixes: MARKET_FIXES });
    const ev = receipt.logs.map((l) => marketplace.interface.parseLog(l)).find((p) => p?.name === "MachineListed");
    if (!ev) throw new QuackError("EVENT_MISSING", `listStakedMachine was mined (${receipt.hash}) without a MachineListed event.`);
    this.machineId = ev.args.machineId as bigint;
    this.lastBlock = (existing === 0n ? receipt.blockNumber : (this.opts.fromBlock ?? receipt.blockNumber)) - 1;
    this.emit("listed", { machineId: this.machineId, pricePerHour, endpoint, maxHours, txHash: receipt.hash, relisted: existing !== 0n, stake: staked + stake });
    return this.machineId;
  }

  private async approveStake(owner: string, stake: bigint): Promise<void> {
    const { duck, marketplace } = this.opts;
    if (!duck) throw new QuackError("BAD_ARGUMENT", "Staking a listing needs the DuckToken contract (ProviderAgentOptions.duck).");
    const spender = await marketplace.getAddress();
    const [balance, allowance] = (await Promise.all([duck.getFunction("balanceOf")(owner), duck.getFunction("allowance")(owner, spender)])) as [bigint, bigint];
    if (balance < stake) {
      throw new QuackError("NOT_ENOUGH_DUCK", `Listing needs a stake of ${formatAmount(stake)} DUCK; the wallet ${owner} holds ${formatAmount(balance)} DUCK.`, {
        fix: `Get DUCK for the stake (on the local chain: \`${faucetHint(owner, stake - balance)}\`), or stake less with --stake (at least the marketplace's minimum).`,
        details: { have: balance.toString(), need: stake.toString() },
      });
    }
    if (allowance < stake) await sendTx(duck, "approve", [spender, stake], { method: "approve" });
  }

  /** Serve a machine listed earlier (e.g. after a restart), reading its events from `fromBlock`. */
  attach(machineId: bigint, fromBlock: number): void {
    this.machineId = machineId;
    this.lastBlock = fromBlock - 1;
  }

  /** Poll every `pollMs` until stop(). */
  start(): void {
    if (this.timer || this.stopped) return;
    const tick = (delay: number) => {
      this.timer = setTimeout(() => void this.poll().finally(() => !this.stopped && tick(this.opts.pollMs ?? 2000)), delay);
    };
    tick(0);
  }

  /** One round: new rentals, ends and cancellations, expiries, periodic withdrawals. Calls never overlap. */
  poll(): Promise<void> {
    return this.serialized(() => this.pollOnce());
  }

  /** Snapshot of the rentals seen so far. */
  rentals(): TrackedRental[] {
    return [...this.tracked.values()].map((r) => ({ ...r }));
  }

  /** DUCK wei withdrawn by this agent so far. */
  earnings(): bigint {
    return this.withdrawnTotal;
  }

  /** Withdraw every rental's earnings now. */
  withdrawAll(): Promise<void> {
    return this.serialized(() => this.withdrawEach([...this.tracked.values()]));
  }

  /** Stop polling, remove every key this agent added, unlist the machine, withdraw what is due. */
  async stop(opts: { unlist?: boolean } = {}): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.serialized(async () => {
      for (const r of this.tracked.values()) if (r.keyInstalled) this.removeKey(r, "stopped");
      if (opts.unlist !== false && this.machineId !== undefined) await this.unlist().catch((err) => this.fail(err));
      await this.withdrawEach([...this.tracked.values()]);
    });
  }

  private serialized(fn: () => Promise<void>): Promise<void> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => {});
    return next;
  }

  private fail(err: unknown, rentalId?: bigint): void {
    const error = isQuackError(err) ? err : new QuackError("PROVIDER_FAILED", (err as Error)?.message ?? String(err), { cause: err });
    // An EventEmitter throws on an unheard 'error'; the agent must keep serving instead.
    if (this.listenerCount("error") > 0) this.emit("error", rentalId === undefined ? { error } : { error, rentalId });
  }

  private async pollOnce(): Promise<void> {
    if (this.machineId === undefined) return;
    const { marketplace, provider } = this.opts;
    try {
      const latest = await provider.getBlockNumber();
      if (latest > this.lastBlock) {
        const from = this.lastBlock + 1;
        const [rentedLogs, endedLogs, cancelledLogs] = await Promise.all([
          queryChunked(marketplace, "MachineRented", [null, this.machineId], from, latest),
          queryChunked(marketplace, "RentalEnded", [], from, latest),
          queryChunked(marketplace, "RentalCancelled", [], from, latest),
        ]);
        for (const log of rentedLogs) await this.onRented(log);
        for (const log of endedLogs) await this.onOver(log.args.rentalId as bigint, "ended");
        for (const log of cancelledLogs) await this.onOver(log.args.rentalId as bigint, "cancelled");
        this.lastBlock = latest;
      }
      const now = await chainNow(provider);
      for (const r of this.tracked.values()) {
        if (r.status === "active" && now >= r.endsAt) await this.onOver(r.rentalId, "expired");
      }
      if (Date.now() - this.lastWithdraw >= (this.opts.withdrawEveryMs ?? 600_000)) {
        this.lastWithdraw = Date.now();
        await this.withdrawEach([...this.tracked.values()].filter((r) => r.status === "active"));
      }
    } catch (err) {
      this.fail(err);
    }
  }

  private async onRented(log: EventLog): Promise<void> {
    const a = log.args;
    const rentalId = a.rentalId as bigint;
    if (this.tracked.has(rentalId)) return;
    const r: TrackedRental = {
      rentalId,
      renter: a.renter as string,
      jobId: a.jobId as bigint,
      hours: Number(a.numHours),
      amount: a.amount as bigint,
      status: "pending",
      keyInstalled: false,
      folder: rentalFolder(this.opts.rentalsRoot, rentalId.toString()),
      startedAt: 0,
      endsAt: 0,
      withdrawn: 0n,
    };
    this.tracked.set(rentalId, r);
    this.emit("rented", { rentalId, machineId: this.machineId!, renter: r.renter, hours: r.hours, amount: r.amount, jobId: r.jobId });
    try {
      const info = await getRentalInfo(this.opts.marketplace, rentalId);
      if (info.status !== "pending" && info.status !== "active") {
        r.status = info.status === "none" ? "refused" : info.status;
        // Over while this provider was down (killed -9, say): the key its last run installed
        // (kept in an authorized_keys file when OpenSSH serves) and the folder it made go.
        this.access.revoke(rentalId);
        if (!this.opts.keepFolders) rmSync(r.folder, { recursive: true, force: true });
        return;
      }
      if (info.status === "pending" && !this.trusts(info.arbiter)) {
        await this.decline(r, `its arbiter ${info.arbiter} is not one this provider trusts`);
        return;
      }
      mkdirSync(r.folder, { recursive: true, mode: 0o700 });
      try {
        this.access.grant(rentalId, a.sshPublicKey as string);
      } catch (err) {
        // A key that cannot be installed (malformed, say): decline rather than let the
        // acknowledgement window lapse, which would cost a quarter of the stake.
        if (info.status !== "pending") throw err;
        await this.decline(r, `its SSH key cannot be installed: ${(err as Error).message}`);
        return;
      }
      r.keyInstalled = true;
      this.emit("keyInstalled", { rentalId, file: this.access.where, folder: r.folder });
      if (info.status === "active") {
        // Acknowledged before a restart: serve the rest of its time.
        Object.assign(r, { status: "active", startedAt: info.startedAt, endsAt: info.endsAt, withdrawn: info.withdrawn });
        return;
      }
      const receipt = await sendTx(this.opts.marketplace, "acknowledgeRental", [rentalId], { fixes: MARKET_FIXES });
      const after = await getRentalInfo(this.opts.marketplace, rentalId);
      Object.assign(r, { status: "active", startedAt: after.startedAt, endsAt: after.endsAt });
      this.emit("acknowledged", { rentalId, startedAt: after.startedAt, endsAt: after.endsAt, txHash: receipt.hash });
    } catch (err) {
      if (r.keyInstalled) this.removeKey(r, "ack-failed");
      if (r.status === "pending") r.status = "refused";
      this.fail(err, rentalId);
    }
  }

  private trusts(arbiter: string): boolean {
    const list = this.opts.arbiters ?? [];
    if (arbiter === ZeroAddress || list === "any") return true;
    return list.some((a) => a.toLowerCase() === arbiter.toLowerCase());
  }

  /** Turn a pending rental down: the renter gets everything back and the stake is untouched. */
  private async decline(r: TrackedRental, reason: string): Promise<void> {
    const receipt = await sendTx(this.opts.marketplace, "declineRental", [r.rentalId], { fixes: MARKET_FIXES });
    r.status = "cancelled";
    rmSync(r.folder, { recursive: true, force: true });
    this.emit("declined", { rentalId: r.rentalId, reason, txHash: receipt.hash });
  }

  private async onOver(rentalId: bigint, reason: "ended" | "cancelled" | "expired"): Promise<void> {
    const r = this.tracked.get(rentalId);
    if (!r || r.status === "ended" || r.status === "cancelled" || r.status === "expired") return;
    const wasActive = r.status === "active";
    r.status = reason;
    if (r.keyInstalled) this.removeKey(r, reason);
    if (wasActive) await this.withdrawEach([r]);
  }

  private removeKey(r: TrackedRental, reason: KeyRemovalReason): void {
    try {
      // Also ends the rental's open sessions and their workers.
      this.access.revoke(r.rentalId);
      r.keyInstalled = false;
      if (!this.opts.keepFolders) rmSync(r.folder, { recursive: true, force: true });
      this.emit("keyRemoved", { rentalId: r.rentalId, reason });
    } catch (err) {
      this.fail(err, r.rentalId);
    }
  }

  private async withdrawEach(rentals: TrackedRental[]): Promise<void> {
    for (const r of rentals) {
      if (r.status !== "active" && r.status !== "ended" && r.status !== "expired") continue;
      try {
        const info = await getRentalInfo(this.opts.marketplace, r.rentalId);
        const earned = (await this.opts.marketplace.getFunction("earned")(r.rentalId)) as bigint;
        if (earned <= info.withdrawn) continue;
        const receipt = await sendTx(this.opts.marketplace, "withdrawEarnings", [r.rentalId], { fixes: MARKET_FIXES });
        const ev = receipt.logs.map((l) => this.opts.marketplace.interface.parseLog(l)).find((p) => p?.name === "EarningsWithdrawn");
        const amount = (ev?.args.amount as bigint | undefined) ?? 0n;
        r.withdrawn += amount;
        this.withdrawnTotal += amount;
        this.emit("withdrawn", { rentalId: r.rentalId, amount, total: this.withdrawnTotal, txHash: receipt.hash });
      } catch (err) {
        if (isQuackError(err) && err.details?.error === "NothingToWithdraw") continue;
        this.fail(err, r.rentalId);
      }
    }
  }

  private async unlist(): Promise<void> {
    const m = await this.opts.marketplace.getFunction("getMachine")(this.machineId);
    if (!m.listed) return;
    const receipt = await sendTx(this.opts.marketplace, "unlistMachine", [this.machineId], { fixes: MARKET_FIXES });
    this.emit("unlisted", { machineId: this.machineId!, txHash: receipt.hash });
  }
}
