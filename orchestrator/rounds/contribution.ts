/**
 * What each accepted update of a round adds to the model, measured on the requester's
 * validation set, and the model the round keeps. Steps, all deterministic (results arrive
 * sorted by update hash):
 *  1. Distance bound: without a job `normBound`, an update farther from the global model than
 *     `normMultiple` × the lower-median distance of the round's updates that improve on the global
 *     model by themselves is left out (NORM_OUTLIER). Only improving updates set the scale, so
 *     sybil near-copies (distance ~0) cannot shrink the bound onto honest updates.
 *  2. Weights: a claimed sample count counts at most the round's lower-median claim, so no claim
 *     buys more than about 2/K of a round of K updates (unless the job trusts the claims).
 *  3. Learned nothing: an update whose own model, on no class, lowers the validation loss both of
 *     the samples the round's input model gets right and of those it gets wrong, and makes no class
 *     it does not recognize well recognized, is left out (LEARNED_NOTHING; rounds/learned.ts): a
 *     model trained on shuffled labels, the input model with its outputs scaled, a near-copy. Such
 *     a confidence change would otherwise be paid wherever it suits an over- or under-confident
 *     aggregate. Judged once the input model reaches TRAINED accuracy. A regression's analogue: the
 *     update's own model must lower the input model's validation MSE by LEARNED_MSE_SHARE of it,
 *     judged from round 0 on. Cost: one evaluation per update.
 *     Of the rest, an update whose own model gets almost none of a class right that the input model
 *     recognizes, and is sure of it, in a round where at least half of the others get every class
 *     some of the time right, is left out as HARMFUL (rounds/unlearned.ts): a targeted label flip
 *     among contributors whose data hold every class. Same evaluations.
 *  4. Leave-one-out over the rest, counterfactual "it did not train": with S the kept updates, each update's
 *     score is loss(aggregate(S with that update replaced by the global model, same weight)) −
 *     loss(aggregate(S)): what its change to the model is worth. Replacing instead of removing
 *     matters: removing a near-copy of the global model would enlarge the others' step, and when
 *     that step overshoots, plain leave-one-out pays the near-copy for damping it; replaced, a
 *     near-copy scores what it changed: nothing. Cost: |S| + 1 aggregations and evaluations.
 *     An update is harmful when, on some class, the round's model does worse than the round's
 *     input model by more than HARM_CLASS, worse than its own overall accuracy by more than
 *     2 × HARM_CLASS, and the counterfactual without the update's training gives that class back
 *     by more than HARM_CLASS: a targeted label flip raises the overall accuracy while wrecking
 *     one class. (A class a non-IID contributor lacks does not meet all three; before the input
 *     model reaches TRAINED accuracy no update is judged harmful.) Harmful updates score at most 0
 *     and do not count. A change that lowers the validation accuracy scores at most 0 too.
 *  5. An update counts toward minUpdates (is useful) when its leave-one-out score, or its own
 *     gain over the global model (baseLoss − its validation loss, measured when it was accepted),
 *     is above MIN_CONTRIBUTION: near-copies and noise never count, so they cannot close a round.
 *     An update stays in the round's model only when it is useful and its score is not negative:
 *     near-copies, sign flips and targeted or mislabelled models, which make the aggregate worse,
 *     are left out (NO_CONTRIBUTION) and the rest aggregated again. Only a positive
 *     leave-one-out score is paid (protocol/rewards.ts).
 */
import { unflatten } from "../../native/tensors.js";
import { MIN_CONTRIBUTION } from "../../protocol/rewards.js";
import type { JobSettings } from "../../protocol/settings.js";
import type { FitFailure, FitResult, RoundEval, Strategy } from "../strategy/index.js";
import type { UpdateReward } from "../store/repository.js";
import type { GlobalModel } from "./checks.js";
import { learnedSomething } from "./learned.js";
import { unlearnedAlone } from "./unlearned.js";
import { distance, roundModel } from "./replay.js";

export type Exclusion = "NORM_OUTLIER" | "LEARNED_NOTHING" | "HARMFUL" | "NO_CONTRIBUTION";

/** Class-accuracy drop (against the round's input model, and given back without the update) that makes an update harmful. */
export const HARM_CLASS = 0.15;
/** Harm is judged once the round's input model is trained (this validation accuracy): per-class figures of a random model mean nothing. */
export const TRAINED = 0.5;

/** One accepted update's part in the round (what the store keeps, less the amount the split decides). */
export type ScoredUpdate = Omit<UpdateReward, "amount" | "excluded"> & { excluded: Exclusion | null };

export interface ScoredRound {
  model: Float32Array;
  updates: ScoredUpdate[];
  /** Updates that count toward minUpdates: score above MIN_CONTRIBUTION. */
  useful: number;
  /** Validation loss of the global model this round started from. */
  baseLoss: number;
}

