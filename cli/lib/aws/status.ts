/**
 * `quackmesh aws status`: the stacks of a region (or one), their instances, state and URL, what
 * each running orchestrator says of itself (/healthz, /api/info), and what holds each stack's
 * state beyond its instances (database, data volume, Elastic IP).
 */
import type { EC2Client } from "@aws-sdk/client-ec2";
import type { RDSClient } from "@aws-sdk/client-rds";
import { isQuackError } from "../../../protocol/errors.js";
import { findAddress } from "./address.js";
import type { AwsConnection } from "./connection.js";
import { databaseIdentifier, describeDatabase } from "./database.js";
import { PERMISSIONS, withPermissions } from "./errors.js";
import { findInstances, type StackInstance } from "./stack.js";
import { findDataVolume } from "./volume.js";

/** What a running orchestrator answered: /healthz's status and body, /api/info's body, or why not. */
export interface OrchestratorAnswer {
  /** HTTP status of /healthz; null when it did not answer. */
  healthz: number | null;
  healthy: boolean;
  /** /healthz's body (a CHAIN_RESET reason and fix when unhealthy). */
  health?: unknown;
  /** /api/info's body: version, evaluator, chain id, contracts, limits. */
  info?: Record<string, unknown>;
  /** Why it could not be asked (refused, timed out, not JSON). */
  error?: string;
}

export interface StackStatus {
  stack: string;
  /** The orchestrator's URL when its instance runs. */
  url?: string;
  instances: StackInstance[];
  /** Asked when the instance runs and `probe` is on. */
  orchestrator?: OrchestratorAnswer;
  /** With `data`: what outlives the stack's instances. */
  data?: StackData;
}

export interface StackData {
  database?: { identifier: string; state: string; endpoint?: string };
  dataVolume?: { volumeId: string; state: string; availabilityZone: string; sizeGb: number };
  elasticIp?: { publicIp: string; instanceId?: string };
  /** What these credentials may not look at, and why. */
  unchecked: string[];
}

export interface StatusOptions {
  /** Ask each running orchestrator's /healthz and /api/info (default off). */
  probe?: boolean;
  /** Per request, default 5 s. */
  timeoutMs?: number;
  /** Look up each stack's database (this client), data volume and Elastic IP. */
  rds?: RDSClient;
}

async function getJson(url: string, timeoutMs: number): Promise<{ status: number; body: unknown }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), headers: { accept: "application/json" } });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: kept as text
  }
  return { status: res.status, body };
}

/** /healthz and /api/info of one orchestrator; never throws. */
export async function askOrchestrator(url: string, timeoutMs = 5000): Promise<OrchestratorAnswer> {
  try {
    const health = await getJson(`${url}/healthz`, timeoutMs);
    const info = await getJson(`${url}/api/info`, timeoutMs).catch(() => null);
    return {
      healthz: health.status,
      healthy: health.status === 200,
      health: health.body,
      info: info && info.status === 200 && typeof info.body === "object" && info.body !== null ? (info.body as Record<string, unknown>) : undefined,
    };
  } catch (err) {
    const e = err as Error & { cause?: { code?: string } };
    return { healthz: null, healthy: false, error: e.name === "TimeoutError" ? `no answer in ${timeoutMs} ms` : (e.cause?.code ?? e.message) };
  }
}

export interface StatusResult {
  region: string;
  stacks: StackStatus[];
}

export function status(ec2: EC2Client, conn: AwsConnection, stack?: string, opts: StatusOptions = {}): Promise<StatusResult> {
  return withPermissions(PERMISSIONS.status, async () => {
    const instances = await findInstances(ec2, conn, stack);
    const byStack = new Map<string, StackInstance[]>();
    for (const i of instances) byStack.set(i.stack, [...(byStack.get(i.stack) ?? []), i]);
    const stacks = [...byStack.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([name, list]) => ({
        stack: name,
        url: list.find((i) => i.role === "orchestrator" && i.state === "running")?.url,
        instances: list,
      }));
    const rds = opts.rds;
    if (rds) {
      // A stack whose instances are down still has its data: show it when asked for by name.
      if (stack !== undefined && stacks.length === 0) stacks.push({ stack, url: undefined, instances: [] });
      for (const s of stacks as StackStatus[]) s.data = await stackData(ec2, rds, conn, s.stack);
    }
    if (opts.probe) {
      await Promise.all(stacks.map(async (s: StackStatus) => {
        if (s.url) s.orchestrator = await askOrchestrator(s.url, opts.timeoutMs);
      }));
    }
    return { region: conn.region, stacks };
  });
}

async function stackData(ec2: EC2Client, rds: RDSClient, conn: AwsConnection, stack: string): Promise<StackData> {
  const data: StackData = { unchecked: [] };
  // Credentials that may not look at one of them still see the rest.
  const look = async <T>(what: string, fn: () => Promise<T>): Promise<T | null> => {
    try {
      return await fn();
    } catch (err) {
      if (isQuackError(err) && err.code === "AWS_UNAUTHORIZED") {
        data.unchecked.push(`${what}: ${err.message}`);
        return null;
      }
      throw err;
    }
  };
  const db = await look("database", () => describeDatabase(rds, conn, databaseIdentifier(stack)));
  if (db) data.database = { identifier: databaseIdentifier(stack), state: db.DBInstanceStatus ?? "unknown", ...(db.Endpoint?.Address ? { endpoint: `${db.Endpoint.Address}:${db.Endpoint.Port ?? 5432}` } : {}) };
  const volume = await look("data volume", () => findDataVolume(ec2, conn, stack));
  if (volume) data.dataVolume = { volumeId: volume.volumeId, state: volume.state, availabilityZone: volume.availabilityZone, sizeGb: volume.sizeGb };
  const address = await look("Elastic IP", () => findAddress(ec2, conn, stack));
  if (address) data.elasticIp = { publicIp: address.publicIp, ...(address.instanceId ? { instanceId: address.instanceId } : {}) };
  return data;
}
