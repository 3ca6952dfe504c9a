import type { Wallet } from "ethers";
import type { MarketMachine } from "./marketplace.js";
import { QuackError } from "../../../protocol/errors.js";
import { marketplaceDomain, signLiveness } from "../../../protocol/chain/eip712.js";
import { LIVENESS_INTERVAL_S, isFresh, livenessProblem, livenessSigner, type LivenessRecord } from "../../../protocol/market/liveness.js";

export interface LivenessTarget {
  /** Orchestrator URL (the one that keeps the records). */
  url: string;
  chainId: number | bigint;
  marketplace: string;
}

const TIMEOUT_MS = 5000;

/**
 * Sign Liveness(machineId, now) with the provider's wallet and hand it to the orchestrator every
 * LIVENESS_INTERVAL_S (or `intervalMs`). Failures go to `onError` and the beat goes on. Returns stop().
 */
export function startHeartbeats(
  target: LivenessTarget,
  wallet: Wallet,
  machineId: bigint,
  opts: { intervalMs?: number; onError?: (err: QuackError) => void; onBeat?: (at: number) => void } = {},
): () => void {
  const domain = marketplaceDomain(target.chainId, target.marketplace);
  const beat = async () => {
    const at = Math.floor(Date.now() / 1000);
    const signature = signLiveness(wallet, domain, { machineId, at: BigInt(at) });
    try {
      const res = await fetch(`${target.url}/api/market/liveness`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ machineId: machineId.toString(), at, signature }),
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
      if (!res.ok) throw new Error(`${res.status} ${(await res.text()).slice(0, 300)}`);
      opts.onBeat?.(at);
    } catch (err) {
      opts.onError?.(
        new QuackError("ORCHESTRATOR_UNREACHABLE", `The liveness record for machine ${machineId} did not reach ${target.url}: ${(err as Error).message}`, {
          fix: "Check --orchestrator / QUACKMESH_ORCHESTRATOR: renters see this machine as stale and do not rent it until a record arrives.",
        }),
      );
    }
  };
  void beat();
  const timer = setInterval(() => void beat(), opts.intervalMs ?? LIVENESS_INTERVAL_S * 1000);
  timer.unref();
  return () => clearInterval(timer);
}

/**
 * The time each machine last proved it was alive: the orchestrator's records, each checked
 * against the machine's provider (`providers`, from the chain). Records signed by anyone else,
 * or for machines not in `providers`, are ignored. Throws ORCHESTRATOR_UNREACHABLE when the
 * orchestrator does not answer.
 */
export async function readLiveness(target: LivenessTarget, providers: Map<bigint, string>): Promise<Map<bigint, number>> {
  let body: { records?: unknown[] };
  try {
    const res = await fetch(`${target.url}/api/market/liveness`, { signal: AbortSignal.timeout(TIMEOUT_MS) });
    if (!res.ok) throw new Error(`${res.status} ${(await res.text()).slice(0, 300)}`);
    body = (await res.json()) as { records?: unknown[] };
  } catch (err) {
    throw new QuackError("ORCHESTRATOR_UNREACHABLE", `Cannot read which machines are alive from ${target.url}: ${(err as Error).message}`, {
      fix: "Point --orchestrator (or QUACKMESH_ORCHESTRATOR) at a running orchestrator, or pass --no-liveness to go by the chain alone (a dead machine then holds your DUCK until its acknowledgement window closes).",
    });
  }
  const domain = marketplaceDomain(target.chainId, target.marketplace);
  const seen = new Map<bigint, number>();
  for (const raw of Array.isArray(body.records) ? body.records : []) {
    const r = raw as LivenessRecord;
    if (livenessProblem(r)) continue;
    const id = BigInt(r.machineId);
    const provider = providers.get(id);
    if (!provider || livenessSigner(domain, r)?.toLowerCase() !== provider.toLowerCase()) continue;
    if ((seen.get(id) ?? -1) < r.at) seen.set(id, r.at);
  }
  return seen;
}

/** Each machine with its last proof of life; free machines without a fresh one become "stale". */
export function withLiveness(machines: MarketMachine[], seen: Map<bigint, number>, now = Math.floor(Date.now() / 1000)): MarketMachine[] {
  return machines.map((m) => {
    const lastSeen = seen.get(m.machineId) ?? null;
    const stale = m.status === "available" && !isLive(lastSeen ?? undefined, now);
    return { ...m, lastSeen, status: stale ? "stale" : m.status };
  });
}

/** Whether a machine last seen at `at` (or never) counts as alive now (unix seconds). */
export function isLive(at: number | undefined, now = Math.floor(Date.now() / 1000)): boolean {
  return at !== undefined && isFresh(at, now);
}
