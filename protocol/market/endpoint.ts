import { QuackError } from "../errors.js";

/** Where renters reach a machine: `[user@]host:port` (IPv6 hosts in brackets). */
export interface Endpoint {
  user?: string;
  host: string;
  port: number;
}

const HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const USER = /^[a-z_][a-z0-9_.-]{0,31}$/i;

/** Parse an endpoint flag or on-chain string; `what` names it in the error. */
export function parseEndpoint(text: string, what = "--endpoint"): Endpoint {
  const bad = (why: string) =>
    new QuackError("BAD_ENDPOINT", `${what} '${String(text).slice(0, 100)}' ${why}.`, {
      fix: "Use HOST:PORT or USER@HOST:PORT, e.g. 203.0.113.7:2222 or quack@gpu1.example.com:22.",
    });
  const s = String(text).trim();
  const at = s.lastIndexOf("@");
  const user = at >= 0 ? s.slice(0, at) : undefined;
  const rest = at >= 0 ? s.slice(at + 1) : s;
  if (user !== undefined && !USER.test(user)) throw bad("has an invalid user name");
  let host: string;
  let portText: string;
  const v6 = /^\[([0-9a-fA-F:.]+)\]:(\d+)$/.exec(rest);
  if (v6) [, host, portText] = v6;
  else {
    const colon = rest.lastIndexOf(":");
    if (colon <= 0) throw bad("has no :PORT");
    host = rest.slice(0, colon);
    portText = rest.slice(colon + 1);
    if (!HOST.test(host)) throw bad("has an invalid host name");
  }
  const port = /^\d{1,5}$/.test(portText) ? Number(portText) : NaN;
  if (!(port >= 1 && port <= 65535)) throw bad("has a port outside 1-65535");
  return user === undefined ? { host, port } : { user, host, port };
}

export function formatEndpoint(e: Endpoint): string {
  const host = e.host.includes(":") ? `[${e.host}]` : e.host;
  return `${e.user ? `${e.user}@` : ""}${host}:${e.port}`;
}
