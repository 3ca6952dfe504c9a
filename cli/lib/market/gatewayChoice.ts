/**
 * How `quackmesh provide` lets renters in: the embedded gateway (default, no OpenSSH needed,
 * renters confined), a dedicated OpenSSH server (--sshd), or the machine's own sshd
 * (--system-sshd, with --endpoint and --ssh-authorized-keys). One place for the flags and the
 * start-up, so the provide command only asks for a RentalServer.
 */
import type { Command } from "commander";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { QuackError } from "../../../protocol/errors.js";
import { parsePort } from "../../../protocol/chain/units.js";
import { formatEndpoint, parseEndpoint } from "../../../protocol/market/endpoint.js";
import { parseWhole } from "../flags.js";
import { authorizedKeysAccess, type RentalAccess } from "./gateAccess.js";
import { defaultGateLaunch } from "./gateLaunch.js";
import { DEFAULT_GATEWAY_LIMITS, SshGateway, type GatewayEvent } from "./gateway.js";
import { startSshd } from "./sshd.js";

export interface RentalServerFlags {
  endpoint?: string;
  sshAuthorizedKeys?: string;
  sshd?: boolean;
  systemSshd?: boolean;
  sshdHost: string;
  sshdPort: string;
  sshdDir?: string;
  gatewayKey?: string;
  diskPerRental: string;
  connectionsPerRental: string;
  idleMinutes: string;
}

export interface RentalServer {
  kind: "gateway" | "sshd" | "system-sshd";
  /** `user@host:port` announced in the listing. */
  endpoint: string;
  /** `SHA256:…` announced with the listing, so renters pin it; undefined for the system sshd. */
  hostKeyFingerprint?: string;
  access: RentalAccess;
  /** For the provider's `starting` line. */
  summary: Record<string, unknown>;
  stop(): Promise<void>;
}

/** The flags of the three choices (the `--sshd-*` ones name whichever server QuackMesh starts). */
export function addRentalServerOptions(cmd: Command): Command {
  return cmd
    .option("--endpoint <[user@]host:port>", "the address renters are told (default: where the gateway or dedicated sshd listens; required with --system-sshd)")
    .option("--sshd", "serve rentals through a dedicated OpenSSH server instead of the embedded gateway")
    .option("--system-sshd", "serve rentals through this machine's own sshd (--endpoint, --ssh-authorized-keys)")
    .option("--ssh-authorized-keys <file>", "authorized_keys of your own sshd (with --system-sshd; default ~/.ssh/authorized_keys)")
    .option("--sshd-host <address>", "interface the gateway (or dedicated sshd) listens on", "127.0.0.1")
    .option("--sshd-port <port>", "its port (0 = a free one)", "0")
    .option("--sshd-dir <dir>", "folder for the dedicated sshd's config, host key and log (default: a temp folder, removed at the end)")
    .option("--gateway-key <file>", "the gateway's host key, made on first start (default $QUACKMESH_HOME/gateway/ssh_host_ed25519_key)")
    .option("--disk-per-rental <MiB>", "bytes a rental's files may take, uploads past it refused (gateway)", String(DEFAULT_GATEWAY_LIMITS.diskBytesPerRental / 1024 ** 2))
    .option("--connections-per-rental <n>", "open SSH connections one rental may hold (gateway)", String(DEFAULT_GATEWAY_LIMITS.connectionsPerRental))
    .option("--idle-minutes <n>", "close a renter's connection after this long without traffic (gateway)", String(DEFAULT_GATEWAY_LIMITS.idleMs / 60_000));
}

/** Check the flags before anything starts (bad input changes nothing). */
export function checkRentalServerFlags(flags: RentalServerFlags): void {
  if (flags.sshd && flags.systemSshd) {
    throw new QuackError("BAD_ARGUMENT", "--sshd and --system-sshd exclude each other.", { fix: "Pick one: --sshd starts a dedicated OpenSSH server, --system-sshd uses yours; neither uses the embedded gateway." });
  }
  if (flags.systemSshd && flags.endpoint === undefined) {
    throw new QuackError("MISSING_OPTION", "--system-sshd needs --endpoint, the address renters reach your sshd at.", { fix: "Pass --endpoint USER@HOST:PORT of your sshd." });
  }
  if (flags.endpoint !== undefined) parseEndpoint(flags.endpoint);
  parsePort(flags.sshdPort, "--sshd-port");
  parseWhole(flags.diskPerRental, "--disk-per-rental", 1, 1024 * 1024);
  parseWhole(flags.connectionsPerRental, "--connections-per-rental", 1, 64);
  parseWhole(flags.idleMinutes, "--idle-minutes", 1, 7 * 24 * 60);
}

export async function startRentalServer(flags: RentalServerFlags, home: string, rentalsRoot: string): Promise<RentalServer> {
  checkRentalServerFlags(flags);
  const advertised = flags.endpoint === undefined ? undefined : parseEndpoint(flags.endpoint);
  const port = parsePort(flags.sshdPort, "--sshd-port");
  if (flags.systemSshd) {
    const file = resolve(flags.sshAuthorizedKeys ?? join(homedir(), ".ssh", "authorized_keys"));
    return { kind: "system-sshd", endpoint: formatEndpoint(advertised!), access: authorizedKeysAccess(file, defaultGateLaunch(), rentalsRoot), summary: { authorizedKeysFile: file }, stop: async () => {} };
  }
  if (flags.sshd) {
    const gate = defaultGateLaunch();
    const sshd = await startSshd({ host: flags.sshdHost, port, dir: flags.sshdDir === undefined ? undefined : resolve(flags.sshdDir) });
    return {
      kind: "sshd",
      endpoint: formatEndpoint(advertised ?? { user: sshd.user, host: sshd.host, port: sshd.port }),
      hostKeyFingerprint: sshd.hostKeyFingerprint,
      access: authorizedKeysAccess(sshd.authorizedKeysFile, gate, rentalsRoot),
      summary: { authorizedKeysFile: sshd.authorizedKeysFile, sshd: { port: sshd.port, hostKeyFingerprint: sshd.hostKeyFingerprint } },
      stop: () => sshd.stop(),
    };
  }
  const gateway = await SshGateway.start({
    hostKeyFile: resolve(flags.gatewayKey ?? join(home, "gateway", "ssh_host_ed25519_key")),
    rentalsRoot,
    host: flags.sshdHost,
    port,
    limits: {
      diskBytesPerRental: parseWhole(flags.diskPerRental, "--disk-per-rental", 1, 1024 * 1024) * 1024 ** 2,
      connectionsPerRental: parseWhole(flags.connectionsPerRental, "--connections-per-rental", 1, 64),
      idleMs: parseWhole(flags.idleMinutes, "--idle-minutes", 1, 7 * 24 * 60) * 60_000,
    },
  });
  return {
    kind: "gateway",
    // Any user name logs in; the key is what counts.
    endpoint: formatEndpoint(advertised ?? { user: "quackmesh", host: gateway.host, port: gateway.port }),
    hostKeyFingerprint: gateway.hostKeyFingerprint,
    access: gateway,
    summary: { gateway: { port: gateway.port, hostKeyFingerprint: gateway.hostKeyFingerprint, hostKeyFile: gateway.hostKey.file, limits: gateway.limits } },
    stop: () => gateway.close(),
  };
}

/** The gateway's log lines (refusals, logins, closed connections), when it is the server. */
export function onGatewayEvent(server: RentalServer, listener: (e: GatewayEvent) => void): void {
  if (server.access instanceof SshGateway) server.access.on("event", listener);
}
