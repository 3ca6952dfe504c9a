/**
 * The one definition of "the model a round keeps", used by the engine when it closes a round and
 * by `quackmesh job verify` when it replays one. From the scored updates (sorted by update hash,
 * each with the weight it was given and why it was left out, if it was):
 *   1. the counted updates (excluded null) aggregated with their weights;
 *   2. if the strategy refuses that set (Krum needs more than f + 2), every update that is not a
 *      distance outlier; 3. then every update; 4. else the round's input model.
 * An empty set is the input model. Everything here is deterministic: the same stored updates give
 * the same bytes on any machine (the native aggregation is order-fixed, CPU and CUDA agree).
 */
import { decodeSafetensors, encodeSafetensors, sha256Hex } from "../../native/safetensors.js";
import { flatten, unflatten, type TensorLayout } from "../../native/tensors.js";
import { DEFAULT_SETTINGS, type JobSettings } from "../../protocol/settings.js";
import { updatesRoot } from "../../protocol/rewards.js";
import { makeStrategy, type Strategy } from "../strategy/index.js";
import { decodeInLayout } from "./checks.js";

/** One update as the round's model needs it. */
export interface RoundMember {
  contributor: string;
  updateHash: string;
  /** Aggregation weight (the claimed sample count, capped). */
  weight: number;
  weights: Float32Array;
  /** NORM_OUTLIER, LEARNED_NOTHING, HARMFUL, NO_CONTRIBUTION, or null when counted in the model. */
  excluded: string | null;
}

/** The model the round keeps (see the file comment for the fallback order). */
export async function roundModel(strategy: Strategy, round: number, members: RoundMember[], global: Float32Array): Promise<Float32Array> {
  const counted = members.filter((m) => m.excluded === null);
  const near = members.filter((m) => m.excluded !== "NORM_OUTLIER");
  for (const set of [counted, near, members]) {
    if (set.length === 0) return global;
    try {
      return await strategy.aggregate(
        round,
        set.map((m) => ({ contributor: m.contributor, updateHash: m.updateHash, numSamples: m.weight, weights: m.weights })),
        [],
        global,
      );
    } catch {
      // too few for this rule: try the next set
    }
  }
  return global;
}

/**
 * A round's model as stored and committed: pt-format safetensors in the input model's layout, and
 * its hash. The metadata names the round, so a round that keeps no update (the same weights) still
 * gives a new model hash: clients that wait for the next round by the model's ETag see it open.
 */
export function encodeRoundModel(flat: Float32Array, layout: TensorLayout[], round: number): { bytes: Buffer; modelHash: string } {
  const bytes = encodeSafetensors(unflatten(flat, layout), { format: "pt", round: String(round) });
  return { bytes, modelHash: sha256Hex(bytes) };
}

export interface ReplayInput {
  round: number;
  /** The job's aggregation settings: the strategy and its clipping. */
  settings: Pick<JobSettings, "strategy" | "maxUpdateNorm">;
  /** The round's input model, safetensors bytes. */
  inputModel: Uint8Array;
  updates: Array<{ contributor: string; updateHash: string; weight: number; excluded: string | null; bytes: Uint8Array }>;
}

export interface ReplayResult {
  modelHash: string;
  /** The replayed model, as the engine stores it. */
  model: Buffer;
  updatesRoot: string;
  /** sha256 of the input model bytes. */
  inputModelHash: string;
  /** Each update: the sha256 of its bytes and its L2 distance to the input model. */
  updates: Array<{ updateHash: string; sha256: string; deltaNorm: number }>;
}

/** Replays a round's aggregation from its stored files, with the job's own strategy. */
export async function replayRound(input: ReplayInput): Promise<ReplayResult> {
  const tensors = decodeSafetensors(input.inputModel).tensors;
  const layout = tensors.map((t) => ({ name: t.name, shape: t.shape }));
  const global = flatten(tensors);
  const strategy = makeStrategy({ ...DEFAULT_SETTINGS, strategy: input.settings.strategy, maxUpdateNorm: input.settings.maxUpdateNorm }, async () => {
    throw new Error("a replay aggregates; it does not evaluate");
  });
  // Sorted by update hash, as the store lists them for the engine.
  const sorted = [...input.updates].sort((a, b) => (a.updateHash < b.updateHash ? -1 : a.updateHash > b.updateHash ? 1 : 0));
  const members: RoundMember[] = sorted.map((u) => ({ ...u, weights: flatten(decodeInLayout(u.bytes, layout)) }));
  const model = encodeRoundModel(await roundModel(strategy, input.round, members, global), layout, input.round);
  return {
    modelHash: model.modelHash,
    model: model.bytes,
    updatesRoot: updatesRoot(sorted.map((u) => ({ updateHash: u.updateHash, weight: u.weight, counted: u.excluded === null }))),
    inputModelHash: sha256Hex(input.inputModel),
    updates: members.map((m, i) => ({ updateHash: m.updateHash, sha256: sha256Hex(sorted[i].bytes), deltaNorm: distance(m.weights, global) })),
  };
}

/** Euclidean distance ‖a − b‖ of two flat weight vectors of one layout. */
export function distance(a: Float32Array, b: Float32Array): number {
  let sq = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i] - b[i];
    sq += d * d;
  }
  return Math.sqrt(sq);
}
