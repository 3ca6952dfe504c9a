/**
 * The checks an update passes before it is evaluated, in order: safetensors format, the global
 * model's layout, finite values, the norm bound on (update − global), and not identical to the
 * global model. Each failure is an ApiError naming what was wrong.
 */
import { decodeSafetensors } from "../../native/safetensors.js";
import { flatten, sameLayout, type TensorLayout } from "../../native/tensors.js";
import type { Tensor } from "../../native/types.js";
import { ApiError } from "../errors.js";

export interface GlobalModel {
  hash: string;
  tensors: Tensor[];
  flat: Float32Array;
  layout: TensorLayout[];
}

export function globalModel(hash: string, tensors: Tensor[]): GlobalModel {
  return { hash, tensors, flat: flatten(tensors), layout: tensors.map((t) => ({ name: t.name, shape: t.shape })) };
}

/** The tensors of `bytes`, put in the layout's order when the names match as a set. */
export function decodeInLayout(bytes: Uint8Array, layout: TensorLayout[]): Tensor[] {
  let tensors: Tensor[];
  try {
    tensors = decodeSafetensors(bytes).tensors;
  } catch (e) {
    const err = e as { code?: string; message?: string };
    throw new ApiError("MALFORMED_SAFETENSORS", `The body is not valid safetensors: ${err.message ?? String(e)}`, { reason: err.code ?? "UNKNOWN" });
  }
  // A file may list its tensors in any order; compare and aggregate in the model's order.
  const byName = new Map(tensors.map((t) => [t.name, t]));
  if (byName.size === layout.length && layout.every((l) => byName.has(l.name))) tensors = layout.map((l) => byName.get(l.name)!);
  const diff = sameLayout(layout, tensors);
  if (diff !== null) {
    throw new ApiError("SHAPE_MISMATCH", `The update does not match the global model: ${diff}.`, {
      expected: layout.map((l) => ({ name: l.name, shape: l.shape })),
    });
  }
  return tensors;
}

export interface CheckedUpdate {
  tensors: Tensor[];
  /** L2 norm of (update − global). */
  deltaNorm: number;
}

export function checkUpdate(bytes: Uint8Array, global: GlobalModel, normBound: number | null): CheckedUpdate {
  const tensors = decodeInLayout(bytes, global.layout);
  // One pass over the values: the first non-finite one, and the distance to the global model.
  let sq = 0;
  for (let k = 0; k < tensors.length; k++) {
    const u = tensors[k].data;
    const g = global.tensors[k].data;
    for (let i = 0; i < u.length; i++) {
      const d = u[i] - g[i];
      if (u[i] - u[i] !== 0) {
        throw new ApiError("NON_FINITE", `The update holds ${u[i]} at tensor '${tensors[k].name}' index ${i}; every value must be finite.`, {
          tensor: tensors[k].name,
          index: i,
        });
      }
      sq += d * d;
    }
  }
  const deltaNorm = Math.sqrt(sq);
  if (normBound !== null && deltaNorm > normBound) {
    throw new ApiError("NORM_BOUND_EXCEEDED", `The update is ${deltaNorm.toPrecision(6)} away from the global model (L2); this job allows at most ${normBound}.`, {
      deltaNorm,
      normBound,
    });
  }
  if (deltaNorm === 0) throw new ApiError("IDENTICAL_TO_GLOBAL");
  return { tensors, deltaNorm };
}
