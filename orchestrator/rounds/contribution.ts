/**
 * What each accepted update of a round adds to the model, measured on the requester's
 * validation set, and the model the round keeps. Steps, all deterministic (results arrive
 * sorted by update hash):
 *  1. Distance bound: without a job `normBound`, an update farther from the global model than
 *     `normMultiple` × the round's lower-median distance is left out (NORM_OUTLIER).
 *  2. Weights: a claimed sample count counts at most the round's lower-median claim, so no claim
 *     buys more than about 2/K of a round of K updates (unless the job trusts the claims).
 *  3. Leave-one-out: with S the kept updates, each update's score is
 *     loss(aggregate(S without it)) − loss(aggregate(S)): positive when it helps. With one update,
 *     the model without it is the global model. Cost: |S| + 1 aggregations and evaluations.
 *  4. An update is useful when its leave-one-out score is above MIN_CONTRIBUTION, or when the
 *     score is not negative and its own gain over the global model (baseLoss − its validation
 *     loss, measured when it was accepted) is (robust rules such as the median can give a good
 *     update a zero leave-one-out score).
 *     Updates that are not useful are left out of the final model (NO_CONTRIBUTION) and the rest
 *     aggregated again. Near-copies of the global model, noise, sign flips and mislabelled models
 *     are not useful; they change neither the model nor the payout, and do not count toward
 *     minUpdates. Only a positive leave-one-out score is paid (protocol/rewards.ts).
 */
import { unflatten } from "../../native/tensors.js";
import { MIN_CONTRIBUTION } from "../../protocol/rewards.js";
import type { JobSettings } from "../../protocol/settings.js";
import type { FitFailure, FitResult, Strategy } from "../strategy/index.js";
import type { GlobalModel } from "./checks.js";

export type Exclusion = "NORM_OUTLIER" | "NO_CONTRIBUTION";

export interface ScoredUpdate {
  contributor: string;
  updateHash: string;
  claimedSamples: number;
  /** The weight the aggregation gave it (claimed samples, capped). */
  weight: number;
  /** L2 distance to the global model. */
  deltaNorm: number;
  /** Leave-one-out gain in validation loss; 0 for an update left out by the distance bound. */
  score: number;
  /** Its own gain over the round's input model: baseLoss − its validation loss. */
  gain: number;
  /** Why it is not part of the round's model; null when it is. */
  excluded: Exclusion | null;
}

export interface ScoredRound {
  model: Float32Array;
  updates: ScoredUpdate[];
  /** Updates that count toward minUpdates: score above MIN_CONTRIBUTION. */
  useful: number;
  /** Validation loss of the global model this round started from, and of the kept model. */
  baseLoss: number;
  loss: number;
}

/** The lower median: with two values, the smaller one (a single large claim or distance cannot raise it). */
export function lowerMedian(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)];
}

function distance(a: Float32Array, b: Float32Array): number {
  let sq = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i] - b[i];
    sq += d * d;
  }
  return Math.sqrt(sq);
}

export async function scoreRound(
  round: number,
  results: FitResult[],
  /** Each result's own validation loss, measured when it was accepted. */
  losses: number[],
  failures: FitFailure[],
  global: GlobalModel,
  strategy: Strategy,
  settings: Pick<JobSettings, "normBound" | "normMultiple" | "trustNumSamples">,
): Promise<ScoredRound> {
  const lossOf = async (flat: Float32Array): Promise<number> => (await strategy.evaluate(round, unflatten(flat, global.layout))).loss;
  const baseLoss = await lossOf(global.flat);
  const norms = results.map((r) => distance(r.weights, global.flat));
  const bound = settings.normBound ?? (results.length >= 2 ? settings.normMultiple * lowerMedian(norms) : Infinity);
  const kept = results.map((_, i) => norms[i] <= bound);
  const keptClaims = results.filter((_, i) => kept[i]).map((r) => r.numSamples);
  const claimCap = settings.trustNumSamples || keptClaims.length === 0 ? Infinity : lowerMedian(keptClaims);
  const weighted = results.map((r) => ({ ...r, numSamples: Math.min(r.numSamples, claimCap) }));

  const aggregate = async (members: number[]): Promise<Float32Array> =>
    members.length === 0 ? global.flat : strategy.aggregate(round, members.map((i) => weighted[i]), failures, global.flat);
  const members = results.map((_, i) => i).filter((i) => kept[i]);
  const fullLoss = await lossOf(await aggregate(members));
  const scores = new Map<number, number>();
  for (const i of members) {
    let without: number;
    try {
      without = await lossOf(await aggregate(members.filter((j) => j !== i)));
    } catch {
      // A robust rule may refuse one update fewer (Krum needs n > 2f + 2): fall back to the model before the round.
      without = baseLoss;
    }
    scores.set(i, without - fullLoss);
  }

  const gains = losses.map((l) => baseLoss - l);
  const useful = members.filter((i) => scores.get(i)! > MIN_CONTRIBUTION || (scores.get(i)! >= 0 && gains[i] > MIN_CONTRIBUTION));
  const model = useful.length === members.length ? await aggregate(members) : await aggregate(useful);
  const loss = useful.length === members.length ? fullLoss : await lossOf(model);
  const isUseful = new Set(useful);
  const updates: ScoredUpdate[] = results.map((r, i) => {
    const score = scores.get(i) ?? 0;
    return {
      contributor: r.contributor,
      updateHash: r.updateHash,
      claimedSamples: r.numSamples,
      weight: weighted[i].numSamples,
      deltaNorm: norms[i],
      score: Number.isFinite(score) ? score : 0,
      gain: Number.isFinite(gains[i]) ? gains[i] : 0,
      excluded: !kept[i] ? "NORM_OUTLIER" : isUseful.has(i) ? null : "NO_CONTRIBUTION",
    };
  });
  return { model, updates, useful: useful.length, baseLoss, loss };
}
