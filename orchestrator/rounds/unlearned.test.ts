// The unlearned-class rule on hand-made per-class figures at its edges; on real models it is
// exercised by cli/e2e/payments.test.ts (the 7 → 1 flip among honest contributors on every class,
// left out as HARMFUL in every round; nothing left out by it among non-IID ones).
import t from "tap";
import type { RoundEval } from "../strategy/index.js";
import { TRAINED } from "./contribution.js";
import { CONFIDENTLY_WRONG, LOST_CLASS, keepsEveryClass, lostClasses, unlearnedAlone } from "./unlearned.js";

const PER_CLASS = 100;
/** Figures of a model with these per-class accuracies and mean losses (0.3 nats where not given). */
function evalOf(classAccuracy: number[], classLoss: number[] = classAccuracy.map(() => 0.3)): RoundEval {
  const labels: number[] = [];
  const loss: number[] = [];
  const correct: boolean[] = [];
  classAccuracy.forEach((acc, c) => {
    for (let k = 0; k < PER_CLASS; k++) {
      labels.push(c);
      loss.push(classLoss[c]);
      correct.push(k < Math.round(acc * PER_CLASS));
    }
  });
  return {
    loss: 1,
    accuracy: classAccuracy.reduce((a, b) => a + b, 0) / classAccuracy.length,
    classAccuracy,
    perSample: { labels: Uint8Array.from(labels), loss: Float32Array.from(loss), correct: Uint8Array.from(correct, Number) },
  };
}
const SURE = CONFIDENTLY_WRONG + 1;
/** An input model that recognizes classes 0-3 and not class 4 (below TRAINED). */
const base = evalOf([0.9, 0.8, 0.7, TRAINED, TRAINED - 0.01]);
const whole = evalOf([0.9, 0.9, 0.9, 0.9, 0.9]);
/** Class 1 almost never right, and sure of it: a 1 → something flip. */
const flip = evalOf([0.95, 0, 0.9, 0.9, 0.9], [0.2, SURE, 0.3, 0.3, 0.3]);

t.test("lostClasses: a recognized class the own model gets right less than LOST_CLASS of the time, confidently", async (t) => {
  t.same(lostClasses(base, whole, TRAINED), []);
  t.same(lostClasses(base, flip, TRAINED), [1]);
  t.same(lostClasses(base, evalOf([0.9, LOST_CLASS, 0.9, 0.9, 0.9], [0.3, SURE, 0.3, 0.3, 0.3]), TRAINED), [], "exactly LOST_CLASS right is kept");
  t.same(lostClasses(base, evalOf([0.9, 0.01, 0.9, 0.9, 0.9], [0.3, CONFIDENTLY_WRONG - 0.5, 0.3, 0.3, 0.3]), TRAINED), [], "wrong but unsure (an honest model's collapse of a class) is kept");
  t.same(lostClasses(base, evalOf([0.9, 0.9, 0.9, 0, 0.9], [0.3, 0.3, 0.3, SURE, 0.3]), TRAINED), [3], "a class at exactly TRAINED counts as recognized");
  t.same(lostClasses(base, evalOf([0.9, 0.9, 0.9, 0.9, 0], [0.3, 0.3, 0.3, 0.3, SURE]), TRAINED), [], "a class the input model does not recognize cannot be lost");
  t.same(lostClasses({ ...base, regression: { mse: 1, r2: 0 } }, flip, TRAINED), [], "a regression has no classes to lose");
  t.same(lostClasses(base, { ...flip, perSample: undefined }, TRAINED), [], "without per-sample figures nothing is judged");
});

t.test("keepsEveryClass: at least LOST_CLASS of every class right, recognized by the input model or not, sure or not", async (t) => {
  t.ok(keepsEveryClass(whole));
  t.ok(keepsEveryClass(evalOf([0.9, LOST_CLASS, 0.9, 0.9, 0.9])), "exactly LOST_CLASS");
  t.notOk(keepsEveryClass(flip));
  t.notOk(keepsEveryClass(evalOf([0.9, 0.9, 0.9, 0.9, 0], [0.3, 0.3, 0.3, 0.3, SURE])), "class 4, which the input model does not recognize, lost");
  t.notOk(keepsEveryClass(evalOf([0.9, 0.05, 0.9, 0.9, 0.9])), "a class almost all wrong, even unsure: not every class");
  t.ok(keepsEveryClass({ ...flip, regression: { mse: 1, r2: 0 } }), "a regression has no classes");
});

t.test("unlearnedAlone: judged only where at least half of the others keep every class", async (t) => {
  t.same([...unlearnedAlone(base, [whole, flip, whole, whole], TRAINED)], [1], "the one flip among three whole updates");
  t.same([...unlearnedAlone(base, [flip, whole], TRAINED)], [0], "one other, whole: the flip is the odd one out");
  t.same([...unlearnedAlone(base, [whole, whole, whole], TRAINED)], [], "nobody lost a class");
  t.same([...unlearnedAlone(base, [flip], TRAINED)], [], "alone in its round: nothing to compare with");
  const lacks0 = evalOf([0, 0.9, 0.9, 0.9, 0.9], [SURE, 0.3, 0.3, 0.3, 0.3]);
  const lacks2 = evalOf([0.9, 0.9, 0.05, 0.9, 0.9], [0.3, 0.3, SURE, 0.3, 0.3]);
  const lacks4 = evalOf([0.9, 0.9, 0.9, 0.9, 0], [0.3, 0.3, 0.3, 0.3, SURE]);
  t.same([...unlearnedAlone(base, [lacks0, flip, lacks2], TRAINED)], [], "non-IID: the others lose classes too, nobody is judged");
  t.same([...unlearnedAlone(base, [lacks4, lacks4, flip], TRAINED)], [], "others that lack a class the input model does not recognize yet are not whole either");
  const unsure = evalOf([0.9, 0.9, 0.01, 0.9, 0.9], [0.3, 0.3, CONFIDENTLY_WRONG - 1, 0.3, 0.3]);
  t.same([...unlearnedAlone(base, [unsure, flip, whole], TRAINED)], [1], "one of two others whole is half: the flip is judged; an honest collapse (unsure) is not lost, nor whole");
  t.same([...unlearnedAlone(base, [unsure, flip], TRAINED)], [], "the only other is not whole: nothing judged");
  t.same([...unlearnedAlone(base, [lacks0, lacks2, flip, whole], TRAINED)], [], "one of three others whole is under half: nobody is judged");
  t.same([...unlearnedAlone(base, [lacks0, flip, whole, whole], TRAINED)], [0, 1], "two of three others whole: both updates that lost a class are judged");
});
