/**
 * Did an update unlearn a class that the rest of its round keeps? A targeted label flip (every 7
 * relabelled 1) trains on otherwise correct data: its own model scores well overall and lowers
 * the loss of nine classes, so leave-one-out pays it and its diluted harm (a capped weight still
 * costs the round's model 9-18 points of class 7) lands in the model. What gives it away is its
 * own model: it gets almost none of a class right that the round's input model recognizes, and is
 * sure of it (it learned those images as another class).
 *
 * An honest contributor whose data lacks a class looks the same on the validation set (its model
 * forgets the class it never sees: mostly 0-10 % right, losses of 3-14 nats on it, 50-100 % of it sent to
 * one other class, as the flip's 7 → 1). So the rule judges only rounds in which at least half of
 * the other updates keep every class: their own models get at least LOST_CLASS of each class right
 * (every class, not only those the input model recognizes, so a contributor lacking a class the
 * model has not learned yet does not make a non-IID round look uniform). There an update that
 * loses a recognized class is the odd one out. In a round whose updates mostly lack classes
 * (strongly non-IID data) it judges nothing, and a flip there is bounded only by its weight (at
 * most the round's median claim) and paid what leave-one-out finds.
 *
 * A class is lost when the own model gets under LOST_CLASS of it right with a mean loss above
 * CONFIDENTLY_WRONG. Measured: the flip's 7s 0-1 % right at 7.2-8.1 nats; honest updates on every
 * class through `contribute` (cli/e2e/payments.test.ts) sometimes collapse a class too (1-14 %
 * right) but at 3.5-5.3 nats. Offline (scripts/experiments/payments-scoring.ts, 8 seeds, 5 rounds):
 * with honest contributors on every class the flip was left out in 32 of 32 rounds and no honest
 * update by this rule; on three non-IID shards, with or without the flip, the rule changed no
 * decision. Judged on the updates that learned something (rounds/learned.ts), so near-copies,
 * which keep every class, cannot be sent in numbers to make a non-IID round look uniform; trained
 * updates on every class can (README's known limits). A flip trained less (unsure of its wrong
 * answers) or partial (keeping LOST_CLASS of the class) is not caught here.
 */
import type { RoundEval } from "../strategy/index.js";

/** A class counts as lost by an update when its own model gets less than this share of it right... */
export const LOST_CLASS = 0.1;
/** ...and is confidently wrong on it: a mean validation loss above this (nats) on the class's samples. */
export const CONFIDENTLY_WRONG = 6;

/** Mean loss of `own` on each class's validation samples; null without per-sample figures. */
function classLoss(own: RoundEval): number[] | null {
  if (!own.perSample) return null;
  const sum = new Float64Array(own.classAccuracy.length);
  const n = new Uint32Array(own.classAccuracy.length);
  own.perSample.labels.forEach((c, i) => {
    sum[c] += own.perSample!.loss[i];
    n[c]++;
  });
  return Array.from(sum, (v, c) => (n[c] > 0 ? v / n[c] : 0));
}

/** Classes `own` gets almost all wrong, confidently (both thresholds above); none for a regression or without per-sample figures. */
function lost(own: RoundEval): number[] {
  const loss = own.regression ? null : classLoss(own);
  if (!loss) return [];
  return own.classAccuracy.flatMap((acc, c) => (acc < LOST_CLASS && loss[c] > CONFIDENTLY_WRONG ? [c] : []));
}

/** The classes `base` recognizes (accuracy ≥ `trained`) that `own` lost. */
export function lostClasses(base: RoundEval, own: RoundEval, trained: number): number[] {
  if (base.regression || own.classAccuracy.length !== base.classAccuracy.length) return [];
  return lost(own).filter((c) => base.classAccuracy[c] >= trained);
}

/**
 * Whether `own` gets at least LOST_CLASS of every class right, recognized by the input model or not:
 * its training saw them all. Stricter than "lost nothing" (no confidence asked), so that a
 * non-IID contributor unsure of the class it lacks does not pass for one holding every class.
 */
export function keepsEveryClass(own: RoundEval): boolean {
  return own.regression !== undefined || own.classAccuracy.every((acc) => acc >= LOST_CLASS);
}

/**
 * Positions in `owns` (the own-model evaluations of a round's updates) of those that lose a class
 * `base` recognizes while at least half of the other updates (and at least one) keep every class.
 */
export function unlearnedAlone(base: RoundEval, owns: RoundEval[], trained: number): Set<number> {
  const whole = owns.map(keepsEveryClass);
  const out = new Set<number>();
  owns.forEach((own, i) => {
    if (lostClasses(base, own, trained).length === 0) return;
    const othersWhole = whole.filter((w, j) => j !== i && w).length;
    if (othersWhole > 0 && othersWhole * 2 >= owns.length - 1) out.add(i);
  });
  return out;
}
