/**
 * `--scale N`, the one flag for CSV scaling on every command that reads a CSV of yours (contribute
 * --data, job create --validation, infer --input): features are divided by N, or used as written
 * without it. Nothing is rescaled by guess; a CSV of raw-looking pixels gets a warning naming it.
 */
import type { CsvOptions } from "../../../native/data.js";
import { parseNumber } from "../flags.js";

export const SCALE_OPTION = [
  "--scale <n>",
  "divide CSV features by N, e.g. 255 for 0-255 pixels (default: as written; IDX pixels are always read as 0-1)",
] as const;

export const SCALE_HELP = `CSV features are used as written unless --scale N divides them (e.g. --scale 255 for 0-255
pixels); IDX images are always read as 0-1. A CSV of whole numbers in 0-255 read without --scale
gets a warning (--scale 1 keeps the values and silences it).`;

/** `--scale`'s value: a number above 0. */
export function parseScale(text: string): number {
  return parseNumber(text, "--scale", (v) => v > 0, "a number above 0 (e.g. 255 for 0-255 pixels)");
}

/** The loader options for `--scale`; `warn` hears about raw-looking pixels read without one. */
export function csvOptions(scale: string | undefined, warn: (message: string) => void): CsvOptions {
  return scale === undefined ? { warn } : { scale: parseScale(scale) };
}
