import type { QualityName } from "../../protocol/quality.js";
/** Terminal charts as plain strings: a sparkline of a series and horizontal bars. */

const TICKS = "▁▂▃▄▅▆▇█";

/** One character per value, scaled between `min` and `max` (default: the series' own range). */
export function sparkline(values: readonly number[], range: { min?: number; max?: number } = {}): string {
  if (values.length === 0) return "";
  const lo = range.min ?? Math.min(...values);
  const hi = range.max ?? Math.max(...values);
  const span = hi - lo;
  return values
    .map((v) => {
      if (!Number.isFinite(v)) return " ";
      const f = span > 0 ? (Math.min(hi, Math.max(lo, v)) - lo) / span : 1;
      return TICKS[Math.round(f * (TICKS.length - 1))];
    })
    .join("");
}

/** A bar of `width` cells for a fraction in [0, 1], in eighths of a cell. */
export function bar(fraction: number, width: number): string {
  const f = Number.isFinite(fraction) ? Math.min(1, Math.max(0, fraction)) : 0;
  const eighths = Math.round(f * width * 8);
  const full = Math.floor(eighths / 8);
  const rest = eighths % 8;
  const partial = rest > 0 ? "▏▎▍▌▋▊▉"[rest - 1] : "";
  return ("█".repeat(full) + partial).padEnd(width, " ");
}

/** "97.85 %" from 0.97851. */
export function percent(fraction: number | null | undefined, digits = 2): string {
  return fraction === null || fraction === undefined || !Number.isFinite(fraction) ? "–" : `${(fraction * 100).toFixed(digits)} %`;
}

/** A job's round quality as its users read it: "97.85 %" for an accuracy, "0.844" for an R². */
export function quality(name: QualityName, value: number | null | undefined): string {
  if (name === "accuracy") return percent(value);
  return value === null || value === undefined || !Number.isFinite(value) ? "–" : value.toFixed(3);
}

/** A job's threshold (basis points of its round figure) as its users read it: "70 %", or "R² 0.500" for a regression. */
export function qualityThreshold(name: QualityName, bps: number): string {
  return name === "accuracy" ? `${bps / 100} %` : `R² ${quality(name, bps / 10000)}`;
}

/** "0x1234…abcd". */
export function shortAddress(address: string): string {
  return address.length > 12 ? `${address.slice(0, 6)}…${address.slice(-4)}` : address;
}
