import t from "tap";
import { roundTraining } from "./jobTraining.js";

t.test("the job's training settings apply where the trainer gives no flag of its own", async (t) => {
  t.same(roundTraining(undefined, {}, 0.9), {}, "neither: the engine's defaults (plain SGD with momentum)");
  t.same(roundTraining({}, {}, 0.9), {});
  t.same(roundTraining({ optimizer: "adam", proximalMu: 0.01 }, {}, 0.9), { optimizer: "adam", proximalMu: 0.01 });
  t.same(roundTraining({ optimizer: "sgd", nesterov: true, weightDecay: 0.001 }, {}, 0.9), { optimizer: "sgd", nesterov: true, weightDecay: 0.001 });
});

t.test("a trainer's own flag wins for its setting", async (t) => {
  t.same(roundTraining({ optimizer: "adam", proximalMu: 0.01 }, { proximalMu: 0.5 }, 0.9), { optimizer: "adam", proximalMu: 0.5 });
  t.same(roundTraining({ optimizer: "adam", proximalMu: 0.01 }, { proximalMu: 0 }, 0.9), { optimizer: "adam" }, "--prox-mu 0 turns FedProx off");
  t.same(roundTraining({ optimizer: "adamw", weightDecay: 0.05 }, { weightDecay: 0 }, 0.9), { optimizer: "adamw", weightDecay: 0 });
  t.same(roundTraining({ optimizer: "adamw", weightDecay: 0.05 }, { optimizer: "adamw" }, 0.9), { optimizer: "adamw", weightDecay: 0.05 }, "naming the job's own optimizer keeps its weight decay");
});

t.test("naming another optimizer replaces the job's with the weight decay and Nesterov chosen for it", async (t) => {
  t.same(roundTraining({ optimizer: "adamw", weightDecay: 0.05, proximalMu: 0.1 }, { optimizer: "sgd" }, 0.9), { optimizer: "sgd", proximalMu: 0.1 }, "μ is its own setting and stays");
  t.same(roundTraining({ optimizer: "sgd", nesterov: true, weightDecay: 0.01 }, { optimizer: "adam" }, 0.9), { optimizer: "adam" });
  t.same(roundTraining({ optimizer: "adam", weightDecay: 0.01 }, { nesterov: true }, 0.9), { optimizer: "sgd", nesterov: true }, "--nesterov is SGD: it replaces the job's Adam");
  t.same(roundTraining({ nesterov: true }, {}, 0), {}, "the job's Nesterov under --momentum 0 is plain SGD, dropped rather than refused");
});
