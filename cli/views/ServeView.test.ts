import t from "tap";
import { createElement } from "react";
import { render } from "ink-testing-library";
import { initialServe, reduceServe, serveLine, ServeView, type ServeEvent } from "./ServeView.js";

const events: ServeEvent[] = [
  { event: "ready", url: "http://127.0.0.1:8080", evaluator: "0x" + "ab".repeat(20), keySource: "generated", chainId: 31337, network: "local", contracts: { TrainingPool: "0x" + "cd".repeat(20) }, dataDir: "/data" },
  { event: "job:activated", jobId: 1, requester: "0x" + "12".repeat(20), rounds: 3, modelHash: "0x" + "0".repeat(64) },
  { event: "round:opened", jobId: 1, round: 0, deadlineAt: 0 },
  { event: "update:accepted", jobId: 1, round: 0, contributor: "0x" + "34".repeat(20), accuracyBps: 8123, numSamples: 500, ms: 12 },
  { event: "update:rejected", jobId: 1, round: 0, contributor: "0x" + "56".repeat(20), code: "NON_FINITE" },
  { event: "round:closed", jobId: 1, round: 0, accuracy: 0.8512, loss: 0.5, contributors: 1, modelHash: "0x" + "1".repeat(64), ms: 40 },
  { event: "round:opened", jobId: 1, round: 1, deadlineAt: 0 },
];

t.test("the live view folds events into jobs, progress, counters and recent lines", async (t) => {
  const state = events.reduce(reduceServe, initialServe);
  t.equal(state.accepted, 1);
  t.equal(state.rejected, 1);
  t.same(state.jobs[1].accuracy, [0.8512]);
  t.equal(state.jobs[1].round, 1);
  const { lastFrame, unmount } = render(createElement(ServeView, { state }));
  const frame = lastFrame() ?? "";
  unmount();
  t.match(frame, /http:\/\/127\.0\.0\.1:8080/);
  t.match(frame, /round 1\/0–2/);
  t.match(frame, /85\.12 %/);
  t.match(frame, /refused NON_FINITE/);
});

t.test("plain lines for pipes", async (t) => {
  t.match(serveLine(events[0])!, /listening on http:\/\/127\.0\.0\.1:8080[\s\S]*evaluator 0xabab/);
  t.match(serveLine(events[5])!, /round 0 closed: accuracy 85\.12 %/);
  t.equal(serveLine(events[2]), undefined);
});
