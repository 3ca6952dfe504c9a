/**
 * Per-address quotas on what a caller may leave on this orchestrator before any chain
 * transaction binds it: drafts not bound to a job, and the bytes their uploads hold (initial
 * weights, validation set, cluster training data), both counted over the drafts the address
 * created in the last QUOTA_WINDOW_MS. Uploads in flight hold a reservation of the bytes they
 * may still write, so parallel uploads cannot pass the quota together.
 */
import { stat } from "node:fs/promises";
import { ApiError } from "./errors.js";
import type { Limits } from "./options.js";
import type { UploadBudget } from "./plugins/body.js";
import type { BlobStore } from "./store/blobs.js";
import type { Repository } from "./store/repository.js";

/** Drafts older than this no longer count against their uploader. */
export const QUOTA_WINDOW_MS = 24 * 60 * 60 * 1000;

export interface QuotaUsage {
  drafts: number;
  bytes: number;
}

const MIB = 1024 * 1024;

export class UploadQuotas {
  private readonly reservedBytes = new Map<string, number>();
  private readonly reservedDrafts = new Map<string, number>();

  constructor(private readonly deps: { repo: Repository; blobs: BlobStore; limits: Limits; now: () => number }) {}

  /** The address's open drafts of the window and the bytes their blobs hold (each blob once). */
  async usage(address: string): Promise<QuotaUsage> {
    const drafts = await this.deps.repo.listOpenDrafts(address, this.deps.now() - QUOTA_WINDOW_MS);
    const hashes = new Set<string>();
    for (const d of drafts) {
      if (d.modelHash) hashes.add(d.modelHash);
      if (d.validationHash) hashes.add(d.validationHash);
      const cluster = await this.deps.repo.getClusterSpec(d.id);
      if (cluster?.trainHash) hashes.add(cluster.trainHash);
    }
    let bytes = 0;
    for (const h of hashes) bytes += await stat(this.deps.blobs.path(h)).then((s) => s.size, () => 0);
    return { drafts: drafts.length, bytes };
  }

  private storageRefusal(address: string, used: number): ApiError {
    const quota = this.deps.limits.storedBytesPerAddress;
    return new ApiError(
      "STORAGE_QUOTA_EXCEEDED",
      `${address} already holds ${Math.ceil(used / MIB)} MiB in drafts of the last 24 h (or uploading now); this orchestrator keeps at most ${Math.floor(quota / MIB)} MiB per address until a job binds them.`,
      { usedBytes: used, quotaBytes: quota },
    );
  }

  /**
   * Admit one more draft holding `bytes` from the start (seeded weights); the returned function
   * ends the reservation once the draft is stored (or refused).
   */
  async admitDraft(address: string, bytes: number): Promise<() => void> {
    const { draftsPerAddress, storedBytesPerAddress } = this.deps.limits;
    const pending = this.reservedDrafts.get(address) ?? 0;
    this.reservedDrafts.set(address, pending + 1);
    const release = once(() => decrement(this.reservedDrafts, address, 1));
    try {
      const usage = await this.usage(address);
      if (usage.drafts + pending >= draftsPerAddress) {
        throw new ApiError(
          "DRAFT_QUOTA_EXCEEDED",
          `${address} already has ${usage.drafts + pending} drafts of the last 24 h that no job uses; this orchestrator keeps at most ${draftsPerAddress} per address.`,
          { drafts: usage.drafts + pending, quota: draftsPerAddress },
        );
      }
      const used = usage.bytes + (this.reservedBytes.get(address) ?? 0);
      if (used + bytes > storedBytesPerAddress) throw this.storageRefusal(address, used);
    } catch (err) {
      release();
      throw err;
    }
    return release;
  }

  /**
   * The body budget of an upload into one of the address's drafts: at most `routeLimit`, and at
   * most what the storage quota leaves, reserved until the request is answered.
   */
  async uploadBudget(address: string, routeLimit: number, declaredLength: number): Promise<UploadBudget> {
    const usage = await this.usage(address);
    const used = usage.bytes + (this.reservedBytes.get(address) ?? 0);
    const left = Math.max(0, this.deps.limits.storedBytesPerAddress - used);
    const tooLarge = (limit: number) => new ApiError("BODY_TOO_LARGE", `The body is larger than ${limit} bytes, the most this upload accepts.`, { limit });
    if (left < routeLimit) {
      if (declaredLength > left || left === 0) throw this.storageRefusal(address, used);
    }
    const limit = Math.min(routeLimit, left);
    const reserve = Number.isFinite(declaredLength) && declaredLength >= 0 ? Math.min(declaredLength, limit) : limit;
    this.reservedBytes.set(address, (this.reservedBytes.get(address) ?? 0) + reserve);
    return {
      limit,
      refuse: limit < routeLimit ? () => this.storageRefusal(address, used) : tooLarge,
      release: once(() => decrement(this.reservedBytes, address, reserve)),
    };
  }
}

function decrement(map: Map<string, number>, key: string, by: number): void {
  const left = (map.get(key) ?? 0) - by;
  if (left > 0) map.set(key, left);
  else map.delete(key);
}

function once(fn: () => void): () => void {
  let done = false;
  return () => {
    if (!done) {
      done = true;
      fn();
    }
  };
}
