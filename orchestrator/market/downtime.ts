/**
 * The arbiter's measure of a rented machine's downtime, from what the cluster manager sees: a
 * machine is down from the moment it is marked failed (connection lost, worker exited, heartbeats
 * stopped) until it is connected again. The spans live in the store (a restart, or another
 * orchestrator on the same database, loses none); the downtime statement counts the part inside
 * the rental's paid window. Wall-clock milliseconds.
 */
import type { DowntimeSpan, Repository } from "../store/repository.js";

/** Statuses that mean the machine serves. */
const SERVING = new Set(["ready", "running", "done"]);

/** Whole seconds of `spans` within [from, until] (an open span counts up to `until`), rounded down. */
export function secondsWithin(spans: DowntimeSpan[], from: number, until: number): number {
  let ms = 0;
  for (const s of spans) ms += Math.max(0, Math.min(s.to ?? until, until) - Math.max(s.from, from));
  return Math.floor(ms / 1000);
}

export class DowntimeLedger {
  /** Writes go to the store one after another, in the order the statuses came. */
  private tail: Promise<void> = Promise.resolve();

  constructor(
    private readonly repo: Pick<Repository, "markRentalDown" | "markRentalUp" | "listRentalDowntime">,
    private readonly onError: (err: unknown, rentalId: string) => void = () => {},
  ) {}

  /** Feed one cluster status: failed is down, ready/running/done is up; other statuses say nothing. */
  observe(rentalId: string, status: string, at: number): Promise<void> {
    const write =
      status === "failed" ? () => this.repo.markRentalDown(rentalId, at) : SERVING.has(status) ? () => this.repo.markRentalUp(rentalId, at) : null;
    if (write) this.tail = this.tail.then(write).catch((err: unknown) => this.onError(err, rentalId));
    return this.tail;
  }

  /** Whole seconds the rental's machine was down within [from, until] ms, once every status fed so far is stored. */
  async secondsDown(rentalId: string, from: number, until: number): Promise<number> {
    await this.tail;
    return secondsWithin(await this.repo.listRentalDowntime(rentalId), from, until);
  }
}
