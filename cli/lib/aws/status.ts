/**
 * `quackmesh aws status`: the stacks of a region (or one), their instances, state and URL, and
 * what each running orchestrator says of itself (/healthz, /api/info).
 */
import type { EC2Client } from "@aws-sdk/client-ec2";
import type { AwsConnection } from "./connection.js";
import { PERMISSIONS, withPermissions } from "./errors.js";
import { findInstances, type StackInstance } from "./stack.js";

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
}

export interface StatusOptions {
  /** Ask each running orchestrator's /healthz and /api/info (default off). */
  probe?: boolean;
  /** Per request, default 5 s. */
  timeoutMs?: number;
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
    if (opts.probe) {
      await Promise.all(stacks.map(async (s: StackStatus) => {
        if (s.url) s.orchestrator = await askOrchestrator(s.url, opts.timeoutMs);
      }));
    }
    return { region: conn.region, stacks };
  });
}
