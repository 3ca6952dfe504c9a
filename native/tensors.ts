/**
 * Helpers over lists of named tensors: flatten to one vector (what aggregation works on) and
 * back, compare layouts, and the checks an update must pass (finite values, norm bound).
 */
import { QuackError } from "../protocol/errors.js";
import type { Tensor } from "./types.js";

export interface TensorLayout {
  name: string;
  shape: number[];
}

function elements(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** All tensors' values end to end, in list order, as one new Float32Array. */
export function flatten(tensors: readonly Tensor[]): Float32Array {
  let total = 0;
  for (const t of tensors) total += t.data.length;
  const flat = new Float32Array(total);
  let pos = 0;
  for (const t of tensors) {
    flat.set(t.data, pos);
    pos += t.data.length;
  }
  return flat;
}

/** Cuts a flat vector back into tensors shaped like `like`; each tensor gets its own copy. */
export function unflatten(flat: Float32Array, like: readonly TensorLayout[]): Tensor[] {
  let total = 0;
  for (const l of like) {
    if (!l.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new QuackError("BAD_SHAPE", `tensor '${l.name}': shape ${JSON.stringify(l.shape)} is not a list of non-negative integers.`, {
        fix: "Pass the layout of a valid model.",
      });
    }
    total += elements(l.shape);
  }
  if (total !== flat.length) {
    throw new QuackError("SIZE_MISMATCH", `a flat vector of ${flat.length} values cannot fill a layout of ${total} values (${like.length} tensors).`, {
      fix: "Unflatten with the layout of the model the vector was flattened from.",
    });
  }
  let pos = 0;
  return like.map((l) => {
    const n = elements(l.shape);
    const data = flat.slice(pos, pos + n);
    pos += n;
    return { name: l.name, shape: [...l.shape], data };
  });
}

/** Null when `b` has the same names and shapes as `a`, in the same order; else what differs first. */
export function sameLayout(a: readonly TensorLayout[], b: readonly TensorLayout[]): string | null {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    if (a[i].name !== b[i].name) return `tensor ${i} is '${b[i].name}' but the model has '${a[i].name}' there`;
    const sa = a[i].shape;
    const sb = b[i].shape;
    if (sa.length !== sb.length || sa.some((d, j) => d !== sb[j])) {
      return `tensor '${a[i].name}' has shape [${sb.join(", ")}] but the model has [${sa.join(", ")}]`;
    }
  }
  if (a.length !== b.length) {
    return b.length > a.length
      ? `extra tensor '${b[n].name}': the model has only ${a.length} tensors`
      : `missing tensor '${a[n].name}': the model has ${a.length} tensors, this has ${b.length}`;
  }
  return null;
}

/** Euclidean norm, accumulated in float64 so large models do not lose precision. */
export function l2Norm(x: Float32Array | readonly Tensor[]): number {
  if (x instanceof Float32Array) return Math.sqrt(sumSquares(x));
  let sum = 0;
  for (const t of x) sum += sumSquares(t.data);
  return Math.sqrt(sum);
}

/** Four independent accumulators: the loop is bound by add latency, not by memory. */
function sumSquares(v: Float32Array): number {
  let a = 0, b = 0, c = 0, d = 0;
  const n = v.length - (v.length % 4);
  for (let i = 0; i < n; i += 4) {
    a += v[i] * v[i];
    b += v[i + 1] * v[i + 1];
    c += v[i + 2] * v[i + 2];
    d += v[i + 3] * v[i + 3];
  }
  for (let i = n; i < v.length; i++) a += v[i] * v[i];
  return a + b + c + d;
}

/** Index of the first NaN or ±Infinity, or -1 when every value is finite. */
export function allFinite(x: Float32Array): number {
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    // v - v is 0 for finite v and NaN for NaN and ±Infinity
    if (v - v !== 0) return i;
  }
  return -1;
}
