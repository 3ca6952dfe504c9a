import { EventEmitter } from "node:events";
import { Client, type ClientChannel, type SFTPWrapper } from "ssh2";
import { QuackError } from "../../protocol/errors.js";
import { fingerprintOf } from "../../protocol/market/sshKeys.js";
import { connectAddress } from "./endpointGuard.js";
import { KnownHosts } from "./knownHosts.js";

export interface SshTarget {
  host: string;
  port: number;
  username: string;
  /** The renter's private key (OpenSSH or PEM text). */
  privateKey: string | Buffer;
  /** Expected `SHA256:…` host key when known ahead (announced by the provider); else trust on first use. */
  hostKeyFingerprint?: string;
}

export interface OpenOptions {
  /** Pinned host keys; a fresh in-memory store when absent. */
  knownHosts?: KnownHosts;
  /** Time for TCP connect + handshake + authentication (default 15 s). */
  readyTimeoutMs?: number;
  /** Keepalive interval; a dead peer is noticed after 3 missed ones (default 5 s). */
  keepaliveMs?: number;
  /** Connect to loopback, private and link-local addresses too (default true; the orchestrator turns it off away from the local chain: endpointGuard.ts). */
  allowPrivateEndpoints?: boolean;
}

export interface ExecResult {
  code: number | null;
  signal?: string;
}

export interface ExecHandle {
  /** Resolves when the remote command exited and its channel closed. */
  done: Promise<ExecResult>;
  /** Close the channel (the gate passes the hang-up on to the worker). */
  close(): void;
  /** Send text to the remote command's stdin (the gate passes it on to the worker). */
  write(text: string): void;
  /** Close the remote command's stdin (end of its input). */
  end(): void;
}

/**
 * One SSH connection to a rented machine. Emits `closed` (with an error when the connection
 * broke rather than being closed by us).
 */
export class SshSession extends EventEmitter {
  private sftpHandle?: Promise<SFTPWrapper>;
  private closedByUs = false;

  private constructor(
    private readonly client: Client,
    readonly target: Omit<SshTarget, "privateKey">,
    readonly hostKeyFingerprint: string,
  ) {
    super();
    client.on("error", (err) => this.emit("closed", this.connectionLost(err)));
    client.on("close", () => {
      if (!this.closedByUs) this.emit("closed", this.connectionLost(new Error("connection closed by the machine")));
    });
  }

  /** Connect, check the host key against the pin, and authenticate with the renter's key. */
  static async open(target: SshTarget, opts: OpenOptions = {}): Promise<SshSession> {
    const address = await connectAddress(target.host, target.port, opts.allowPrivateEndpoints ?? true);
    const known = opts.knownHosts ?? new KnownHosts();
    const where = `${target.host}:${target.port}`;
    const expected = target.hostKeyFingerprint ?? known.get(target.host, target.port);
    let seen: string | undefined;
    return new Promise((resolve, reject) => {
      const client = new Client();
      const fail = (err: Error & { level?: string; code?: string }) => {
        client.removeAllListeners();
        client.on("error", () => {});
        client.end();
        reject(openError(err, where, target.username, expected, seen));
      };
      client.once("error", fail);
      client.once("ready", () => {
        client.removeListener("error", fail);
        if (expected === undefined) known.set(target.host, target.port, seen!);
        resolve(new SshSession(client, { host: target.host, port: target.port, username: target.username, hostKeyFingerprint: seen }, seen!));
      });
      try {
        client.connect({
          host: address,
          port: target.port,
          username: target.username,
          privateKey: target.privateKey,
          readyTimeout: opts.readyTimeoutMs ?? 15_000,
          keepaliveInterval: opts.keepaliveMs ?? 5_000,
          keepaliveCountMax: 3,
          hostVerifier: (key: Buffer) => {
            seen = fingerprintOf(key);
            return expected === undefined || expected === seen;
          },
        });
      } catch (err) {
        // ssh2 throws synchronously for an unparsable private key.
        reject(
          new QuackError("INVALID_SSH_KEY", `The renter's private key cannot be used: ${(err as Error).message}.`, {
            fix: "Pass the unencrypted OpenSSH private key whose .pub was given to `quackmesh rent`.",
            cause: err,
          }),
        );
      }
    });
  }

  private connectionLost(err: Error): QuackError {
    return new QuackError("SSH_CONNECTION_LOST", `The connection to ${this.target.host}:${this.target.port} broke: ${err.message}.`, { cause: err });
  }

  /**
   * Run `command` (through the provider's gate: only `quackmesh worker …` and SFTP pass).
   * stdout and stderr arrive line by line.
   */
  exec(command: string, on: { stdoutLine?: (line: string) => void; stderrLine?: (line: string) => void } = {}): Promise<ExecHandle> {
    return new Promise((resolve, reject) => {
      this.client.exec(command, (err, channel: ClientChannel) => {
        if (err) return reject(new QuackError("SSH_EXEC_FAILED", `The machine refused to run a command: ${err.message}.`, { cause: err }));
        let result: ExecResult = { code: null };
        channel.on("exit", (code: number | null, signal?: string) => (result = signal ? { code, signal } : { code }));
        splitLines(channel, on.stdoutLine);
        splitLines(channel.stderr, on.stderrLine);
        const done = new Promise<ExecResult>((r) => channel.once("close", () => r(result)));
        resolve({ done, close: () => channel.close(), write: (text) => void channel.write(text), end: () => void channel.end() });
      });
    });
  }

