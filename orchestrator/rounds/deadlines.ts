/** One timer per open round (and per pending retry), re-armed after restarts from the store. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export class Deadlines {
  private readonly timers = new Map<string, NodeJS.Timeout>();

  constructor(
    private readonly now: () => number,
    private readonly fire: (jobId: number, round: number) => void | Promise<void>,
  ) {}

  arm(jobId: number, round: number, deadlineAt: number): void {
    const key = `${jobId}:${round}`;
    this.disarm(jobId, round);
    const wait = Math.max(0, deadlineAt - this.now());
    // setTimeout holds at most ~24.8 days; longer deadlines re-arm when that passes.
    const timer = setTimeout(() => {
      this.timers.delete(key);
      if (wait > MAX_TIMER_MS) this.arm(jobId, round, deadlineAt);
      else void this.fire(jobId, round);
    }, Math.min(wait, MAX_TIMER_MS));
    this.timers.set(key, timer);
  }

  retry(jobId: number, round: number, ms: number, fn: () => void): void {
    const key = `retry:${jobId}:${round}`;
    clearTimeout(this.timers.get(key));
    const timer = setTimeout(() => {
      this.timers.delete(key);
      fn();
    }, ms);
    this.timers.set(key, timer);
  }

  disarm(jobId: number, round: number): void {
    const key = `${jobId}:${round}`;
    clearTimeout(this.timers.get(key));
    this.timers.delete(key);
  }

  clear(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }
}
