import { formatUnits, parseUnits } from "ethers";
import { QuackError } from "../errors.js";

/** Parse a human amount ("1000", "0.5") of an 18-decimals token or ETH into wei; `what` names the flag. */
export function parseAmount(text: string | number, what: string): bigint {
  const s = String(text).trim();
  if (!/^\d+(\.\d{1,18})?$/.test(s)) {
    throw new QuackError("BAD_AMOUNT", `${what} '${text}' is not a non-negative amount with at most 18 decimals.`, {
      fix: `Pass a plain number, e.g. ${what} 1000 or ${what} 0.5.`,
    });
  }
  return parseUnits(s, 18);
}

/** Wei as a decimal string without trailing zeros ("1000", "0.5"). */
export function formatAmount(wei: bigint): string {
  return formatUnits(wei, 18).replace(/\.0$/, "");
}

/** A TCP port from a flag value; 0 allowed where `allowZero` (pick a free port). */
export function parsePort(text: string | number, what = "--port", allowZero = true): number {
  const s = String(text).trim();
  const port = /^\d+$/.test(s) ? Number(s) : NaN;
  if (!Number.isInteger(port) || port > 65535 || (!allowZero && port === 0)) {
    throw new QuackError("BAD_PORT", `${what} '${text}' is not a TCP port.`, {
      fix: `Use ${what} 1-65535${allowZero ? " (0 picks a free port)" : ""}.`,
    });
  }
  return port;
}
