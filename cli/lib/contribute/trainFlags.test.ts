import t from "tap";
import { TRAIN_DEFAULTS } from "../../../protocol/train.js";
import { trainSettingsFrom } from "./trainFlags.js";

const base = { device: "cpu", holdout: "0.1" };

t.test("the optimizer flags reach the training settings, and only when given", async (t) => {
  const plain = trainSettingsFrom(base);
  t.same(plain, { ...TRAIN_DEFAULTS, device: "cpu", holdout: 0.1 }, "no optimizer flags: the settings as before (SGD)");
  t.match(trainSettingsFrom({ ...base, optimizer: "AdamW", weightDecay: "0.05" }), { optimizer: "adamw", weightDecay: 0.05 });
  t.match(trainSettingsFrom({ ...base, optimizer: "sgd", momentum: "0.9", nesterov: true }), { optimizer: "sgd", momentum: 0.9, nesterov: true });
});

t.test("bad optimizer flags are refused with a fix", async (t) => {
  t.throws(() => trainSettingsFrom({ ...base, optimizer: "rmsprop" }), { code: "BAD_ARGUMENT", message: /--optimizer 'rmsprop'/, fix: /sgd, adam, adamw/ });
  t.throws(() => trainSettingsFrom({ ...base, weightDecay: "NaN" }), { code: "BAD_ARGUMENT", message: /--weight-decay/ });
  t.throws(() => trainSettingsFrom({ ...base, weightDecay: "2" }), { code: "BAD_ARGUMENT", message: /--weight-decay/ });
  t.throws(() => trainSettingsFrom({ ...base, momentum: "0", nesterov: true }), { code: "BAD_ARGUMENT", message: /--nesterov needs a --momentum/ });
  t.throws(() => trainSettingsFrom({ ...base, optimizer: "adam", nesterov: true }), { code: "BAD_ARGUMENT", message: /--nesterov/, fix: /--optimizer sgd/ });
});
