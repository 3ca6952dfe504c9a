// The learned-nothing rule on evaluations shaped like the measured ones (scripts/experiments/
// payments-scoring.ts), and the per-class loss the evaluator gives it.
import t from "tap";
import type { RoundEval } from "../strategy/index.js";
import { LEARNED_MARGIN, NEW_CLASS_ACCURACY, learnedSomething } from "./learned.js";
import { TRAINED } from "./contribution.js";
import { classLoss } from "./runtime.js";

const evalOf = (classAccuracy: number[], classLoss?: number[]): RoundEval => ({ loss: 0, accuracy: 0, classAccuracy, classLoss });
// An input model that recognizes classes 0-2 and not class 3.
const base = evalOf([0.9, 0.8, 0.6, 0.1], [0.3, 0.6, 1.0, 4.0]);

t.test("an update that lowers the loss of one recognized class learned something, even when it forgets others", async (t) => {
  t.ok(learnedSomething(base, evalOf([0.95, 0.1, 0.0, 0.0], [0.2, 5, 9, 9]), TRAINED));
});

t.test("raising the loss of every recognized class is learning nothing, even when an unknown class's loss drops", async (t) => {
  // A shuffled-label model: less sure everywhere; the confidently wrong class 3 gets a lower loss and a few more right.
  t.notOk(learnedSomething(base, evalOf([0.5, 0.6, 0.7, 0.45], [1.5, 1.6, 1.4, 2.3]), TRAINED));
});

t.test("a near-copy changes no class by the margin", async (t) => {
  const tiny = LEARNED_MARGIN / 10;
  t.notOk(learnedSomething(base, evalOf(base.classAccuracy, base.classLoss!.map((l) => l - tiny)), TRAINED));
});

t.test("making an unknown class well recognized is learning; half-recognized is not", async (t) => {
  const worse = [1, 1, 2, 1];
  t.ok(learnedSomething(base, evalOf([0.1, 0.1, 0.1, NEW_CLASS_ACCURACY], worse), TRAINED));
  t.notOk(learnedSomething(base, evalOf([0.1, 0.1, 0.1, NEW_CLASS_ACCURACY - 0.01], worse), TRAINED));
  // Class 2 (0.6) is recognized already: its loss decides, not its accuracy.
  t.notOk(learnedSomething(base, evalOf([0.1, 0.1, 0.99, 0.1], worse), TRAINED));
});

t.test("without per-class losses the rule does not judge", async (t) => {
  t.ok(learnedSomething(evalOf([0.9]), evalOf([0.1]), TRAINED));
});

t.test("classLoss: mean cross-entropy of each class's samples, finite for a confidently wrong one", async (t) => {
  // Three samples, three classes: labels 0, 0, 1 (none of class 2).
  const p = Float32Array.from([0.5, 0.5, 0, 0.25, 0.75, 0, 1, 0, 0]);
  const l = classLoss(p, Uint8Array.from([0, 0, 1]), 3);
  t.equal(l.length, 3);
  t.ok(Math.abs(l[0] - (Math.log(2) + Math.log(4)) / 2) < 1e-6, `class 0: ${l[0]}`);
  t.ok(Number.isFinite(l[1]) && l[1] > 60, `class 1 predicted with probability 0: ${l[1]}`);
  t.equal(l[2], 0, "a class with no samples");
});
