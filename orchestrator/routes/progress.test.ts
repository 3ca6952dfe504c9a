import t from "tap";
import { SMALL_SPEC, announceJob, mnistIdxPair, randomWallet, readyDraft, signedInject, testApp, trainUpdate } from "../testing/fixtures.js";
import { DEFAULT_SETTINGS } from "../../protocol/settings.js";
import type { JobRecord, RoundRecord, UpdateRecord } from "../store/repository.js";
import { judgeProgress, type ProgressFacts } from "./progress.js";

const DUCK = 10n ** 18n;
const job = {
  jobId: 7, status: "active", currentRound: 2,
  settings: { ...DEFAULT_SETTINGS, rounds: 5, minUpdates: 2, minUpdatesAtDeadline: 1, roundDeadlineSeconds: 60, thresholdBps: 9000 },
  chain: { totalRewardPool: String(100n * DUCK), roundBudget: String(20n * DUCK), flatPerUpdate: "0" },
} as unknown as JobRecord;
const round = { jobId: 7, round: 2, status: "open", openedAt: 1_000_000, deadlineAt: 1_060_000, extensions: 0 } as RoundRecord;
const update = (status: "accepted" | "rejected", accuracyBps: number) => ({ status, accuracyBps }) as UpdateRecord;
const facts = (over: Partial<ProgressFacts> = {}): ProgressFacts => ({ job, round, updates: [], committed: 40n * DUCK, acceptedTotal: 4, now: 1_030_000, ...over });

t.test("a round before its deadline runs; enough accepted updates that add too little wait for the deadline, and say so", async (t) => {
  t.match(judgeProgress(facts({ updates: [update("accepted", 9500)] })), { state: "running", reason: null, round: 2, fix: null, message: /Round 2 is open: 1 accepted, 0 refused; it closes with 2 useful updates or at its deadline in 30 s/ });
  t.match(judgeProgress(facts({ updates: [update("accepted", 9500), update("accepted", 9400)] })), {
    state: "waiting", reason: "few-useful", message: /holds 2 accepted updates but fewer than 2 add to the model; it closes at its deadline in 30 s with what it has/,
  });
});

t.test("past a deadline without what the round needs: stalled, with the reason and the fix", async (t) => {
  const late = { ...round, extensions: 2, deadlineAt: 1_180_000 };
  t.match(judgeProgress(facts({ round: late, now: 1_150_000 })), {
    state: "stalled", reason: "no-updates", since: 1_000_000,
    message: /Round 2 has had no update in the 150 s it has been open; its 60 s deadline passed 2 times/, fix: /quackmesh contribute --job 7 .*quackmesh job abort 7/,
  });
  t.match(judgeProgress(facts({ round: late, updates: [update("rejected", 4200), update("rejected", 8812)] })), {
    state: "stalled", reason: "below-threshold", message: /Every update of round 2 \(2\) was refused below the threshold of 90\.00 % \(best 88\.12 %\)/, fix: /fixed on chain.*quackmesh job abort 7.*lower --threshold/,
  });
  const needsTwo = { ...job, settings: { ...job.settings, minUpdatesAtDeadline: 2 } } as JobRecord;
  t.match(judgeProgress(facts({ job: needsTwo, round: { ...late, extensions: 1 }, updates: [update("accepted", 9500), update("rejected", 10)] })), {
    state: "stalled", reason: "too-few-updates", message: /holds 1 accepted update\(s\) and needs 2 to close at its deadline; its 60 s deadline passed once/, fix: /quackmesh job abort 7/,
  });
  t.match(judgeProgress(facts({ round: { ...late, extensions: 1 }, updates: [update("accepted", 9500)] })), { state: "running" }, "one accepted update closes it at the next deadline");
});

t.test("a spent pool is a stall whatever the round holds", async (t) => {
  t.match(judgeProgress(facts({ committed: 100n * DUCK })), { state: "stalled", reason: "pool-exhausted", message: /pool of job 7 is spent \(100 DUCK/, fix: /quackmesh job abort 7.*owed stays claimable/ });
  const flat = { ...job, chain: { ...job.chain, flatPerUpdate: String(5n * DUCK) } } as JobRecord;
  t.match(judgeProgress(facts({ job: flat, committed: 80n * DUCK, acceptedTotal: 4 })), { reason: "pool-exhausted" }, "the flat part of each accepted update counts");
  t.match(judgeProgress(facts({ job: flat, committed: 75n * DUCK, acceptedTotal: 4 })), { state: "running" }, "5 DUCK left");
  t.match(judgeProgress(facts({ job: { ...job, status: "finished" } as JobRecord, committed: 100n * DUCK })), { state: "finished", reason: null, round: null });
  t.match(judgeProgress(facts({ round: null })), { state: "running", round: 2, message: /Round 2 of job 7 is opening/ }, "an active job whose round is not stored yet is not called finished");
});

t.test("the API: job status, job list and the dashboard's report carry the same verdict", async (t) => {
  const { app } = await testApp(t);
  const requester = randomWallet();
  const settings = { roundDeadlineSeconds: 1, minUpdates: 1 };
  const [strict, idle] = [await readyDraft(app, requester, { settings }), await readyDraft(app, requester, { settings, seed: 2 })];
  const extended = (jobId: number) => app.events.waitFor("round:extended", (e) => e.jobId === jobId);
  const [strictLate, idleLate] = [extended(1), extended(2)];
  await announceJob(app, { jobId: 1, requester: requester.address, modelHash: strict.modelHash!, rounds: 2, thresholdBps: 9900 });
  await announceJob(app, { jobId: 2, requester: requester.address, modelHash: idle.modelHash!, rounds: 2 });
  t.match((await app.inject("/api/job/1")).json().progress, { state: "running", round: 0 }, "a fresh job runs");

  const model = await app.inject("/api/job/1/model");
  const body = await trainUpdate(SMALL_SPEC, model.rawPayload, (await mnistIdxPair("train", 200)).data, 1, 0.1);
  const refused = await signedInject(app, randomWallet(), { method: "POST", url: "/api/job/1/update?round=0&numSamples=200", body });
  t.equal(refused.json().error, "BELOW_THRESHOLD");
  await Promise.all([strictLate, idleLate]);

  const status = (await app.inject("/api/job/1")).json().progress;
  t.match(status, { state: "stalled", reason: "below-threshold", round: 0, message: /Every update of round 0 \(1\) was refused below the threshold of 99\.00 %/, fix: /quackmesh job abort 1/ });
  t.same((await app.inject("/api/job/1/report")).json().progress, status, "the dashboard's report says the same");
  const list = (await app.inject("/api/jobs")).json().jobs as Array<{ jobId: number; progress: { reason: string } }>;
  t.same(list.map((j) => [j.jobId, j.progress.reason]), [[1, "below-threshold"], [2, "no-updates"]], "job list: each job's reason");
});