/** The lower median: with two values, the smaller one (a single large claim or distance cannot raise it). */
export function lowerMedian(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)];
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
  const evalOf = (flat: Float32Array) => strategy.evaluate(round, unflatten(flat, global.layout));
  const base = await evalOf(global.flat);
  const baseLoss = base.loss;
  const norms = results.map((r) => distance(r.weights, global.flat));
  const gains = losses.map((l) => baseLoss - l);
  const scale = norms.filter((_, i) => gains[i] > MIN_CONTRIBUTION);
  const reference = scale.length > 0 ? lowerMedian(scale) : null;
  const bound = settings.normBound ?? (results.length >= 2 && reference !== null ? settings.normMultiple * reference : Infinity);
  const outlier = (i: number): Exclusion | null => (norms[i] > bound ? "NORM_OUTLIER" : null);
  const kept = results.map((_, i) => outlier(i) === null);
  const keptClaims = results.filter((_, i) => kept[i]).map((r) => r.numSamples);
  const claimCap = settings.trustNumSamples || keptClaims.length === 0 ? Infinity : lowerMedian(keptClaims);
  const weighted = results.map((r) => ({ ...r, numSamples: Math.min(r.numSamples, claimCap) }));

  const aggregate = async (members: number[], untrained?: number): Promise<Float32Array> =>
    members.length === 0
      ? global.flat
      : strategy.aggregate(round, members.map((i) => (i === untrained ? { ...weighted[i], weights: global.flat } : weighted[i])), failures, global.flat);
  /** The first of `sets` the strategy accepts (Krum needs more than f + 2 updates), else the global model. */
  const firstAggregate = async (...sets: number[][]): Promise<Float32Array> => {
    for (const set of sets) {
      try {
        return await aggregate(set);
      } catch {
        // too few for this rule: try the next set
      }
    }
    return global.flat;
  };
  const all = results.map((_, i) => i);
  const near = all.filter((i) => kept[i]);
  // Once the input model is trained, an update whose own model separates no class better learned
  // nothing (rounds/learned.ts): out before leave-one-out, so that it cannot lend the others'
  // scores its effect either. (A random model gets each class all right or all wrong: nothing to judge by.)
  const nothing = new Set<number>();
  const harmful = new Set<number>();
  if (base.regression || base.accuracy >= TRAINED) {
    const owns = new Map<number, RoundEval>();
    for (const i of near) owns.set(i, await evalOf(results[i].weights));
    for (const i of near) if (!learnedSomething(base, owns.get(i)!, TRAINED)) nothing.add(i);
    // Of those that learned something, one that unlearned a class the others keep (rounds/unlearned.ts)
    // is harmful: out before leave-one-out too.
    const learners = near.filter((i) => !nothing.has(i));
    for (const k of unlearnedAlone(base, learners.map((i) => owns.get(i)!), TRAINED)) harmful.add(learners[k]);
  }
  const members = near.filter((i) => !nothing.has(i) && !harmful.has(i));
  const full = await evalOf(await firstAggregate(members, all));
  const fullLoss = full.loss;
  const scores = new Map<number, number>();
  const raw = new Map<number, number>();
  for (const i of members) {
    let without;
    try {
      without = await evalOf(await aggregate(members, i));
    } catch {
      // A robust rule may refuse the counterfactual set: fall back to the model before the round.
      without = base;
    }
    const wrecks = base.accuracy >= TRAINED && full.classAccuracy.some(
      (a, c) => a < base.classAccuracy[c] - HARM_CLASS && a < full.accuracy - 2 * HARM_CLASS && without.classAccuracy[c] - a > HARM_CLASS,
    );
    if (wrecks) harmful.add(i);
    // A change that lowers validation accuracy is not paid, even when it lowers the loss (a model
    // trained on shuffled labels makes an over-confident model less confident, not more right).
    const score = without.loss - fullLoss;
    raw.set(i, score);
    scores.set(i, harmful.has(i) || without.accuracy > full.accuracy ? Math.min(0, score) : score);
  }

  // Counting and keeping use the loss score; the accuracy gate above only decides what is paid.
  const useful = members.filter((i) => !harmful.has(i) && (raw.get(i)! > MIN_CONTRIBUTION || gains[i] > MIN_CONTRIBUTION));
  const inModel = useful.filter((i) => raw.get(i)! >= 0);
  const isUseful = new Set(inModel);
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
      excluded: outlier(i) ?? (nothing.has(i) ? "LEARNED_NOTHING" : harmful.has(i) ? "HARMFUL" : isUseful.has(i) ? null : "NO_CONTRIBUTION"),
    };
  });
  // The kept model from the published weights and exclusions alone, so `job verify` can replay it.
  const model = await roundModel(strategy, round, updates.map((u, i) => ({ ...u, weights: results[i].weights })), global.flat);
  return { model, updates, useful: useful.length, baseLoss };
}

/** A round of a rented cluster: the requester's own workers, paid by rent. Every update is kept, none is scored. */
export async function trustedRound(round: number, results: FitResult[], global: GlobalModel, strategy: Strategy): Promise<ScoredRound> {
  const baseLoss = (await strategy.evaluate(round, unflatten(global.flat, global.layout))).loss;
  const updates = results.map((r) => ({
    contributor: r.contributor, updateHash: r.updateHash, claimedSamples: r.numSamples, weight: r.numSamples,
    deltaNorm: distance(r.weights, global.flat), score: 0, gain: 0, excluded: null,
  }));
  const model = await roundModel(strategy, round, updates.map((u, i) => ({ ...u, weights: results[i].weights })), global.flat);
  return { model, updates, useful: results.length, baseLoss };
}

