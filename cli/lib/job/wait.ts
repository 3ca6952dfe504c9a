/** Waiting politely: sleeps that an AbortSignal ends early, and a capped exponential backoff. */
import { QuackError, isTransientError } from "../../../protocol/errors.js";

export function aborted(signal?: AbortSignal): QuackError {
  return new QuackError("ABORTED", "Stopped before finishing.", { cause: signal?.reason });
}

/** Resolves after `ms`, or rejects with ABORTED as soon as `signal` fires. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(aborted(signal));
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(aborted(signal));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** Delays that grow by `factor` from `minMs` up to `maxMs`; reset() after progress. */
export class Backoff {
  private current: number;

  constructor(
    private readonly minMs: number,
    private readonly maxMs: number,
    private readonly factor = 1.6,
  ) {
    this.current = minMs;
  }

  /** The delay to wait now; the next one is longer. */
  next(): number {
    const d = this.current;
    this.current = Math.min(this.maxMs, Math.round(this.current * this.factor));
    return d;
  }

  reset(): void {
    this.current = this.minMs;
  }
}

/**
 * Errors worth retrying after a pause: the network, a busy server, a nonce race: the codes marked
 * transient in ERROR_CODES (an INTERNAL answer is not one: retrying a bug repeats it).
 */
export function isTransient(err: unknown): boolean {
  return isTransientError(err);
}