  /** Run `command` to its end and collect its output. */
  async run(command: string): Promise<ExecResult & { stdout: string; stderr: string }> {
    const out: string[] = [];
    const errs: string[] = [];
    const handle = await this.exec(command, { stdoutLine: (l) => out.push(l), stderrLine: (l) => errs.push(l) });
    const result = await handle.done;
    return { ...result, stdout: out.join("\n"), stderr: errs.join("\n") };
  }

  private sftp(): Promise<SFTPWrapper> {
    return (this.sftpHandle ??= new Promise((resolve, reject) =>
      this.client.sftp((err, sftp) =>
        err ? reject(new QuackError("SFTP_REFUSED", `The machine refused SFTP: ${err.message}.`, { cause: err })) : resolve(sftp),
      ),
    ));
  }

  /**
   * Upload a local file or a buffer to `remotePath` (relative paths land in the rental's folder).
   * `mode` sets the file's permissions (e.g. 0o600 for a key) from its creation on.
   */
  async upload(source: string | Buffer, remotePath: string, opts: { mode?: number } = {}): Promise<void> {
    const sftp = await this.sftp();
    await new Promise<void>((resolve, reject) => {
      const done = (err?: Error | null) =>
        err ? reject(new QuackError("SFTP_UPLOAD_FAILED", `Uploading to ${remotePath} failed: ${err.message}.`, { cause: err })) : resolve();
      const mode = opts.mode === undefined ? {} : { mode: opts.mode };
      if (typeof source === "string") sftp.fastPut(source, remotePath, mode, done);
      else sftp.writeFile(remotePath, source, mode, done);
    });
  }

  /** Create a folder (relative paths land in the rental's folder); an existing one is fine. */
  async mkdir(remotePath: string): Promise<void> {
    const sftp = await this.sftp();
    await new Promise<void>((resolve, reject) =>
      sftp.mkdir(remotePath, (err) => {
        if (!err) return resolve();
        // SFTP reports an existing folder as a generic failure: look before calling it an error.
        sftp.stat(remotePath, (statErr, stats) =>
          !statErr && stats.isDirectory() ? resolve() : reject(new QuackError("SFTP_MKDIR_FAILED", `Creating ${remotePath} failed: ${err.message}.`, { cause: err })),
        );
      }),
    );
  }

  /** Read a remote file (relative to the rental's folder). */
  async download(remotePath: string): Promise<Buffer> {
    const sftp = await this.sftp();
    return new Promise((resolve, reject) =>
      sftp.readFile(remotePath, (err: Error | undefined, data: Buffer) =>
        err ? reject(new QuackError("SFTP_DOWNLOAD_FAILED", `Reading ${remotePath} failed: ${err.message}.`, { cause: err })) : resolve(data),
      ),
    );
  }

  /** The absolute folder SFTP starts in (the rental's folder). */
  async remoteHome(): Promise<string> {
    const sftp = await this.sftp();
    return new Promise((resolve, reject) => sftp.realpath(".", (err, path) => (err ? reject(err) : resolve(path))));
  }

  close(): void {
    this.closedByUs = true;
    this.client.end();
  }
}

function splitLines(stream: NodeJS.ReadableStream, onLine?: (line: string) => void): void {
  let rest = "";
  stream.setEncoding("utf8");
  stream.on("data", (chunk: string) => {
    const parts = (rest + chunk).split("\n");
    rest = parts.pop() ?? "";
    for (const line of parts) onLine?.(line.replace(/\r$/, ""));
  });
  stream.on("end", () => {
    if (rest) onLine?.(rest);
    rest = "";
  });
}

function openError(err: Error & { level?: string; code?: string }, where: string, user: string, expected?: string, seen?: string): QuackError {
  if (expected !== undefined && seen !== undefined && expected !== seen) {
    return new QuackError("HOST_KEY_CHANGED", `The host key of ${where} changed: pinned ${expected}, offered ${seen}. Refusing to connect.`, {
      fix: "Ask the provider whether the machine was reinstalled; if so, forget its pinned key. Otherwise someone may be intercepting the connection.",
      details: { expected, offered: seen },
      cause: err,
    });
  }
  if (err.level === "client-authentication") {
    return new QuackError("SSH_AUTH_REFUSED", `${where} refused the SSH key for user ${user}.`, {
      fix: "Use the private key whose public key was given to `quackmesh rent`; the provider may not have installed it yet or the rental has ended.",
      cause: err,
    });
  }
  if (err.level === "client-timeout") {
    return new QuackError("SSH_TIMEOUT", `${where} did not complete the SSH handshake in time.`, { fix: "Check that the machine is up.", cause: err });
  }
  if (err.code === "ECONNREFUSED" || err.code === "EHOSTUNREACH" || err.code === "ETIMEDOUT" || err.code === "ENOTFOUND") {
    return new QuackError("SSH_UNREACHABLE", `Cannot reach ${where} (${err.code}).`, {
      fix: "The provider's SSH server is down or the endpoint is wrong; end the rental for a refund of the unserved time.",
      cause: err,
    });
  }
  return new QuackError("SSH_FAILED", `SSH to ${where} failed: ${err.message}.`, { cause: err });
}
