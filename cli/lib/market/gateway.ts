/**
 * The embedded SSH gateway of `quackmesh provide`: a real SSH server (ssh2's server side) that
 * serves rentals and nothing else, so a provider needs no OpenSSH and a renter is confined.
 *   - public-key authentication only, with exactly the keys of the machine's current rentals;
 *     revoking a rental closes its connections and ends its workers;
 *   - exec: only `quackmesh worker …` (the gate's argument rule), run without a shell in the
 *     rental's folder with a minimal environment (no provider keys or config);
 *   - SFTP served here, confined to the rental's folder, bytes capped per rental;
 *   - shells, PTYs, port/agent/X11 forwarding, other subsystems: refused;
 *   - bounded: unauthenticated connections and their login time, authentication attempts per
 *     minute per address, connections per rental, idle time.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { EventEmitter } from "node:events";
import { existsSync, mkdirSync, realpathSync } from "node:fs";
import { join } from "node:path";
import ssh2, { type AuthContext, type Connection, type ServerChannel, type Session, type SFTPWrapper } from "ssh2";
import { QuackError } from "../../../protocol/errors.js";
import { packageRoot } from "../../../protocol/package.js";
import { formatPublicKey, parsePublicKey, type SshPublicKey } from "../../../protocol/market/sshKeys.js";
import type { RentalAccess } from "./gateAccess.js";
import { rentalFolder, workerRequest } from "./gate.js";
import { ensureHostKey, type GatewayHostKey } from "./gatewayHostKey.js";
import { RentalDisk, serveSftp } from "./gatewaySftp.js";

const { Server, utils } = ssh2; // CommonJS: Node sees only some of its names as named exports

export interface GatewayLimits {
  /** Open connections one rental may hold at once. */
  connectionsPerRental: number;
  /** Sessions (worker runs, SFTP) open at once on one connection. */
  sessionsPerConnection: number;
  /** Authentication requests (other than "none") per source address per minute. */
  authPerMinute: number;
  /** Authentication requests on one connection before it is closed. */
  authPerConnection: number;
  /** Connections not yet authenticated, all addresses together. */
  unauthenticated: number;
  /** Time to authenticate after connecting. */
  loginGraceMs: number;
  /** A connection with no traffic for this long is closed. */
  idleMs: number;
  /** Bytes the files of one rental may take (SFTP uploads are refused past it). */
  diskBytesPerRental: number;
}

export const DEFAULT_GATEWAY_LIMITS: GatewayLimits = {
  connectionsPerRental: 4,
  sessionsPerConnection: 8,
  authPerMinute: 30,
  authPerConnection: 6,
  unauthenticated: 16,
  loginGraceMs: 30_000,
  idleMs: 15 * 60_000,
  diskBytesPerRental: 2 * 1024 ** 3,
};

export interface GatewayOptions {
  /** Host key file (generated when absent, 0600). */
  hostKeyFile: string;
  /** Folder holding one `rental-<id>` folder per rental. */
  rentalsRoot: string;
  host?: string;
  /** 0 or absent: a free port. */
  port?: number;
  /** CLI entry the worker runs as `node <entry> worker ARGS` (default: this package's dist/cli/index.js). */
  workerEntry?: string;
  limits?: Partial<GatewayLimits>;
}

/** What the gateway refused or did, for the provider's log. Never holds key material. */
export interface GatewayEvent {
  kind: "login" | "refused" | "closed" | "revoked";
  address: string;
  rentalId?: string;
  message: string;
}

interface Grant {
  rentalId: string;
  key: SshPublicKey;
  folder: string;
  disk: RentalDisk;
  connections: Set<Conn>;
}

interface Conn {
  client: Connection;
  address: string;
  grant?: Grant;
  lastActivity: number;
  workers: Set<ChildProcess>;
  sessions: number;
}

/** Environment of a worker: nothing of the provider's own (keys, config, home), engine tuning kept. */
function workerEnv(rentalId: string, folder: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    PATH: "/usr/local/bin:/usr/bin:/bin",
    HOME: folder,
    QUACKMESH_HOME: join(folder, ".quackmesh"),
    QUACKMESH_RENTAL_ID: rentalId,
    QUACKMESH_RENTAL_DIR: folder,
  };
  // Passed on as they are: the search path, locale, and the engine's tuning (protocol/config.ts).
  for (const name of ["PATH", "LANG", "TZ", "QUACKMESH_THREADS", "QUACKMESH_SIMD", "QUACKMESH_NO_CUDA", "QUACKMESH_NATIVE_BUILD", "QUACKMESH_NO_HUGEPAGES", "QUACKMESH_CUDA_GRAPH"]) {
    if (process.env[name] !== undefined) env[name] = process.env[name];
  }
  return env;
}

