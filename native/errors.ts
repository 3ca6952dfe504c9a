/**
 * The native engine's error type: a QuackError whose code is one of the engine's. Codes are built
 * by the C++ core (and by the facade's own argument checks, which run first); `argument` names
 * what was wrong, e.g. "weights[3]".
 */
import { QuackError, type ErrorCode } from "../protocol/errors.js";

export const NATIVE_ERROR_CODES = [
  "BAD_ARGUMENT",
  "LENGTH_MISMATCH",
  "EMPTY_INPUT",
  "BAD_WEIGHT",
  "ZERO_TOTAL_WEIGHT",
  "NON_FINITE",
  "BAD_SPEC",
  "SHAPE_MISMATCH",
  "CUDA_UNAVAILABLE",
  "CUDA_ERROR",
  "BUSY",
  "OUT_OF_MEMORY",
  "ADDON_MISSING",
  "INTERNAL",
] as const satisfies readonly ErrorCode[];

export type NativeErrorCode = (typeof NATIVE_ERROR_CODES)[number];

export class NativeError extends QuackError {
  declare readonly code: NativeErrorCode;
  readonly argument?: string;

  constructor(code: NativeErrorCode, message: string, argument?: string, cause?: unknown, fix?: string) {
    super(code, message, { cause, fix, details: argument === undefined ? undefined : { argument } });
    this.name = "NativeError";
    if (argument !== undefined) this.argument = argument;
  }
}

export function isNativeError(e: unknown): e is NativeError {
  return e instanceof NativeError;
}

/** Turns an error thrown by the addon (a plain Error with `code` and `argument`) into a NativeError. */
export function fromAddon(e: unknown): unknown {
  if (e instanceof NativeError || !(e instanceof Error)) return e;
  const raw = e as Error & { code?: unknown; argument?: unknown };
  const code = typeof raw.code === "string" && (NATIVE_ERROR_CODES as readonly string[]).includes(raw.code) ? (raw.code as NativeErrorCode) : "INTERNAL";
  const argument = typeof raw.argument === "string" ? raw.argument : undefined;
  return new NativeError(code, raw.message, argument, code === "INTERNAL" ? e : undefined);
}

// ---- argument checks shared by the facade: each throws a NativeError naming the argument ----

export function fail(code: NativeErrorCode, argument: string, message: string): never {
  throw new NativeError(code, message, argument);
}

export function describe(v: unknown): string {
  if (typeof v === "number") return Number.isNaN(v) ? "NaN" : String(v);
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (ArrayBuffer.isView(v)) return `a ${v.constructor.name}`;
  return typeof v === "object" ? "an object" : `${typeof v} ${JSON.stringify(v)}`;
}

export function requireInteger(v: unknown, argument: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `between ${min} and ${max}`;
    fail("BAD_ARGUMENT", argument, `${argument} must be an integer ${range}, got ${describe(v)}`);
  }
  return v;
}

export function requireNumber(v: unknown, argument: string, check: (n: number) => boolean, expected: string): number {
  if (typeof v !== "number" || !Number.isFinite(v) || !check(v)) fail("BAD_ARGUMENT", argument, `${argument} must be ${expected}, got ${describe(v)}`);
  return v;
}

export function requireFloat32Array(v: unknown, argument: string): Float32Array {
  if (!(v instanceof Float32Array)) fail("BAD_ARGUMENT", argument, `${argument} must be a Float32Array, got ${describe(v)}`);
  return v;
}

export function requireObject(v: unknown, argument: string): Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) fail("BAD_ARGUMENT", argument, `${argument} must be an object, got ${describe(v)}`);
  return v as Record<string, unknown>;
}

/** Checks K equally long, non-empty Float32Arrays. */
export function requireInputs(inputs: unknown, argument = "inputs"): Float32Array[] {
  if (!Array.isArray(inputs)) fail("BAD_ARGUMENT", argument, `${argument} must be an array of Float32Array, got ${describe(inputs)}`);
  if (inputs.length === 0) fail("EMPTY_INPUT", argument, `${argument} is empty: pass at least one Float32Array`);
  const arrays = inputs.map((x, i) => requireFloat32Array(x, `${argument}[${i}]`));
  if (arrays[0].length === 0) fail("EMPTY_INPUT", `${argument}[0]`, `${argument}[0] has no values`);
  arrays.forEach((x, i) => {
    if (x.length !== arrays[0].length)
      fail("LENGTH_MISMATCH", `${argument}[${i}]`, `${argument}[${i}] has length ${x.length} but ${argument}[0] has ${arrays[0].length}`);
  });
  return arrays;
}

/** Checks one aggregation weight: a finite number >= 0. */
export function requireWeight(w: unknown, argument: string): number {
  if (typeof w !== "number") fail("BAD_WEIGHT", argument, `${argument} must be a number, got ${describe(w)}`);
  if (Number.isNaN(w)) fail("BAD_WEIGHT", argument, `${argument} is NaN`);
  if (!Number.isFinite(w)) fail("BAD_WEIGHT", argument, `${argument} is ${w}`);
  if (w < 0) fail("BAD_WEIGHT", argument, `${argument} is negative (${w}); weights must be >= 0`);
  return w;
}
