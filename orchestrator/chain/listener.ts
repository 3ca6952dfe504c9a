/**
 * Polls contract logs from the last processed block (kept in the store), waits for
 * `confirmations`, and hands each event over exactly once: events and the new cursor are
 * stored in one transaction keyed by (txHash, logIndex), so a restart resumes without
 * re-handling anything and without missing anything.
 */
import type { Interface, Log } from "ethers";
import type { OrchestratorEmitter } from "../events.js";
import type { ChainEventRecord, Repository } from "../store/repository.js";

export interface LogSource {
  /** Cursor key in the store, e.g. "TrainingPool". */
  name: string;
  address: string;
  iface: Interface;
}

/** The part of an ethers provider the listener uses. */
export interface LogProvider {
  getBlockNumber(): Promise<number>;
  getLogs(filter: { address: string; fromBlock: number; toBlock: number }): Promise<Array<Log>>;
  /** For the chain guard (chain/anchor.ts): the deployment's block and its hash. */
  getBlock(block: number): Promise<{ hash: string | null } | null>;
}

export interface ListenerOptions {
  provider: LogProvider;
  repo: Repository;
  sources: LogSource[];
  /** Blocks to wait before an event counts (0 on the local chain). */
  confirmations: number;
  pollMs: number;
  /** First block to read when the store has no cursor yet (the deployment block). */
  startBlock: number;
  /** Most blocks per eth_getLogs call. */
  chunk?: number;
  events: OrchestratorEmitter;
  /**
   * Whether the chain is still the one the store was made for (chain/anchor.ts). Asked before each
   * poll and again before events are recorded; on false the listener stops for good.
   */
  verify?: () => Promise<boolean>;
  /**
   * Whether this orchestrator is the one that reads the chain (one at a time when several share a
   * store). Asked before each poll; false skips the poll, and the next one asks again.
   */
  lead?: () => Promise<boolean>;
  onEvent(ev: ChainEventRecord): Promise<void>;
  log: { warn(obj: unknown, msg?: string): void };
}

function jsonSafe(v: unknown): string | number | boolean {
  if (typeof v === "bigint") return v.toString();
  if (typeof v === "number" || typeof v === "boolean") return v;
  return String(v);
}

export class ChainListener {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;
  private stopped = false;

  constructor(private readonly o: ListenerOptions) {}

  /** Read and handle everything up to the confirmed head; returns how many new events were handled. */
  async pollOnce(): Promise<number> {
    if (this.o.lead && !(await this.o.lead())) return 0;
    if (!(await this.stillOurs())) return 0;
    const head = await this.o.provider.getBlockNumber();
    const safe = head - this.o.confirmations;
    let handled = 0;
    for (const source of this.o.sources) {
      const cursor = await this.o.repo.getChainCursor(source.name);
      let from = cursor === null ? this.o.startBlock : cursor + 1;
      const chunk = this.o.chunk ?? 2000;
      while (from <= safe && !this.stopped) {
        const to = Math.min(safe, from + chunk - 1);
        const logs = await this.o.provider.getLogs({ address: source.address, fromBlock: from, toBlock: to });
        // Logs read just as the chain was reset under us would be another chain's: check again.
        if (logs.length > 0 && !(await this.stillOurs())) return handled;
        const records = this.decode(source, logs);
        const fresh = await this.o.repo.recordChainEvents(source.name, to, records);
        for (const ev of fresh) await this.o.onEvent(ev);
        handled += fresh.length;
        this.o.events.emit("chain:polled", { source: source.name, toBlock: to, events: fresh.length });
        from = to + 1;
      }
    }
    return handled;
  }

  private async stillOurs(): Promise<boolean> {
    if (this.stopped) return false;
    if (!this.o.verify || (await this.o.verify())) return true;
    this.stopped = true;
    return false;
  }

  private decode(source: LogSource, logs: Log[]): ChainEventRecord[] {
    const out: ChainEventRecord[] = [];
    for (const log of logs) {
      const parsed = source.iface.parseLog({ topics: [...log.topics], data: log.data });
      if (!parsed) continue; // an event we do not read
      const args: ChainEventRecord["args"] = {};
      parsed.fragment.inputs.forEach((input, i) => {
        // A struct argument (e.g. TrainingJobCreated's terms) is stored as its fields, by name.
        if (input.baseType === "tuple" && input.components) input.components.forEach((c, j) => (args[c.name] = jsonSafe((parsed.args[i] as unknown[])[j])));
        else args[input.name] = jsonSafe(parsed.args[i]);
      });
      out.push({ txHash: log.transactionHash, logIndex: log.index, blockNumber: log.blockNumber, source: source.name, name: parsed.name, args });
    }
    return out.sort((a, b) => a.blockNumber - b.blockNumber || a.logIndex - b.logIndex);
  }

  start(): void {
    const tick = async () => {
      try {
        this.running = this.pollOnce();
        await this.running;
      } catch (err) {
        const error = err instanceof Error ? err.message : String(err);
        this.o.log.warn({ err: error }, "chain poll failed; retrying");
        this.o.events.emit("chain:error", { source: this.o.sources.map((s) => s.name).join(","), error });
      } finally {
        this.running = undefined;
        if (!this.stopped) this.timer = setTimeout(() => void tick(), this.o.pollMs);
      }
    };
    void tick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running?.catch(() => undefined);
  }
}
