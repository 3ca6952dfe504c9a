/** How amounts, addresses, hashes and times read on the pages. */
import type { QualityName } from "../../protocol/quality";

const WEI_PER_DUCK = 10n ** 18n;

/** DUCK wei (decimal string) → "12.5 DUCK", at most 4 decimals, thousands grouped. */
export function duck(wei: string | bigint | null | undefined): string {
  if (wei === null || wei === undefined || wei === "") return "—";
  let v: bigint;
  try {
    v = BigInt(wei);
  } catch {
    return "—";
  }
  const negative = v < 0n;
  if (negative) v = -v;
  const whole = v / WEI_PER_DUCK;
  const frac = ((v % WEI_PER_DUCK) * 10_000n) / WEI_PER_DUCK;
  const fracText = frac === 0n ? "" : "." + frac.toString().padStart(4, "0").replace(/0+$/, "");
  const tiny = whole === 0n && frac === 0n && v > 0n;
  return `${negative ? "−" : ""}${tiny ? "<0.0001" : whole.toLocaleString("en-US") + fracText} DUCK`;
}

export const shortAddress = (a: string) => (a.length > 12 ? `${a.slice(0, 6)}…${a.slice(-4)}` : a);
export const shortHash = (h: string) => (h.length > 14 ? `${h.slice(0, 8)}…${h.slice(-4)}` : h);

export const percent = (fraction: number | null | undefined, digits = 2) =>
  fraction === null || fraction === undefined ? "—" : `${(fraction * 100).toFixed(digits)} %`;

/** A round's quality as the job's model means it: "97.85 %" for an accuracy, "0.844" for a regression's R². */
export const quality = (metric: QualityName, value: number | null | undefined) =>
  metric === "accuracy" ? percent(value) : value === null || value === undefined ? "—" : value.toFixed(3);

export function duration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return "—";
  if (ms < 1000) return `${ms} ms`;
  if (ms < 120_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.round(ms / 60_000)} min`;
}

export function ago(epochMs: number | null | undefined, now = Date.now()): string {
  if (!epochMs) return "—";
  const s = Math.max(0, Math.round((now - epochMs) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  return `${Math.round(s / 3600)} h ago`;
}

/** Event argument names that carry DUCK wei. */
export const AMOUNT_ARGS = new Set(["amount", "total", "refund", "earned", "paid", "pricePerHour", "totalRewardPool", "roundBudget", "maxPerContributor", "flatPerUpdate", "maxPayment"]);

export const isAddress = (v: unknown): v is string => typeof v === "string" && /^0x[0-9a-fA-F]{40}$/.test(v);
