import { QuackError } from "../errors.js";
import { parseAmount } from "../chain/units.js";

/** A whole number flag within [min, max]. */
export function parseWhole(text: string | number, what: string, min: number, max: number): number {
  const s = String(text).trim();
  const n = /^\d+$/.test(s) ? Number(s) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new QuackError("BAD_NUMBER", `${what} '${text}' is not a whole number from ${min} to ${max}.`, { fix: `Pass e.g. ${what} ${Math.max(min, 1)}.` });
  }
  return n;
}

/** A positive DUCK price per hour, in wei. */
export function parsePrice(text: string, what = "--price"): bigint {
  const wei = parseAmount(text, what);
  if (wei === 0n) throw new QuackError("BAD_PRICE", `${what} must be above 0 DUCK per hour.`, { fix: `Pass e.g. ${what} 5.` });
  return wei;
}

/** A rental or machine id argument. */
export function parseId(text: string, what: string): bigint {
  if (!/^\d+$/.test(String(text).trim()) || BigInt(text) === 0n) {
    throw new QuackError("BAD_ID", `${what} '${text}' is not an id (a whole number from 1).`, { fix: "Ids are shown by `quackmesh rent list` and `quackmesh market list`." });
  }
  return BigInt(text);
}
