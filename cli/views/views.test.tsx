/** @jsxRuntime automatic @jsxImportSource react */
// (the pragma: tsconfig.json leaves test files out, so the TypeScript loader would not see its "jsx" setting here)
import t from "tap";
import { render } from "ink-testing-library";
import type { ContributorEvent } from "../lib/contribute/events.js";
import type { WatchEvent } from "../lib/job/watch.js";
import type { DemoEvent } from "../lib/demo/types.js";
import { ContributeView, contributeLine, initialContribute, reduceContribute } from "./ContributeView.js";
import { DemoView, demoLine, demoSummary, initialDemo, reduceDemo, reviveContributorEvent } from "./DemoView.js";
import { JobWatchView, initialJobWatch, jobWatchLine, reduceJobWatch } from "./JobWatchView.js";

const DUCK = 10n ** 18n;
const alice = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
const frameOf = (node: Parameters<typeof render>[0]) => {
  const view = render(node);
  const frame = view.lastFrame() ?? "";
  view.unmount();
  return frame;
};

t.test("job watch: status, accuracy per round, rewards", async (t) => {
  const events: WatchEvent[] = [
    { event: "status", jobId: 4, status: "active", currentRound: 1, rounds: 3, accepted: 2, rejected: 1, requester: alice, evaluator: alice, thresholdBps: 7000, metric: "accuracy" },
    { event: "round", jobId: 4, round: 0, accuracy: 0.9, metric: "accuracy", loss: 0.3, contributors: 2, modelHash: "0x01" },
    { event: "reward", jobId: 4, contributor: alice, amount: 10n * DUCK, txHash: "0xaa", blockNumber: 7 },
    { event: "reward", jobId: 4, contributor: alice, amount: 5n * DUCK, txHash: "0xbb", blockNumber: 8 },
  ];
  const state = events.reduce(reduceJobWatch, initialJobWatch(4));
  t.match(state, { currentRound: 1, accepted: 2, rejected: 1, totalPaid: 15n * DUCK, paid: { [alice]: 15n * DUCK } });
  const frame = frameOf(<JobWatchView state={state} />);
  t.match(frame, /Job 4 · active · round 1 of 0–2 · threshold 70 %/);
  t.match(frame, /1 rejected/);
  t.match(frame, /r0 █+.* 90\.00 %/);
  t.match(frame, /rewards paid: 15 DUCK/);
  t.match(frame, /0x7099…79C8 15 DUCK/);
  t.equal(jobWatchLine(events[2]), `paid 10 DUCK to ${alice} (tx 0xaa)`);
  t.match(jobWatchLine({ event: "finished", jobId: 4, modelHash: "0x02", rounds: 3, finalAccuracy: 0.95, metric: "accuracy", totalPaid: 30n * DUCK }), /finished after 3 rounds: accuracy 95\.00 %, 30 DUCK paid/);
});

t.test("job watch of a regression job: its rounds' figure is named R² and shown as one", async (t) => {
  const events: WatchEvent[] = [
    { event: "status", jobId: 5, status: "active", currentRound: 1, rounds: 2, accepted: 2, rejected: 0, requester: alice, evaluator: alice, thresholdBps: 5000, metric: "R²" },
    { event: "round", jobId: 5, round: 0, accuracy: 0.5642, metric: "R²", loss: 21.5, contributors: 2, modelHash: "0x01" },
  ];
  const frame = frameOf(<JobWatchView state={events.reduce(reduceJobWatch, initialJobWatch(5))} />);
  t.match(frame, /threshold R² 0\.500/);
  t.match(frame, /R² .* 0\.564/);
  t.match(frame, /r0 █+.* 0\.564/);
  t.notMatch(frame, /accuracy|%/, "no accuracy, no percent");
  t.equal(jobWatchLine(events[1]), "round 0: global R² 0.564 (2 updates)");
  t.match(jobWatchLine({ event: "finished", jobId: 5, modelHash: "0x02", rounds: 2, finalAccuracy: 0.8438, metric: "R²", totalPaid: 10n * DUCK }), /finished after 2 rounds: R² 0\.844, 10 DUCK paid/);
});

t.test("job watch: a stalled job says why and what to do, until it moves again", async (t) => {
  const stalled: WatchEvent = { event: "progress", jobId: 4, state: "stalled", reason: "no-updates", round: 1, message: "Round 1 has had no update in the 130 s it has been open.", fix: "Start contributors, or `quackmesh job abort 4`." };
  const state = reduceJobWatch(initialJobWatch(4), stalled);
  const frame = frameOf(<JobWatchView state={state} />);
  t.match(frame, /stalled: Round 1 has had no update in the 130 s it has been open\./);
  t.match(frame, /fix: Start contributors, or `quackmesh job abort 4`\./);
  t.equal(jobWatchLine(stalled), "job 4 stalled (no-updates): Round 1 has had no update in the 130 s it has been open.\n  fix: Start contributors, or `quackmesh job abort 4`.");
  const moving = reduceJobWatch(state, { ...stalled, state: "running", reason: null, message: "Round 1 is open.", fix: null });
  t.equal(moving.progress, null, "back to running: the note goes");
  t.notMatch(frameOf(<JobWatchView state={moving} />), /stalled/);
});

