// TrainingPool.abortJob: the requester stops a job early; committed money stays claimable, the
// free pool comes back at once but for a round budget per round the evaluator still has to commit.
import t from "tap";
import {
  DUCK,
  balanceOf,
  call,
  deploySystem,
  expectEvent,
  expectRevert,
  fixture,
  jobTerms,
  latestTime,
  randomHash,
  revertData,
  rewardsTree,
  signAttestation,
  signJobAborted,
  signJobFinished,
  signRoundCommitment,
  type RewardsTree,
  type Signer,
} from "./fixtures.js";

const POOL = 10n * DUCK;
const BUDGET = 2n * DUCK;
const ROUNDS = 5;

// Job 1: pool 10 DUCK, 2 DUCK a round, 5 rounds, no flat part. Job 2: the same with 1 DUCK flat per update.
const load = fixture(async () => {
  const s = await deploySystem();
  const [requester, evaluator, alice, bob, stranger] = s.users;
  const deadline = (await latestTime()) + 86_400n;
  const base = { roundBudget: BUDGET, maxPerContributor: BUDGET, rounds: ROUNDS, claimWindow: 3600n, accuracyThresholdBps: 0 };
  await call(s.training, requester).createTrainingJob(jobTerms(evaluator.address, deadline, { ...base, flatPerUpdate: 0n }));
  await call(s.training, requester).createTrainingJob(jobTerms(evaluator.address, deadline, { ...base, flatPerUpdate: DUCK }));
  return { s, requester, evaluator, alice, bob, stranger };
});
type Ctx = Awaited<ReturnType<typeof load>>;

async function commit(ctx: Ctx, jobId: bigint, round: number, tree: RewardsTree) {
  const c = { jobId, round, rewardsRoot: tree.root, updatesRoot: randomHash(`u${round}`), modelHash: randomHash(`m${round}`), total: tree.total };
  const sig = await signRoundCommitment(ctx.evaluator, ctx.s.training, c);
  return call(ctx.s.training, ctx.stranger).commitRound(jobId, round, c.rewardsRoot, c.updatesRoot, c.modelHash, c.total, tree.leaves, sig);
}

async function abort(ctx: Ctx, jobId: bigint, rounds: number, o: { from?: Signer; signer?: Signer; signedRounds?: number } = {}) {
  const sig = await signJobAborted(o.signer ?? ctx.evaluator, ctx.s.training, jobId, o.signedRounds ?? rounds);
  return call(ctx.s.training, o.from ?? ctx.requester).abortJob(jobId, rounds, sig);
}

async function submit(ctx: Ctx, who: Signer, jobId: bigint, round: number) {
  const a = { jobId, round, contributor: who.address, updateHash: randomHash(`${who.address}/${round}`), accuracyBps: 9000, numSamples: 10n };
  const sig = await signAttestation(ctx.evaluator, ctx.s.training, a);
  return call(ctx.s.training, who).submitUpdate(jobId, round, a.updateHash, a.accuracyBps, a.numSamples, sig);
}

t.test("stops after the round in progress, refunds the rest at once, keeps what is owed claimable", async (t) => {
  const ctx = await load();
  const { s, requester, alice, bob } = ctx;
  const round0 = rewardsTree(1n, 0, [[alice.address, 2n * DUCK]]);
  await commit(ctx, 1n, 0, round0);
  const before = await balanceOf(s, requester);
  // Round 1 is in progress: the evaluator's statement keeps 2 rounds; one budget (2 DUCK) stays for it.
  const tx = await abort(ctx, 1n, 2);
  await expectEvent(t, tx, s.training, "TrainingJobAborted", [1n, 2n, 6n * DUCK, BUDGET]);
  t.equal(await balanceOf(s, requester), before + 6n * DUCK, "free pool less one round budget refunded at once");
  let job = await s.training.getJob(1n);
  t.same([job.rounds, job.remaining, job.outstanding, job.finished], [2n, 4n * DUCK, 2n * DUCK, false]);

  await call(s.training, alice).claim(1n, 0, 0, 2n * DUCK, round0.proof(alice.address));
  t.equal(await balanceOf(s, alice) >= 2n * DUCK, true, "round 0's reward is still claimable after the abort");
  await expectRevert(t, submit(ctx, bob, 1n, 2), s.training, "RoundOutOfRange", [1n, 2n, 2n]);
  const round1 = rewardsTree(1n, 1, [[bob.address, (3n * DUCK) / 2n]]);
  await commit(ctx, 1n, 1, round1);
  const late = rewardsTree(1n, 2, [[bob.address, DUCK]]);
  await expectRevert(t, commit(ctx, 1n, 2, late), s.training, "RoundOutOfRange", [1n, 2n, 2n]);

  await call(s.training, bob).claim(1n, 1, 0, (3n * DUCK) / 2n, round1.proof(bob.address));
  const fin = await call(s.training, requester).finishJob(1n, await signJobFinished(ctx.evaluator, s.training, 1n));
  await expectEvent(t, fin, s.training, "TrainingJobFinished", [1n, DUCK / 2n]);
  job = await s.training.getJob(1n);
  t.same([job.remaining, job.outstanding, job.finished], [0n, 0n, true]);
  t.equal(6n * DUCK + DUCK / 2n + 2n * DUCK + (3n * DUCK) / 2n, POOL, "refunds + claims = the pool, to the wei");
});

