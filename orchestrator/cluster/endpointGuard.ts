/**
 * Where the orchestrator may open SSH connections. A listing's endpoint is whatever its provider
 * wrote on chain, and renting it makes the orchestrator connect there (training clusters, cluster
 * inference): without a check anyone with a free key could have it knock on its own network
 * (a database port, 169.254.169.254's instance metadata) and read which ports answer from the
 * machine's error. Off the local chain an endpoint must resolve to public addresses only; the
 * connection then goes to the address that was checked, so a second DNS answer cannot swap it.
 */
import { lookup } from "node:dns/promises";
import { BlockList, isIP } from "node:net";
import { QuackError } from "../../protocol/errors.js";

/** Loopback, private, link-local, shared (CGNAT), benchmark, multicast, reserved and unspecified ranges. */
const NOT_PUBLIC = new BlockList();
for (const [net, prefix] of [
  ["0.0.0.0", 8], ["10.0.0.0", 8], ["100.64.0.0", 10], ["127.0.0.0", 8], ["169.254.0.0", 16], ["172.16.0.0", 12],
  ["192.0.0.0", 24], ["192.168.0.0", 16], ["198.18.0.0", 15], ["224.0.0.0", 4], ["240.0.0.0", 4],
] as const) NOT_PUBLIC.addSubnet(net, prefix, "ipv4");
for (const [net, prefix] of [["::", 128], ["::1", 128], ["fc00::", 7], ["fe80::", 10], ["ff00::", 8], ["64:ff9b:1::", 48]] as const) NOT_PUBLIC.addSubnet(net, prefix, "ipv6");

/** Whether an IP address (v4, v6, or v4-mapped v6) is outside the public internet. */
export function isPrivateAddress(ip: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) return isPrivateAddress(mapped[1]);
  const family = isIP(ip);
  if (family === 0) return true;
  return NOT_PUBLIC.check(ip, family === 4 ? "ipv4" : "ipv6");
}

/**
 * The address to connect to for `host`: itself when private endpoints are allowed; otherwise its
 * first DNS answer, once every answer is public (PRIVATE_ENDPOINT when one is not).
 */
export async function connectAddress(host: string, port: number, allowPrivate: boolean): Promise<string> {
  if (allowPrivate) return host;
  let addresses: string[];
  try {
    addresses = isIP(host) ? [host] : (await lookup(host, { all: true, verbatim: true })).map((a) => a.address);
  } catch (err) {
    throw new QuackError("SSH_UNREACHABLE", `The machine's endpoint ${host}:${port} does not resolve: ${(err as Error).message}.`, {
      fix: "The provider's listing names a host that does not exist; end the rental for a refund of the unserved time.",
      cause: err,
    });
  }
  const inside = addresses.filter(isPrivateAddress);
  if (addresses.length === 0 || inside.length > 0) {
    throw new QuackError("PRIVATE_ENDPOINT", `The machine's endpoint ${host}:${port} is not a public address (${inside.join(", ") || "no address"}); this orchestrator connects only to public ones.`, {
      fix: "End the rental for a refund of the unserved time. An operator whose rented machines are on its own network starts `quackmesh serve --private-endpoints`.",
      details: { host, port, addresses },
    });
  }
  return addresses[0];
}
