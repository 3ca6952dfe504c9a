/** A token bucket per key (a caller's address): `capacity` requests at once, refilled steadily. */
export interface RateLimitOptions {
  capacity: number;
  refillPerSecond: number;
}

export class TokenBuckets {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(private readonly opts: RateLimitOptions) {}

  /** Take one token; returns 0 when allowed, else the seconds until a token is available. */
  take(key: string, now: number = Date.now()): number {
    const { capacity, refillPerSecond } = this.opts;
    let b = this.buckets.get(key);
    if (!b) {
      if (this.buckets.size > 100_000) this.prune(now);
      b = { tokens: capacity, at: now };
      this.buckets.set(key, b);
    }
    b.tokens = Math.min(capacity, b.tokens + ((now - b.at) / 1000) * refillPerSecond);
    b.at = now;
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - b.tokens) / refillPerSecond));
  }

  /** Drop buckets that are full again: they hold no information. */
  private prune(now: number): void {
    const { capacity, refillPerSecond } = this.opts;
    for (const [k, b] of this.buckets) {
      if (b.tokens + ((now - b.at) / 1000) * refillPerSecond >= capacity) this.buckets.delete(k);
    }
  }
}