t.test("finishes at once when every kept round is committed; the owed part stays claimable", async (t) => {
  const ctx = await load();
  const { s, requester, alice } = ctx;
  const round0 = rewardsTree(1n, 0, [[alice.address, 2n * DUCK]]);
  await commit(ctx, 1n, 0, round0);
  const before = await balanceOf(s, requester);
  const tx = await abort(ctx, 1n, 1);
  await expectEvent(t, tx, s.training, "TrainingJobAborted", [1n, 1n, 8n * DUCK, 0n]);
  await expectEvent(t, tx, s.training, "TrainingJobFinished", [1n, 0n]);
  t.equal(await balanceOf(s, requester), before + 8n * DUCK);
  t.equal((await s.training.getJob(1n)).finished, true);
  await call(s.training, alice).claim(1n, 0, 0, 2n * DUCK, round0.proof(alice.address));
  t.same([(await s.training.getJob(1n)).remaining], [0n], "alice was paid from what the abort kept");
  await expectRevert(t, abort(ctx, 1n, 1), s.training, "JobAlreadyFinished", [1n]);
});

t.test("a job that pays a flat part keeps its free pool until it finishes", async (t) => {
  const ctx = await load();
  const { s, requester, alice } = ctx;
  await submit(ctx, alice, 2n, 0);
  const before = await balanceOf(s, requester);
  const tx = await abort(ctx, 2n, 1);
  await expectEvent(t, tx, s.training, "TrainingJobAborted", [2n, 1n, 0n, 9n * DUCK]);
  t.equal(await balanceOf(s, requester), before, "nothing refunded yet");
  await commit(ctx, 2n, 0, rewardsTree(2n, 0, [[alice.address, 0n]]));
  const fin = await call(s.training, requester).finishJob(2n, await signJobFinished(ctx.evaluator, s.training, 2n));
  await expectEvent(t, fin, s.training, "TrainingJobFinished", [2n, 9n * DUCK]);
});

t.test("a repeated abort refunds only what became free since", async (t) => {
  const ctx = await load();
  const { s, alice } = ctx;
  await abort(ctx, 1n, 3);
  t.equal((await s.training.getJob(1n)).remaining, 3n * BUDGET, "three budgets kept");
  await commit(ctx, 1n, 0, rewardsTree(1n, 0, [[alice.address, DUCK]]));
  const tx = await abort(ctx, 1n, 3);
  // Free 5 DUCK, two rounds pending: 4 kept, 1 refunded.
  await expectEvent(t, tx, s.training, "TrainingJobAborted", [1n, 3n, DUCK, 2n * BUDGET]);
});

t.test("refuses strangers, cut commitments, more rounds and other signatures, changing nothing", async (t) => {
  const ctx = await load();
  const { s, requester, stranger, alice } = ctx;
  await commit(ctx, 1n, 0, rewardsTree(1n, 0, [[alice.address, DUCK]]));
  await commit(ctx, 1n, 1, rewardsTree(1n, 1, [[alice.address, DUCK]]));
  const tp = s.training;
  await expectRevert(t, abort(ctx, 1n, 3, { from: stranger }), tp, "NotRequester", [1n, stranger.address]);
  await expectRevert(t, abort(ctx, 1n, 1), tp, "InvalidAbortRounds", [1n, 1n, 2n, 5n]);
  await expectRevert(t, abort(ctx, 1n, 6), tp, "InvalidAbortRounds", [1n, 6n, 2n, 5n]);
  await expectRevert(t, abort(ctx, 1n, 3, { signer: stranger }), tp, "InvalidAbortSignature", [1n, stranger.address]);
  await expectRevert(t, call(tp, requester).abortJob(1n, 4, "0x"), tp, "InvalidAbortSignature", [1n, "0x0000000000000000000000000000000000000000"]);
  // A statement for 4 rounds does not abort after 3: the signer recovered is someone else.
  const sig = await signJobAborted(ctx.evaluator, tp, 1n, 4);
  const other = await call(tp, requester).abortJob(1n, 3, sig).catch((e: unknown) => e);
  t.equal(tp.interface.parseError(revertData(other) ?? "0x")?.name, "InvalidAbortSignature", "a statement signed for other rounds is refused");
  await expectRevert(t, abort(ctx, 99n, 1), tp, "UnknownJob", [99n]);
  const job = await tp.getJob(1n);
  t.same([job.rounds, job.remaining, job.finished], [5n, 10n * DUCK, false], "nothing changed");
});
