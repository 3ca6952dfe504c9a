/**
 * Did an update learn anything about the task? Its own model against the round's input model, per
 * class of the requester's validation set. It learned something when, on some class the input
 * model already recognizes (class accuracy ≥ TRAINED), its model's validation loss is lower by more
 * than LEARNED_MARGIN, or when it makes a class the input model does not recognize well recognized
 * (class accuracy ≥ NEW_CLASS_ACCURACY, up by at least NEW_CLASS_RISE).
 *  - Honest training, even on a few classes, lowers the loss of classes it holds (measured on
 *    three non-IID shards, rounds 1-5, three seeds: the best class gains 0.04-1.6 nats).
 *  - A model trained on shuffled labels raises the loss of every class the model recognizes (its
 *    best class loses 0.08-1.0 nats in the same runs), even where it lowers the validation loss of
 *    an over-confident aggregate (it makes it less sure, not more right); a near-copy changes no
 *    class by the margin. Either is left out of the round's model, unpaid.
 * Figures: scripts/experiments/payments-scoring.ts.
 */
import type { RoundEval } from "../strategy/index.js";

/** Validation-loss gain (nats) on one class that counts as learning. */
export const LEARNED_MARGIN = 1e-3;
/**
 * A class the input model did not recognize counts as learned when its accuracy reaches this and
 * rose by NEW_CLASS_RISE (a shuffled-label model lifted such classes to 51 % at most, honest training to 65-98 %).
 */
export const NEW_CLASS_ACCURACY = 0.75;
export const NEW_CLASS_RISE = 0.25;

/** Whether `own` learned something over `base` (see the file comment); true when per-class losses are not known. */
export function learnedSomething(base: RoundEval, own: RoundEval, trained: number): boolean {
  if (!base.classLoss || !own.classLoss) return true;
  const ownLoss = own.classLoss;
  return base.classAccuracy.some((acc, c) =>
    acc >= trained
      ? base.classLoss![c] - ownLoss[c] > LEARNED_MARGIN
      : own.classAccuracy[c] >= NEW_CLASS_ACCURACY && own.classAccuracy[c] - acc >= NEW_CLASS_RISE,
  );
}