t.test("contribute: phases, local and attested accuracy, rewards", async (t) => {
  const events: ContributorEvent[] = [
    { event: "started", jobId: 2, address: alice, samples: 900, holdout: 100, stateFile: null, submitOnChain: true, metric: "accuracy" },
    { event: "model", jobId: 2, round: 0, modelHash: "0x01" },
    { event: "trained", jobId: 2, round: 0, samples: 900, loss: 0.5, accuracy: 0.8, metric: "accuracy", holdoutLoss: 0.4, holdoutAccuracy: 0.85, training: {}, ms: 120 },
    { event: "attested", jobId: 2, round: 0, accuracyBps: 8800, metric: "accuracy", updateHash: "0x02", numSamples: 900, evaluator: alice },
    { event: "submitted", jobId: 2, round: 0, txHash: "0xcc", reward: 10n * DUCK, totalReward: 10n * DUCK, balance: 110n * DUCK },
    { event: "refused", jobId: 2, round: 1, stage: "orchestrator", code: "BELOW_THRESHOLD", message: "scored 6000 bps", fatal: false },
  ];
  const state = events.reduce(reduceContribute, initialContribute(2, alice));
  const frame = frameOf(<ContributeView state={state} />);
  t.match(frame, /Contributing to job 2/);
  t.match(frame, /held-out 85\.00 %/);
  t.match(frame, /attested .* 88\.00 %/);
  t.match(frame, /rewards 10 DUCK · balance 110 DUCK/);
  t.match(frame, /refused by the orchestrator \(BELOW_THRESHOLD\)/);
  t.equal(contributeLine(events[1]), undefined, "a model download needs no line");
});

t.test("contribute to a regression job: its local and attested figures are named R² and shown as one", async (t) => {
  const events: ContributorEvent[] = [
    { event: "started", jobId: 3, address: alice, samples: 300, holdout: 30, stateFile: null, submitOnChain: true, metric: "R²" },
    { event: "trained", jobId: 3, round: 0, samples: 300, loss: 21.5, accuracy: 0.612, metric: "R²", holdoutLoss: 25.1, holdoutAccuracy: 0.5533, training: {}, ms: 40 },
    { event: "attested", jobId: 3, round: 0, accuracyBps: 5642, metric: "R²", updateHash: "0x02", numSamples: 300, evaluator: alice },
  ];
  const frame = frameOf(<ContributeView state={events.reduce(reduceContribute, initialContribute(3, alice))} />);
  t.match(frame, /R² 0\.612 · held-out 0\.553/);
  t.match(frame, /attested .* 0\.564/);
  t.notMatch(frame, /accuracy|%/, "no accuracy, no percent");
  t.equal(contributeLine(events[1]), "round 0: trained in 40 ms, loss 21.5000, R² 0.612, held-out 0.553");
  t.equal(contributeLine(events[2]), "round 0: evaluator attested R² 0.564");
});

t.test("demo: steps, contributor rows from their JSON lines, test accuracy per round, summary", async (t) => {
  const submitted = JSON.parse(JSON.stringify({ event: "submitted", jobId: 1, round: 0, txHash: "0xdd", reward: "10000000000000000000", totalReward: "10000000000000000000", balance: null }));
  t.equal((reviveContributorEvent(submitted) as { reward: bigint }).reward, 10n * DUCK, "amounts come back as bigint");
  const events: DemoEvent[] = [
    { event: "step", id: "chain", title: "Start a local chain", status: "started" },
    { event: "step", id: "chain", title: "Start a local chain", status: "done", ms: 1200, detail: "Hardhat node" },
    { event: "contributor", name: "contributor-1", address: alice, update: { event: "model", jobId: 1, round: 0, modelHash: "0x01" } },
    { event: "contributor", name: "contributor-1", address: alice, update: submitted },
    { event: "round", round: 0, validationAccuracy: 0.94, testAccuracy: 0.9377, contributors: 3 },
  ];
  const state = events.reduce(reduceDemo, initialDemo);
  t.equal(state.steps.length, 1, "a step's start is replaced by its end");
  const frame = frameOf(<DemoView state={state} />);
  t.match(frame, /✓ Start a local chain/);
  t.match(frame, /contributor-1 +0x7099…79C8 +1 .* 10 +waiting/);
  t.match(frame, /r0 █+.* 93\.77 %/);
  t.match(demoLine(events[3]) ?? "", /\[contributor-1\] round 0: receipt on chain, flat part 10 DUCK/);
  t.match(demoSummary({ rounds: [{ round: 0, testAccuracy: 0.97 }], contributors: [{ address: alice, paid: "100" }], refund: "700", finalTestAccuracy: 0.97, wallSeconds: 12 }), /Refund to the requester: 700 DUCK[\s\S]*97\.00 % in 12 s/);
});
