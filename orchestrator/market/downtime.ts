/**
 * The arbiter's measure of a rented machine's downtime, from what the cluster manager sees: a
 * machine is down from the moment it is marked failed (connection lost, worker exited, heartbeats
 * stopped) until it is connected again. Kept per rental as closed intervals plus an open one; the
 * downtime statement counts the part inside the rental's paid window. Wall-clock milliseconds.
 */
export class DowntimeLedger {
  private readonly intervals = new Map<string, Array<[number, number]>>();
  private readonly downSince = new Map<string, number>();

  /** The machine stopped serving at `at` (repeated calls while down change nothing). */
  down(rentalId: string, at: number): void {
    if (!this.downSince.has(rentalId)) this.downSince.set(rentalId, at);
  }

  /** The machine serves again from `at`. */
  up(rentalId: string, at: number): void {
    const since = this.downSince.get(rentalId);
    // Out of order (an older status arriving late) says nothing about now.
    if (since === undefined || at < since) return;
    this.downSince.delete(rentalId);
    this.intervals.set(rentalId, [...(this.intervals.get(rentalId) ?? []), [since, at]]);
  }

  /** Whole seconds down within [from, until] (an open interval counts up to `until`), rounded down. */
  secondsDown(rentalId: string, from: number, until: number): number {
    const spans = [...(this.intervals.get(rentalId) ?? [])];
    const since = this.downSince.get(rentalId);
    if (since !== undefined) spans.push([since, until]);
    let ms = 0;
    for (const [a, b] of spans) ms += Math.max(0, Math.min(b, until) - Math.max(a, from));
    return Math.floor(ms / 1000);
  }

  /** Feed one cluster status: failed is down, ready/running/done is up. */
  observe(rentalId: string, status: string, at: number): void {
    if (status === "failed") this.down(rentalId, at);
    else if (status === "ready" || status === "running" || status === "done") this.up(rentalId, at);
  }
}