function endGroup(child: ChildProcess): void {
  const kill = (sig: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, sig);
    } catch {
      // already gone
    }
  };
  if (child.exitCode !== null || child.signalCode !== null) return;
  kill("SIGTERM");
  setTimeout(() => child.exitCode === null && child.signalCode === null && kill("SIGKILL"), 2000).unref();
}

/** The default worker: the CLI of this package, built. */
export function defaultWorkerEntry(): string {
  const entry = join(packageRoot(), "dist", "cli", "index.js");
  if (!existsSync(entry)) {
    throw new QuackError("GATE_NOT_BUILT", `The CLI ${entry} is missing, so the gateway cannot start workers.`, {
      fix: "Build the CLI first: `npm run build:ts`.",
    });
  }
  return entry;
}

export class SshGateway extends EventEmitter implements RentalAccess {
  readonly limits: GatewayLimits;
  private readonly grants = new Map<string, Grant>();
  private readonly conns = new Set<Conn>();
  private readonly attempts = new Map<string, number[]>();
  private unauthenticated = 0;
  private idleTimer?: NodeJS.Timeout;
  private closing?: Promise<void>;

  private constructor(
    private readonly server: InstanceType<typeof Server>,
    readonly hostKey: GatewayHostKey,
    readonly host: string,
    readonly port: number,
    private readonly rentalsRoot: string,
    private readonly workerEntry: string,
    limits: GatewayLimits,
  ) {
    super();
    this.limits = limits;
    this.idleTimer = setInterval(() => this.closeIdle(), Math.max(50, Math.min(5000, Math.floor(limits.idleMs / 4))));
    this.idleTimer.unref();
  }

  get where(): string {
    return `gateway ${this.host}:${this.port}`;
  }

  get hostKeyFingerprint(): string {
    return this.hostKey.fingerprint;
  }

  /** Start listening. The host key is made on first start and reused after. */
  static async start(opts: GatewayOptions): Promise<SshGateway> {
    const limits = { ...DEFAULT_GATEWAY_LIMITS, ...opts.limits };
    const hostKey = ensureHostKey(opts.hostKeyFile);
    const workerEntry = opts.workerEntry ?? defaultWorkerEntry();
    mkdirSync(opts.rentalsRoot, { recursive: true, mode: 0o700 });
    const host = opts.host ?? "127.0.0.1";
    let gateway: SshGateway | undefined;
    const server = new Server({ hostKeys: [hostKey.privateKey], ident: "QuackMesh-gateway" }, (client, info) => gateway!.onConnection(client, info.ip));
    const port = await new Promise<number>((resolve, reject) => {
      server.once("error", (err: NodeJS.ErrnoException) =>
        reject(
          err.code === "EADDRINUSE"
            ? new QuackError("PORT_BUSY", `Port ${opts.port} on ${host} is already in use.`, { fix: "Pick another port, or leave it out to use a free one." })
            : new QuackError("GATEWAY_START_FAILED", `The SSH gateway cannot listen on ${host}:${opts.port ?? 0}: ${err.message}.`, { cause: err }),
        ),
      );
      server.listen(opts.port ?? 0, host, () => resolve((server.address() as { port: number }).port));
    });
    server.on("error", () => {}); // a listening server's errors are per connection, handled there
    gateway = new SshGateway(server, hostKey, host, port, opts.rentalsRoot, workerEntry, limits);
    return gateway;
  }

  /** Let the key of rental `rentalId` in (to its own folder), until revoke(). */
  grant(rentalId: bigint | string, publicKey: string): void {
    const id = String(rentalId);
    const key = parsePublicKey(publicKey);
    const folder = rentalFolder(this.rentalsRoot, id);
    mkdirSync(folder, { recursive: true, mode: 0o700 });
    const old = this.grants.get(id);
    this.grants.set(id, { rentalId: id, key, folder, disk: old?.disk ?? new RentalDisk(realpathSync(folder), this.limits.diskBytesPerRental), connections: old?.connections ?? new Set() });
  }

  /** The key stops working now; the rental's connections close and its workers end. */
  revoke(rentalId: bigint | string): void {
    const id = String(rentalId);
    const g = this.grants.get(id);
    if (!g) return;
    this.grants.delete(id);
    for (const c of g.connections) this.drop(c, `rental ${id} is over`);
    this.log({ kind: "revoked", address: "-", rentalId: id, message: `rental ${id}: key revoked, ${g.connections.size} connection(s) closed` });
  }

  /** Rentals whose keys are let in now. */
  granted(): string[] {
    return [...this.grants.keys()];
  }

  /** Open connections of a rental. */
  connectionsOf(rentalId: bigint | string): number {
    return this.grants.get(String(rentalId))?.connections.size ?? 0;
  }

