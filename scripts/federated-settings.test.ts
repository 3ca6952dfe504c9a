import t from "tap";
import { DEFAULTS, parseRuns, settingsOf, UsageError, type Run } from "./federated-settings.js";

const runs = (...argv: string[]) => {
  const r = parseRuns(argv);
  if (r === "help") throw new Error("unexpected help");
  return r;
};

t.test("comma lists run every combination, over the protocol's defaults", async (t) => {
  const r = runs("--lr", "0.001,0.002", "--seed", "1,2,3", "--dataset", "fashion-mnist");
  t.equal(r.length, 6);
  t.same(r.map((x) => `${x.lr}/${x.seed}`).sort(), ["0.001/1", "0.001/2", "0.001/3", "0.002/1", "0.002/2", "0.002/3"]);
  t.match(r[0], { dataset: "fashion-mnist", alpha: 0.5, clients: 3, rounds: 5, epochs: 1, mu: 0, model: "issue", device: "auto", nesterov: false });
  t.equal(parseRuns(["--help"]), "help");
});

t.test("settings: the defaults, flags over them, another optimizer with its own defaults", async (t) => {
  const [plain] = runs();
  t.same(settingsOf(plain), DEFAULTS);
  const [sgd] = runs("--optimizer", "sgd");
  // SGD's learning rate and momentum, not Adam's; what is not the optimizer's own stays the default
  t.match(settingsOf(sgd), { optimizer: "sgd", lr: 0.05, momentum: 0.9, batch: DEFAULTS.batch, lrDecay: DEFAULTS.lrDecay, weightDecay: 0 });
  const [adamw] = runs("--optimizer", "adamw");
  t.match(settingsOf(adamw), { optimizer: "adamw", lr: 0.001, momentum: 0, weightDecay: 0.01 });
  const [first] = runs("--optimizer", "sgd", "--batch", "64", "--lr-decay", "1", "--server-momentum", "0", "--normalize", "mnist", "--nesterov");
  t.match(settingsOf(first), { optimizer: "sgd", lr: 0.05, momentum: 0.9, batch: 64, lrDecay: 1, serverMomentum: 0, normalize: "mnist", nesterov: true });
});

t.test("bad flags: a message naming the flag and a fix, before any run", async (t) => {
  const cases: [string[], RegExp][] = [
    [["--lr", "abc"], /--lr "abc" is not a number\nfix: /],
    [["--lr", "0.001,"], /--lr "" is not a number/],
    [["--optimizer", "rmsprop"], /--optimizer "rmsprop" is not one of sgd, adam, adamw\nfix: /],
    [["--dataset", "cifar"], /--dataset "cifar" is not one of mnist, fashion-mnist/],
    [["--lr", "0"], /--lr 0 is not a number > 0\nfix: /],
    [["--batch", "1.5"], /--batch 1.5 is not a whole number >= 1/],
    [["--rounds", "0"], /--rounds 0 is not a whole number >= 1/],
    [["--target", "97"], /--target 97 is not a fraction in \(0, 1\]/],
    [["--momentum", "1"], /--momentum 1 is not a number in \[0, 1\)/],
    [["--lr-decay", "2"], /--lr-decay must be in \(0, 1\]\nfix: /],
    [["--seed", "1", "--server-momentum", "0.5,1"], /--server-momentum in \[0, 1\)\nfix: /],
  ];
  for (const [argv, message] of cases) t.throws(() => parseRuns(argv), message, argv.join(" "));
  try {
    parseRuns(["--lr", "x"]);
    t.fail("--lr x was accepted");
  } catch (e) {
    t.ok(e instanceof UsageError, "ours, printed without a stack");
  }
  t.throws(() => parseRuns(["--bogus"]), { code: "ERR_PARSE_ARGS_UNKNOWN_OPTION" });
});

t.test("settingsOf refuses a run built by hand with out-of-range server settings", async (t) => {
  const [run] = runs();
  t.throws(() => settingsOf({ ...run, "server-lr": 0 } as Run), /--server-lr must be > 0/);
});
