/**
 * Who does what when several orchestrators share one store: named locks that one process holds
 * at a time (reading the chain, closing a given round, managing clusters). On PostgreSQL they are
 * session advisory locks on a connection of their own, so a process that dies (even SIGKILL)
 * drops them the moment its connection closes and another instance takes over on its next try.
 * A SQLite store belongs to one process: there, every lock is simply held. The lock connection
 * names its process (application_name "quackmesh-locks PID"), so pg_locks tells an operator
 * which instance holds what.
 */
import pg from "pg";

export interface Coordinator {
  /** Whether other orchestrators may share this store (then rounds are swept for takeover). */
  readonly shared: boolean;
  /** Take the named lock if it is free; true while this process holds it. Never throws: false when unsure. */
  tryHold(name: string): Promise<boolean>;
  /** Give the lock back (no-op when not held). */
  release(name: string): Promise<void>;
  close(): Promise<void>;
}

/** One process, one store: every lock is its own. */
export class LocalCoordinator implements Coordinator {
  readonly shared = false;
  async tryHold(): Promise<boolean> {
    return true;
  }
  async release(): Promise<void> {}
  async close(): Promise<void> {}
}

/** First key of every QuackMesh advisory lock, so they never meet another application's. */
const LOCK_SPACE = 0x514d;

export class PostgresCoordinator implements Coordinator {
  readonly shared = true;
  private client: pg.Client | null = null;
  private connecting: Promise<pg.Client> | null = null;
  private readonly held = new Set<string>();
  private closed = false;

  constructor(
    private readonly url: string,
    private readonly onLost: (err: Error) => void = () => undefined,
  ) {}

  private connection(): Promise<pg.Client> {
    if (this.client) return Promise.resolve(this.client);
    this.connecting ??= (async () => {
      const c = new pg.Client({ connectionString: this.url, keepAlive: true, application_name: `quackmesh-locks ${process.pid}`, connectionTimeoutMillis: 5000 });
      // The connection is the locks: once it breaks none is held any more.
      const lost = (err?: Error) => {
        if (this.client === c) this.client = null;
        this.held.clear();
        if (err) this.onLost(err);
      };
      c.on("error", lost);
      c.on("end", () => lost());
      await c.connect();
      this.client = c;
      return c;
    })().finally(() => (this.connecting = null));
    return this.connecting;
  }

  async tryHold(name: string): Promise<boolean> {
    if (this.closed) return false;
    if (this.held.has(name) && this.client) return true;
    try {
      const c = await this.connection();
      const { rows } = await c.query<{ ok: boolean }>("SELECT pg_try_advisory_lock($1, hashtext($2)) AS ok", [LOCK_SPACE, name]);
      if (rows[0].ok && this.client === c) this.held.add(name);
      return this.held.has(name);
    } catch {
      return false;
    }
  }

  async release(name: string): Promise<void> {
    if (!this.held.delete(name) || !this.client) return;
    await this.client.query("SELECT pg_advisory_unlock($1, hashtext($2))", [LOCK_SPACE, name]).catch(() => undefined);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.held.clear();
    const c = this.client ?? (await this.connecting?.catch(() => null)) ?? null;
    this.client = null;
    await c?.end().catch(() => undefined);
  }
}

export interface LockFollowerHandlers {
  /** The lock was taken (true) or lost (false); also called once after the first try, either way. */
  changed(held: boolean): Promise<void> | void;
  /** Each later try that finds the lock still held. */
  held?(): Promise<void> | void;
  error?(err: unknown): void;
}

/**
 * Follows one named lock for a role that one orchestrator plays at a time (e.g. the cluster
 * manager): tries to hold it every `everyMs` and says when this process gains or loses it. A
 * holder that dies loses it with its connection, so another takes the role on its next try.
 * With a store of its own (LocalCoordinator) it is held from the first try on: no timer.
 */
export class LockFollower {
  private timer: NodeJS.Timeout | undefined;
  private state: boolean | undefined;
  private running: Promise<void> | null = null;
  private stopped = false;

  constructor(
    private readonly coordinator: Coordinator,
    readonly name: string,
    private readonly on: LockFollowerHandlers,
    private readonly everyMs = 1000,
  ) {}

  get holding(): boolean {
    return this.state === true;
  }

  async start(): Promise<void> {
    await this.tick();
    if (!this.coordinator.shared || this.stopped) return;
    this.timer = setInterval(() => void this.tick(), this.everyMs);
    this.timer.unref();
  }

  /** One try; concurrent calls share it. */
  tick(): Promise<void> {
    this.running ??= (async () => {
      if (this.stopped) return;
      const held = await this.coordinator.tryHold(this.name);
      if (held !== this.state) {
        this.state = held;
        await this.on.changed(held);
      } else if (held) await this.on.held?.();
    })()
      .catch((err: unknown) => this.on.error?.(err))
      .finally(() => (this.running = null));
    return this.running;
  }

  /** Stop trying and give the lock back if held (the caller leaves the role itself). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.running;
    if (this.state) await this.coordinator.release(this.name);
    this.state = false;
  }
}