  /** Stop listening, close every connection, end every worker. Safe to call twice. */
  close(): Promise<void> {
    return (this.closing ??= new Promise<void>((resolve) => {
      clearInterval(this.idleTimer);
      for (const c of this.conns) this.drop(c, "the provider stopped");
      this.server.close(() => resolve());
      setTimeout(resolve, 3000).unref();
    }));
  }

  private log(e: GatewayEvent): void {
    this.emit("event", e);
  }

  private drop(c: Conn, why: string): void {
    for (const w of c.workers) endGroup(w);
    this.log({ kind: "closed", address: c.address, rentalId: c.grant?.rentalId, message: `connection closed: ${why}` });
    c.client.end();
  }

  /** Sliding one-minute window of authentication attempts per address; false past the limit. */
  private takeAttempt(address: string): boolean {
    const now = Date.now();
    const recent = (this.attempts.get(address) ?? []).filter((t) => now - t < 60_000);
    const ok = recent.length < this.limits.authPerMinute;
    if (ok) recent.push(now);
    this.attempts.set(address, recent);
    if (this.attempts.size > 10_000) for (const [a, ts] of this.attempts) if (!ts.some((t) => now - t < 60_000)) this.attempts.delete(a);
    return ok;
  }

  private onConnection(client: Connection, address: string): void {
    const c: Conn = { client, address, lastActivity: Date.now(), workers: new Set(), sessions: 0 };
    client.on("error", () => {}); // a client's broken socket ends its connection, nothing more
    if (this.closing || this.unauthenticated >= this.limits.unauthenticated) {
      this.log({ kind: "refused", address, message: this.closing ? "the gateway is stopping" : `too many connections still authenticating (${this.limits.unauthenticated})` });
      client.end();
      return;
    }
    this.conns.add(c);
    this.unauthenticated++;
    let authenticated = false;
    let tries = 0;
    const grace = setTimeout(() => {
      this.log({ kind: "refused", address, message: `did not authenticate within ${Math.round(this.limits.loginGraceMs / 1000)} s` });
      client.end();
    }, this.limits.loginGraceMs);
    const leavePreAuth = () => {
      if (authenticated) return;
      authenticated = true;
      this.unauthenticated--;
      clearTimeout(grace);
    };

    client.on("authentication", (ctx: AuthContext) => {
      if (ctx.method === "none") return ctx.reject(["publickey"]);
      if (++tries > this.limits.authPerConnection || !this.takeAttempt(address)) {
        this.log({ kind: "refused", address, message: `too many authentication attempts from ${address}` });
        ctx.reject();
        client.end();
        return;
      }
      if (ctx.method !== "publickey") return ctx.reject(["publickey"]);
      const grant = this.grantFor(ctx.username, ctx.key.data);
      if (!grant) {
        this.log({ kind: "refused", address, message: `a key that belongs to no current rental (user ${ctx.username.slice(0, 40)})` });
        return ctx.reject(["publickey"]);
      }
      if (!ctx.signature) return ctx.accept(); // the client asks whether the key would do
      const pub = utils.parseKey(formatPublicKey(grant.key));
      if (pub instanceof Error || Array.isArray(pub) || pub.verify(ctx.blob!, ctx.signature, ctx.hashAlgo) !== true) {
        this.log({ kind: "refused", address, rentalId: grant.rentalId, message: "a bad signature" });
        return ctx.reject(["publickey"]);
      }
      if (grant.connections.size >= this.limits.connectionsPerRental) {
        this.log({ kind: "refused", address, rentalId: grant.rentalId, message: `rental ${grant.rentalId} already has ${grant.connections.size} connections (at most ${this.limits.connectionsPerRental})` });
        return ctx.reject(["publickey"]);
      }
      c.grant = grant;
      grant.connections.add(c);
      leavePreAuth();
      ctx.accept();
    });

    client.on("ready", () => {
      const grant = c.grant!;
      this.log({ kind: "login", address, rentalId: grant.rentalId, message: `rental ${grant.rentalId} logged in` });
      client.on("session", (accept, reject) => {
        c.lastActivity = Date.now();
        if (c.sessions >= this.limits.sessionsPerConnection) {
          this.log({ kind: "refused", address, rentalId: grant.rentalId, message: `more than ${this.limits.sessionsPerConnection} sessions on one connection` });
          return reject();
        }
        c.sessions++;
        const session = accept();
        session.once("close", () => c.sessions--);
        this.serveSession(c, grant, session);
      });
      // Port forwarding requests (-R) are refused; channel opens for -L/-W/streamlocal have no
      // listener, so ssh2 answers them "administratively prohibited".
      client.on("request", (_accept, reject, name) => {
        this.log({ kind: "refused", address, rentalId: grant.rentalId, message: `global request '${name}' (forwarding is not available)` });
        reject?.();
      });
    });

    client.on("close", () => {
      leavePreAuth();
      clearTimeout(grace);
      this.conns.delete(c);
      c.grant?.connections.delete(c);
      for (const w of c.workers) endGroup(w);
    });
  }

