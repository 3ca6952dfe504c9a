/**
 * The chain a store belongs to. On first sight the orchestrator records, in its store, the chain
 * id, the TrainingPool address and the hash of the deployment's block; from then on it checks
 * that the chain still has that block with that hash. A local chain restarted under a running
 * orchestrator fails the check (the block is gone, or was mined again with another hash), and so
 * does a data dir reused for another deployment. Once failed, the guard stays failed: the jobs in
 * the store belong to a chain that no longer exists, and nothing in them may be acted on again.
 */
import { QuackError } from "../../protocol/errors.js";
import type { Repository } from "../store/repository.js";

/** The store's meta key of the anchor (JSON of ChainAnchor). */
export const ANCHOR_META_KEY = "chain.anchor";

export interface ChainAnchor {
  chainId: number;
  trainingPool: string;
  /** The deployment's block (where the chain listener starts reading). */
  block: number;
  blockHash: string;
}

/** What the guard reads from the chain: an ethers provider fits. */
export interface AnchorProvider {
  getBlockNumber(): Promise<number>;
  getBlock(block: number): Promise<{ hash: string | null } | null>;
}

/** Why the store's chain is gone, and what the operator does about it. */
export interface ChainReset {
  reason: string;
  fix: string;
  /** What the store was made for. */
  expected: ChainAnchor;
  /** What the chain (or the configuration) has instead. */
  found: { chainId: number; trainingPool: string; block: number; blockHash: string | null; head?: number };
  detectedAt: number;
}

export interface GuardOptions {
  repo: Repository;
  provider: AnchorProvider;
  /** The configured chain and deployment. */
  chainId: number;
  trainingPool: string;
  block: number;
  /** Blocks the deployment's block must have on top of it before it is recorded. */
  confirmations: number;
  now: () => number;
}

const FIX =
  "The jobs in this data dir belong to a chain that no longer exists. Redeploy if needed (`quackmesh deploy`), then start `quackmesh serve` with a fresh --data-dir " +
  "(keep the old one to read its history); or point it back at the chain it was made for.";

export function chainResetError(reset: ChainReset): QuackError {
  return new QuackError("CHAIN_RESET", reset.reason, { fix: reset.fix, details: { expected: reset.expected, found: reset.found } });
}

export class ChainGuard {
  private failed: ChainReset | null = null;
  private anchor: ChainAnchor | null = null;
  private readonly listeners: Array<(reset: ChainReset) => void> = [];

  constructor(private readonly o: GuardOptions) {}

  /** The detected reset, or null while the chain is the store's. */
  get reset(): ChainReset | null {
    return this.failed;
  }

  /** Called once, when a reset is first detected. */
  onReset(fn: (reset: ChainReset) => void): void {
    this.listeners.push(fn);
  }

  /**
   * Check the chain against the store's anchor, recording the anchor on first sight. Returns the
   * reset once detected, null while all is well (or the block lacks its confirmations yet).
   * RPC failures are thrown: an unreachable chain is not a reset.
   */
  async verify(): Promise<ChainReset | null> {
    if (this.failed) return this.failed;
    const o = this.o;
    const configured = { chainId: o.chainId, trainingPool: o.trainingPool.toLowerCase(), block: o.block };
    const stored = this.anchor ?? (await this.loadAnchor());
    if (stored && (stored.chainId !== configured.chainId || stored.trainingPool !== configured.trainingPool || stored.block !== configured.block)) {
      return this.fail({
        reason:
          `This data dir's store was made for TrainingPool ${stored.trainingPool} (block ${stored.block}) on chain ${stored.chainId}, ` +
          `but this orchestrator is configured for TrainingPool ${configured.trainingPool} (block ${configured.block}) on chain ${configured.chainId}.`,
        fix: FIX,
        expected: stored,
        found: { ...configured, blockHash: null },
        detectedAt: o.now(),
      });
    }
    const [head, block] = await Promise.all([o.provider.getBlockNumber(), o.provider.getBlock(configured.block)]);
    const hash = block?.hash?.toLowerCase() ?? null;
    if (!stored) {
      // First sight: record once the deployment's block is deep enough not to be reorganized away.
      if (hash === null || head - configured.block < o.confirmations) return null;
      const anchor: ChainAnchor = { ...configured, blockHash: hash };
      await o.repo.setMeta(ANCHOR_META_KEY, JSON.stringify(anchor));
      this.anchor = anchor;
      return null;
    }
    if (hash === stored.blockHash) return null;
    const found = { ...configured, blockHash: hash, head };
    return this.fail({
      reason:
        hash === null
          ? `The chain has no block ${stored.block} (its head is block ${head}): it was restarted or replaced since this orchestrator's store recorded the deployment there.`
          : `Block ${stored.block} of the chain has hash ${hash}, but this orchestrator's store recorded ${stored.blockHash} there: the chain was restarted or replaced.`,
      fix: FIX,
      expected: stored,
      found,
      detectedAt: o.now(),
    });
  }

  private async loadAnchor(): Promise<ChainAnchor | null> {
    const text = await this.o.repo.getMeta(ANCHOR_META_KEY);
    if (text === null) return null;
    const a = JSON.parse(text) as ChainAnchor;
    this.anchor = a;
    return a;
  }

  private fail(reset: ChainReset): ChainReset {
    this.failed = reset;
    for (const fn of this.listeners) fn(reset);
    return reset;
  }
}