  /** The current rental whose key this is; `rental-<id>` as user name picks one when several match. */
  private grantFor(username: string, blob: Buffer): Grant | undefined {
    const base64 = blob.toString("base64");
    const matching = [...this.grants.values()].filter((g) => g.key.base64 === base64);
    const named = /^rental-(\d+)$/.exec(username)?.[1];
    if (named) return matching.find((g) => g.rentalId === named);
    return matching.sort((a, b) => Number(BigInt(b.rentalId) - BigInt(a.rentalId)))[0];
  }

  private serveSession(c: Conn, grant: Grant, session: Session): void {
    const address = c.address;
    const refuse = (what: string) => this.log({ kind: "refused", address, rentalId: grant.rentalId, message: what });
    const refuseChannel = (channel: ServerChannel, why: string) => {
      refuse(why);
      channel.stderr.write(`quackmesh gateway: refused: ${why}.\n`);
      channel.exit(1);
      channel.end();
    };
    session.on("pty", (_a: unknown, reject: () => void) => (refuse("a terminal (pty)"), reject?.()));
    session.on("x11", (_a: unknown, reject: () => void) => (refuse("X11 forwarding"), reject?.()));
    session.on("auth-agent", (_a: unknown, reject: () => void) => (refuse("agent forwarding"), reject?.()));
    session.on("env", (_a: unknown, reject: () => void) => reject?.());
    session.on("shell", (accept: () => ServerChannel) => refuseChannel(accept(), "an interactive shell is not available; this key only runs `quackmesh worker …` and SFTP"));
    session.on("subsystem", (_a: unknown, reject: () => void, info: { name: string }) => (refuse(`subsystem '${String(info.name).slice(0, 40)}'`), reject?.()));
    session.on("exec", (accept: () => ServerChannel, _reject: unknown, info: { command: string }) => {
      const channel = accept();
      const request = workerRequest(info.command);
      if (typeof request === "string") return refuseChannel(channel, request);
      this.runWorker(c, grant, channel, request);
    });
    session.on("sftp", (accept: () => SFTPWrapper) => {
      const sftp = accept();
      const touch = () => (c.lastActivity = Date.now());
      void grant.disk.refresh().catch(() => {});
      serveSftp(sftp, { root: grant.disk.root, disk: grant.disk, onActivity: touch, onRefused: (m) => refuse(m) });
      // The client's EOF ends an SFTP session (ssh2 passes it to the session, not to the SFTP stream).
      session.once("eof", () => sftp.end());
    });
  }

  private runWorker(c: Conn, grant: Grant, channel: ServerChannel, args: string[]): void {
    let child: ChildProcess;
    try {
      child = spawn(process.execPath, [this.workerEntry, "worker", ...args], { cwd: grant.folder, env: workerEnv(grant.rentalId, grant.folder), stdio: ["pipe", "pipe", "pipe"], detached: true });
    } catch (err) {
      channel.stderr.write(`quackmesh gateway: cannot start the worker: ${(err as Error).message}\n`);
      channel.exit(1);
      channel.end();
      return;
    }
    c.workers.add(child);
    const touch = () => (c.lastActivity = Date.now());
    channel.on("data", touch);
    child.stdout!.on("data", touch);
    child.stderr!.on("data", touch);
    channel.pipe(child.stdin!).on("error", () => {});
    child.stdout!.pipe(channel, { end: false });
    child.stderr!.pipe(channel.stderr, { end: false });
    child.once("error", (err) => {
      channel.stderr.write(`quackmesh gateway: cannot start the worker: ${err.message}\n`);
    });
    // 'close': the process exited and its output is all read.
    child.once("close", (code, signal) => {
      c.workers.delete(child);
      try {
        if (code !== null) channel.exit(code);
        else channel.exit(String(signal ?? "KILL").replace(/^SIG/, ""), false, "");
        channel.end();
      } catch {
        // the channel is gone already
      }
    });
    // The renter hung up (or the connection broke): the worker and all it started end.
    channel.once("close", () => endGroup(child));
  }

  private closeIdle(): void {
    const now = Date.now();
    for (const c of this.conns) {
      if (c.grant && now - c.lastActivity > this.limits.idleMs) this.drop(c, `idle for ${Math.round(this.limits.idleMs / 1000)} s`);
    }
  }
}
