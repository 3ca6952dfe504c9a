// TrainingPool: escrowed reward pools; a flat part per attested update, and per-round rewards the
// evaluator commits as a Merkle root and contributors claim with proofs.
import t from "tap";
import {
  DUCK,
  balanceOf,
  call,
  deploySystem,
  ethers,
  eventsOf,
  expectEvent,
  expectRevert,
  fixture,
  increaseTime,
  jobTerms,
  latestTime,
  randomHash,
  recoverAttestation,
  recoverRoundCommitment,
  rewardsTree,
  setNextTime,
  signAttestation,
  signJobFinished,
  signRoundCommitment,
  termsTuple,
  timeOf,
  type Attestation,
  type JobTerms,
  type RewardsTree,
  type Signer,
} from "./fixtures.js";

const POOL = 10n * DUCK;
const BUDGET = 4n * DUCK;
const MAX = 3n * DUCK;
const FLAT = 1n * DUCK;
const ROUNDS = 3;
const THRESHOLD = 9000;
const WINDOW = 3600n;
const MODEL = randomHash("model");
const MAX128 = 2n ** 128n - 1n;
const MAX96 = 2n ** 96n - 1n;
const MAX40 = 2n ** 40n - 1n;
const MAX64 = 2n ** 64n - 1n;
const DAYS30 = 30n * 86_400n;

// One job: pool 10 DUCK, 4 DUCK per round, at most 3 DUCK per contributor and round, 1 DUCK flat per
// update, 3 rounds, 90 % threshold, deadline in one day, claim window of one hour.
const load = fixture(async () => {
  const s = await deploySystem();
  const [requester, evaluator, alice, bob, carol, stranger] = s.users;
  const deadline = (await latestTime()) + 86_400n;
  const terms = jobTerms(evaluator.address, deadline, {
    modelHash: MODEL,
    roundBudget: BUDGET,
    maxPerContributor: MAX,
    flatPerUpdate: FLAT,
    rounds: ROUNDS,
    accuracyThresholdBps: THRESHOLD,
    claimWindow: WINDOW,
  });
  await call(s.training, requester).createTrainingJob(terms);
  return { s, requester, evaluator, alice, bob, carol, stranger, jobId: 1n, deadline, terms };
});
type Ctx = Awaited<ReturnType<typeof load>>;

function attestation(contributor: string, round = 0, accuracyBps = 9500, jobId = 1n): Attestation {
  return { jobId, round, contributor, updateHash: randomHash(`${contributor}/${round}`), accuracyBps, numSamples: 600n };
}

async function submit(ctx: Ctx, who: Signer, round = 0, jobId = 1n) {
  const a = attestation(who.address, round, 9500, jobId);
  const sig = await signAttestation(ctx.evaluator, ctx.s.training, a);
  return call(ctx.s.training, who).submitUpdate(jobId, round, a.updateHash, a.accuracyBps, a.numSamples, sig);
}

interface CommitOptions { jobId?: bigint; total?: bigint; signer?: Signer; from?: Signer; updatesRoot?: string; modelHash?: string; leaves?: number }

/** Commits `tree` for `round` (total = the tree's total unless given), signed by the evaluator unless told. */
async function commit(ctx: Ctx, round: number, tree: RewardsTree, o: CommitOptions = {}) {
  const c = {
    jobId: o.jobId ?? ctx.jobId,
    round,
    rewardsRoot: tree.root,
    updatesRoot: o.updatesRoot ?? randomHash(`updates/${round}`),
    modelHash: o.modelHash ?? randomHash(`model/${round}`),
    total: o.total ?? tree.total,
  };
  const sig = await signRoundCommitment(o.signer ?? ctx.evaluator, ctx.s.training, c);
  return call(ctx.s.training, o.from ?? ctx.stranger).commitRound(c.jobId, c.round, c.rewardsRoot, c.updatesRoot, c.modelHash, c.total, o.leaves ?? tree.leaves, sig);
}

/** `who` claims its leaf of `tree` for `round`. */
function claimFrom(ctx: Ctx, who: Signer, round: number, tree: RewardsTree, jobId = ctx.jobId) {
  return call(ctx.s.training, who).claim(jobId, round, tree.index(who.address), tree.amount(who.address), tree.proof(who.address));
}

/** A tree of four leaves: alice 2, bob 1.5, carol 0.5, stranger 0 DUCK (total 4). */
function fourLeaves(ctx: Ctx, round: number, jobId = ctx.jobId): RewardsTree {
  return rewardsTree(jobId, round, [
    [ctx.alice.address, 2n * DUCK],
    [ctx.bob.address, (3n * DUCK) / 2n],
    [ctx.carol.address, DUCK / 2n],
    [ctx.stranger.address, 0n],
  ]);
}

t.test("shouldBehaveLikeJobCreation", async (t) => {
  t.test("escrows the pool and records the job", async (t) => {
    const { s, requester, evaluator } = await load();
    const deadline = (await latestTime()) + 1000n;
    const terms = jobTerms(evaluator.address, deadline, { modelHash: MODEL, roundBudget: 5n * DUCK, maxPerContributor: 2n * DUCK, flatPerUpdate: 0n, rounds: 2, accuracyThresholdBps: 5000, claimWindow: DAYS30 });
    const before = await balanceOf(s, requester);
    const tx = await call(s.training, requester).createTrainingJob(terms);
    await expectEvent(t, tx, s.training, "TrainingJobCreated", [2n, requester.address, MODEL, termsTuple(terms)]);
    t.equal(await balanceOf(s, requester), before - POOL, "requester paid the pool");
    t.equal(await balanceOf(s, s.training), 2n * POOL, "escrow holds both pools");
    const job = await s.training.getJob(2n);
    t.same(
      [job.requester, job.evaluator, job.modelHash, job.totalRewardPool, job.roundBudget, job.maxPerContributor, job.flatPerUpdate, job.remaining, job.outstanding, job.rounds, job.committedRounds, job.accuracyThresholdBps, job.deadline, job.claimWindow, job.lastCommitAt, job.finished],
      [requester.address, evaluator.address, MODEL, POOL, 5n * DUCK, 2n * DUCK, 0n, POOL, 0n, 2n, 0n, 5000n, deadline, DAYS30, 0n, false],
    );
    t.equal(await s.training.jobCount(), 2n, "job ids count up from 1");
    t.equal(await s.training.finishableAt(2n), MAX64, "not finishable by anyone before its rounds are committed");
  });

  t.test("accepts the edges: flat = budget = max = pool, threshold 10000, a 30-day window, the largest pool and round budget", async (t) => {
    const { s, requester, evaluator } = await load();
    const terms = jobTerms(evaluator.address, (await latestTime()) + 10n, { totalRewardPool: 1n, roundBudget: 1n, maxPerContributor: 1n, flatPerUpdate: 1n, accuracyThresholdBps: 10_000, claimWindow: DAYS30 });
    await call(s.training, requester).createTrainingJob(terms);
    const big = jobTerms(evaluator.address, (await latestTime()) + 10n, { totalRewardPool: MAX128, roundBudget: MAX96, maxPerContributor: MAX96 });
    const poor = s.users[9];
    await call(s.duck, s.owner).mint(poor.address, MAX128);
    await call(s.training, poor).createTrainingJob(big);
    t.same([(await s.training.getJob(3n)).remaining, (await s.training.getJob(3n)).roundBudget], [MAX128, MAX96], "a pool of 2^128 - 1, rounds of 2^96 - 1");
  });

  t.test("keeps a deadline past 2^40 - 1 as 2^40 - 1", async (t) => {
    const { s, requester, evaluator } = await load();
    const terms = jobTerms(evaluator.address, MAX64);
    const tx = await call(s.training, requester).createTrainingJob(terms);
    await expectEvent(t, tx, s.training, "TrainingJobCreated", [2n, requester.address, ethers.ZeroHash, termsTuple(terms)]);
    t.equal((await s.training.getJob(2n)).deadline, MAX40, "stored in 40 bits");
  });

  t.test("refuses bad terms with the offending values and changes nothing", async (t) => {
    const { s, requester, evaluator } = await load();
    const now = await latestTime();
    const base = jobTerms(evaluator.address, now + 1000n, { roundBudget: BUDGET, maxPerContributor: MAX });
    const create = (o: Partial<JobTerms>) => call(s.training, requester).createTrainingJob({ ...base, ...o });
    const tp = s.training;
    await expectRevert(t, create({ totalRewardPool: 0n }), tp, "InvalidRewardPool", [0n]);
    await expectRevert(t, create({ totalRewardPool: MAX128 + 1n }), tp, "InvalidRewardPool", [MAX128 + 1n]);
    await expectRevert(t, create({ roundBudget: 0n }), tp, "InvalidRoundBudget", [0n, POOL]);
    await expectRevert(t, create({ roundBudget: POOL + 1n }), tp, "InvalidRoundBudget", [POOL + 1n, POOL]);
    // A round's total and claims are kept in 96 bits each (79 billion DUCK).
    const huge = 2n ** 96n;
    await expectRevert(t, create({ totalRewardPool: huge, roundBudget: huge, maxPerContributor: DUCK }), tp, "InvalidRoundBudget", [huge, huge]);
    await expectRevert(t, create({ maxPerContributor: 0n }), tp, "InvalidMaxPerContributor", [0n, BUDGET]);
    await expectRevert(t, create({ maxPerContributor: BUDGET + 1n }), tp, "InvalidMaxPerContributor", [BUDGET + 1n, BUDGET]);
    await expectRevert(t, create({ flatPerUpdate: BUDGET + 1n }), tp, "InvalidFlatPerUpdate", [BUDGET + 1n, BUDGET]);
    await expectRevert(t, create({ rounds: 0 }), tp, "InvalidRounds", [0n]);
    await expectRevert(t, create({ accuracyThresholdBps: 10_001 }), tp, "InvalidThreshold", [10_001n]);
    await expectRevert(t, create({ evaluator: ethers.ZeroAddress }), tp, "InvalidEvaluator", [ethers.ZeroAddress]);
    await expectRevert(t, create({ claimWindow: DAYS30 + 1n }), tp, "InvalidClaimWindow", [DAYS30 + 1n, DAYS30]);
    await setNextTime(now + 50n);
    await expectRevert(t, create({ deadline: now + 50n }), tp, "InvalidDeadline", [now + 50n, now + 50n]);
    t.equal(await s.training.jobCount(), 1n, "no job was created");
  });

  t.test("refuses a requester without enough balance or allowance", async (t) => {
    const { s, evaluator } = await load();
    const poor = s.users[9];
    const terms = jobTerms(evaluator.address, (await latestTime()) + 1000n);
    await call(s.duck, poor).approve(await s.training.getAddress(), 3n);
    await expectRevert(t, call(s.training, poor).createTrainingJob(terms), s.training, "InsufficientFunds", [poor.address, POOL, 3n]);
  });
});

t.test("shouldBehaveLikeUpdateReceipts", async (t) => {
  t.test("records each update once and pays the flat part", async (t) => {
    const ctx = await load();
    const { s, evaluator, alice, bob, jobId } = ctx;
    for (const who of [alice, bob]) {
      const a = attestation(who.address);
      const sig = await signAttestation(evaluator, s.training, a);
      t.equal(await s.training.verifyProof(jobId, 0, who.address, a.updateHash, a.accuracyBps, a.numSamples, sig), true, "verifyProof accepts it");
      const before = await balanceOf(s, who);
      const tx = await call(s.training, who).submitUpdate(jobId, 0, a.updateHash, a.accuracyBps, a.numSamples, sig);
      await expectEvent(t, tx, s.training, "UpdateSubmitted", [jobId, 0n, who.address, a.updateHash, 9500n, 600n]);
      await expectEvent(t, tx, s.training, "RewardDistributed", [jobId, who.address, FLAT]);
      t.equal(await balanceOf(s, who), before + FLAT, "flat part paid");
      t.ok(await s.training.hasSubmitted(jobId, 0, who.address), "recorded");
    }
    t.equal((await s.training.getJob(jobId)).remaining, POOL - 2n * FLAT);
    t.equal(await balanceOf(s, s.training), POOL - 2n * FLAT);
  });

  t.test("pays only what is free: neither paid out nor committed", async (t) => {
    const ctx = await load();
    const { s, alice, bob, carol, jobId } = ctx;
    await commit(ctx, 0, rewardsTree(jobId, 0, [[alice.address, BUDGET]]));
    await commit(ctx, 1, rewardsTree(jobId, 1, [[alice.address, BUDGET]]));
    // 10 - 8 committed = 2 free: bob gets 1, carol 1, then nothing is free.
    await submit(ctx, bob, 2);
    await submit(ctx, carol, 2);
    const a = attestation(alice.address, 2);
    const sig = await signAttestation(ctx.evaluator, s.training, a);
    await expectRevert(t, call(s.training, alice).submitUpdate(jobId, 2, a.updateHash, 9500, 600n, sig), s.training, "PoolExhausted", [jobId]);
    const job = await s.training.getJob(jobId);
    t.same([job.remaining, job.outstanding], [2n * BUDGET, 2n * BUDGET], "what is left is exactly what is committed");
  });

  t.test("pays the rest when less than the flat part is free", async (t) => {
    const ctx = await load();
    const { s, alice, jobId } = ctx;
    await commit(ctx, 0, rewardsTree(jobId, 0, [[alice.address, BUDGET]]));
    await commit(ctx, 1, rewardsTree(jobId, 1, [[alice.address, BUDGET]]));
    await commit(ctx, 2, rewardsTree(jobId, 2, [[alice.address, DUCK + DUCK / 2n]]));
    const tx = await submit(ctx, ctx.bob, 2);
    await expectEvent(t, tx, s.training, "RewardDistributed", [jobId, ctx.bob.address, DUCK / 2n]);
  });

  t.test("a job without a flat part records updates, pays nothing and never runs out", async (t) => {
    const ctx = await load();
    const { s, requester, evaluator, alice, bob } = ctx;
    await call(s.training, requester).createTrainingJob(jobTerms(evaluator.address, ctx.deadline, { totalRewardPool: DUCK, rounds: 2 }));
    await commit(ctx, 0, rewardsTree(2n, 0, [[alice.address, DUCK]]), { jobId: 2n });
    const before = await balanceOf(s, bob);
    const tx = await submit(ctx, bob, 1, 2n);
    t.equal(await balanceOf(s, bob), before, "no payment");
    t.equal((await eventsOf(tx, s.training, "RewardDistributed")).length, 0, "no RewardDistributed");
    t.equal((await eventsOf(tx, s.duck, "Transfer")).length, 0, "no transfer");
    t.ok(await s.training.hasSubmitted(2n, 1, bob.address), "recorded though nothing is free");
  });

  t.test("keeps each round's submission mark apart, across 256-round words, and apart from claims", async (t) => {
    const ctx = await load();
    const { s, requester, evaluator, alice } = ctx;
    await call(s.training, requester).createTrainingJob(jobTerms(evaluator.address, ctx.deadline, { rounds: 600 }));
    const marked = [255, 256, 511, 512];
    for (const round of marked) await submit(ctx, alice, round, 2n);
    const tree = rewardsTree(2n, 256, [[alice.address, DUCK]]);
    await commit(ctx, 256, tree, { jobId: 2n });
    await claimFrom(ctx, alice, 256, tree, 2n);
    for (const round of [0, 254, 255, 256, 257, 510, 511, 512, 513, 599]) {
      t.equal(await s.training.hasSubmitted(2n, round, alice.address), marked.includes(round), `round ${round} submitted`);
      t.equal(await s.training.isClaimed(2n, round, 0), round === 256, `round ${round} leaf 0 claimed`);
    }
    await expectRevert(t, submit(ctx, alice, 512, 2n), s.training, "AlreadySubmitted", [2n, 512n, alice.address]);
    t.equal(await s.training.hasSubmitted(1n, 128, alice.address), false, "marks are per job");
  });

  t.test("refuses a duplicate, a late round and a low accuracy", async (t) => {
    const { s, evaluator, alice, jobId } = await load();
    const a = attestation(alice.address, 1);
    const sig = await signAttestation(evaluator, s.training, a);
    const send = () => call(s.training, alice).submitUpdate(jobId, 1, a.updateHash, a.accuracyBps, a.numSamples, sig);
    await send();
    await expectRevert(t, send(), s.training, "AlreadySubmitted", [jobId, 1n, alice.address]);
    const late = attestation(alice.address, ROUNDS);
    const lateSig = await signAttestation(evaluator, s.training, late);
    await expectRevert(t, call(s.training, alice).submitUpdate(jobId, ROUNDS, late.updateHash, 9500, 600n, lateSig), s.training, "RoundOutOfRange", [jobId, BigInt(ROUNDS), BigInt(ROUNDS)]);
    const low = attestation(alice.address, 2, THRESHOLD - 1);
    const lowSig = await signAttestation(evaluator, s.training, low);
    await expectRevert(t, call(s.training, alice).submitUpdate(jobId, 2, low.updateHash, low.accuracyBps, 600n, lowSig), s.training, "BelowThreshold", [jobId, BigInt(THRESHOLD - 1), BigInt(THRESHOLD)]);
    const exact = attestation(alice.address, 2, THRESHOLD);
    await call(s.training, alice).submitUpdate(jobId, 2, exact.updateHash, THRESHOLD, 600n, await signAttestation(evaluator, s.training, exact));
    t.ok(await s.training.hasSubmitted(jobId, 2, alice.address), "the threshold itself passes");
  });

  t.test("refuses attestations not signed by the evaluator or for someone else", async (t) => {
    const { s, evaluator, alice, bob, stranger, jobId } = await load();
    const a = attestation(alice.address);
    const forged = await signAttestation(stranger, s.training, a);
    await expectRevert(t, call(s.training, alice).submitUpdate(jobId, 0, a.updateHash, 9500, 600n, forged), s.training, "InvalidAttestation", [jobId, 0n, alice.address, stranger.address]);
    const sig = await signAttestation(evaluator, s.training, a);
    const stolen = call(s.training, bob).submitUpdate(jobId, 0, a.updateHash, 9500, 600n, sig);
    const recovered = await recoverAttestation(s.training, { ...a, contributor: bob.address }, sig);
    await expectRevert(t, stolen, s.training, "InvalidAttestation", [jobId, 0n, bob.address, recovered]);
    const altered = await recoverAttestation(s.training, { ...a, accuracyBps: 9501 }, sig);
    t.not(altered, evaluator.address, "a changed accuracy recovers someone else");
    await expectRevert(t, call(s.training, alice).submitUpdate(jobId, 0, a.updateHash, 9501, 600n, sig), s.training, "InvalidAttestation", [jobId, 0n, alice.address, altered]);
    await expectRevert(t, call(s.training, alice).submitUpdate(jobId, 0, a.updateHash, 9500, 600n, "0x1234"), s.training, "InvalidAttestation", [jobId, 0n, alice.address, ethers.ZeroAddress]);
    t.equal(await s.training.verifyProof(jobId, 0, bob.address, a.updateHash, 9500, 600n, sig), false, "verifyProof binds the contributor");
    t.equal(await s.training.verifyProof(7n, 0, alice.address, a.updateHash, 9500, 600n, sig), false, "verifyProof: unknown job");
    t.equal(await balanceOf(s, s.training), POOL, "nothing was paid");
  });

  t.test("refuses unknown, finished and expired jobs", async (t) => {
    const { s, requester, evaluator, alice, jobId, deadline } = await load();
    const a = attestation(alice.address);
    const sig = await signAttestation(evaluator, s.training, a);
    await expectRevert(t, call(s.training, alice).submitUpdate(5n, 0, a.updateHash, 9500, 600n, sig), s.training, "UnknownJob", [5n]);
    await setNextTime(deadline + 1n);
    await expectRevert(t, call(s.training, alice).submitUpdate(jobId, 0, a.updateHash, 9500, 600n, sig), s.training, "DeadlinePassed", [jobId, deadline]);
    await call(s.training, requester).finishJob(jobId, "0x");
    await expectRevert(t, call(s.training, alice).submitUpdate(jobId, 0, a.updateHash, 9500, 600n, sig), s.training, "JobAlreadyFinished", [jobId]);
  });

  t.test("accepts a submission at the deadline itself", async (t) => {
    const ctx = await load();
    await setNextTime(ctx.deadline);
    await submit(ctx, ctx.alice);
    t.equal(await balanceOf(ctx.s, ctx.s.training), POOL - FLAT);
  });
});

t.test("shouldBehaveLikeRoundCommitments", async (t) => {
  t.test("anyone sends the evaluator's commitment; it reserves the total", async (t) => {
    const ctx = await load();
    const { s, stranger, jobId } = ctx;
    const tree = fourLeaves(ctx, 1);
    const updatesRoot = randomHash("updates");
    const modelHash = randomHash("round model");
    const tx = await commit(ctx, 1, tree, { from: stranger, updatesRoot, modelHash });
    const at = await timeOf(tx);
    await expectEvent(t, tx, s.training, "RoundCommitted", [jobId, 1n, tree.root, updatesRoot, modelHash, BUDGET]);
    t.same([...(await s.training.getRoundCommitment(jobId, 1))], [tree.root, BUDGET, 0n], "root, total, nothing claimed");
    t.ok(await s.training.isRoundCommitted(jobId, 1));
    t.notOk(await s.training.isRoundCommitted(jobId, 0));
    t.same([...(await s.training.getRoundCommitment(jobId, 0))], [ethers.ZeroHash, 0n, 0n], "an uncommitted round is empty");
    const job = await s.training.getJob(jobId);
    t.same([job.remaining, job.outstanding, job.committedRounds, job.lastCommitAt], [POOL, BUDGET, 1n, at]);
    t.equal(await balanceOf(s, s.training), POOL, "no money moves");
  });

  t.test("commits a round that pays nothing, and the whole free pool", async (t) => {
    const ctx = await load();
    const { s, alice, jobId } = ctx;
    await commit(ctx, 0, rewardsTree(jobId, 0, [[alice.address, 0n]]));
    t.same([...(await s.training.getRoundCommitment(jobId, 0))].slice(1), [0n, 0n]);
    await commit(ctx, 1, rewardsTree(jobId, 1, [[alice.address, BUDGET]]));
    await submit(ctx, alice, 2);
    // free = 10 - 4 committed - 1 flat = 5, above the budget: the budget is the limit.
    const tree = rewardsTree(jobId, 2, [[alice.address, BUDGET]]);
    await expectRevert(t, commit(ctx, 2, tree, { total: BUDGET + 1n }), s.training, "CommitmentTooLarge", [jobId, 2n, BUDGET + 1n, BUDGET]);
    await commit(ctx, 2, tree);
    t.equal((await s.training.getJob(jobId)).committedRounds, 3n);
  });

  t.test("refuses a commitment above what is free", async (t) => {
    const ctx = await load();
    const { s, alice, jobId } = ctx;
    await commit(ctx, 0, rewardsTree(jobId, 0, [[alice.address, BUDGET]]));
    await commit(ctx, 1, rewardsTree(jobId, 1, [[alice.address, BUDGET]]));
    await submit(ctx, alice, 2);
    const free = POOL - 2n * BUDGET - FLAT;
    await expectRevert(t, commit(ctx, 2, rewardsTree(jobId, 2, [[alice.address, free + 1n]])), s.training, "CommitmentTooLarge", [jobId, 2n, free + 1n, free]);
    await commit(ctx, 2, rewardsTree(jobId, 2, [[alice.address, free]]));
    const job = await s.training.getJob(jobId);
    t.equal(job.outstanding, job.remaining, "everything left is committed");
  });

  t.test("refuses a second commitment, unknown jobs and rounds, a zero root and finished jobs", async (t) => {
    const ctx = await load();
    const { s, requester, jobId, deadline } = ctx;
    const tree = fourLeaves(ctx, 0);
    await expectRevert(t, commit(ctx, 0, tree, { jobId: 9n }), s.training, "UnknownJob", [9n]);
    await expectRevert(t, commit(ctx, ROUNDS, tree), s.training, "RoundOutOfRange", [jobId, BigInt(ROUNDS), BigInt(ROUNDS)]);
    await expectRevert(t, commit(ctx, 0, { ...tree, root: ethers.ZeroHash }), s.training, "ZeroRewardsRoot", [jobId, 0n]);
    await commit(ctx, 0, tree);
    await expectRevert(t, commit(ctx, 0, fourLeaves(ctx, 0), { total: 0n }), s.training, "RoundAlreadyCommitted", [jobId, 0n]);
    await setNextTime(deadline + 1n);
    await call(s.training, requester).finishJob(jobId, "0x");
    await expectRevert(t, commit(ctx, 1, fourLeaves(ctx, 1)), s.training, "JobAlreadyFinished", [jobId]);
  });

  t.test("refuses commitments not signed by the evaluator, or altered", async (t) => {
    const ctx = await load();
    const { s, stranger, jobId } = ctx;
    const tree = fourLeaves(ctx, 0);
    await expectRevert(t, commit(ctx, 0, tree, { signer: stranger }), s.training, "InvalidCommitmentSignature", [jobId, 0n, stranger.address]);
    const c = { jobId, round: 0, rewardsRoot: tree.root, updatesRoot: ethers.ZeroHash, modelHash: ethers.ZeroHash, total: tree.total };
    const sig = await signRoundCommitment(ctx.evaluator, s.training, c);
    const raised = await recoverRoundCommitment(s.training, { ...c, total: c.total + 1n }, sig);
    await expectRevert(t, call(s.training, stranger).commitRound(jobId, 0, c.rewardsRoot, c.updatesRoot, c.modelHash, c.total + 1n, 4, sig), s.training, "InvalidCommitmentSignature", [jobId, 0n, raised]);
    const moved = await recoverRoundCommitment(s.training, { ...c, round: 1 }, sig);
    await expectRevert(t, call(s.training, stranger).commitRound(jobId, 1, c.rewardsRoot, c.updatesRoot, c.modelHash, c.total, 4, sig), s.training, "InvalidCommitmentSignature", [jobId, 1n, moved]);
    await expectRevert(t, call(s.training, stranger).commitRound(jobId, 0, c.rewardsRoot, c.updatesRoot, c.modelHash, c.total, 4, "0x"), s.training, "InvalidCommitmentSignature", [jobId, 0n, ethers.ZeroAddress]);
    t.notOk(await s.training.isRoundCommitted(jobId, 0));
  });
});

t.test("shouldBehaveLikeMerkleClaims", async (t) => {
  t.test("each contributor claims its committed amount once, with a proof", async (t) => {
    const ctx = await load();
    const { s, alice, bob, carol, stranger, jobId } = ctx;
    await submit(ctx, alice, 0);
    const tree = fourLeaves(ctx, 0);
    await commit(ctx, 0, tree);
    let claimed = 0n;
    for (const who of [alice, bob, carol]) {
      const before = await balanceOf(s, who);
      const tx = await claimFrom(ctx, who, 0, tree);
      const amount = tree.amount(who.address);
      claimed += amount;
      await expectEvent(t, tx, s.training, "RewardClaimed", [jobId, 0n, who.address, amount]);
      t.equal(await balanceOf(s, who), before + amount, "paid the leaf's amount");
      t.ok(await s.training.isClaimed(jobId, 0, tree.index(who.address)));
      t.same([...(await s.training.getRoundCommitment(jobId, 0))].slice(1), [BUDGET, claimed]);
    }
    t.ok(await s.training.hasSubmitted(jobId, 0, alice.address), "a claim keeps the submission mark");
    const zero = await claimFrom(ctx, stranger, 0, tree);
    await expectEvent(t, zero, s.training, "RewardClaimed", [jobId, 0n, stranger.address, 0n]);
    t.equal((await eventsOf(zero, s.duck, "Transfer")).length, 0, "a zero leaf moves no token");
    const job = await s.training.getJob(jobId);
    t.same([job.remaining, job.outstanding], [POOL - FLAT - BUDGET, 0n]);
    t.equal(await balanceOf(s, s.training), POOL - FLAT - BUDGET);
  });

  t.test("a contributor may submit after claiming, and both marks stay", async (t) => {
    const ctx = await load();
    const tree = fourLeaves(ctx, 1);
    await commit(ctx, 1, tree);
    await claimFrom(ctx, ctx.bob, 1, tree);
    await submit(ctx, ctx.bob, 1);
    t.ok(await ctx.s.training.hasSubmitted(ctx.jobId, 1, ctx.bob.address));
    t.ok(await ctx.s.training.isClaimed(ctx.jobId, 1, tree.index(ctx.bob.address)));
    await expectRevert(t, claimFrom(ctx, ctx.bob, 1, tree), ctx.s.training, "AlreadyClaimed", [ctx.jobId, 1n, BigInt(tree.index(ctx.bob.address))]);
  });

  t.test("refuses a second claim, an uncommitted round, a wrong proof, amount or sender", async (t) => {
    const ctx = await load();
    const { s, alice, bob, stranger, jobId } = ctx;
    const tree = fourLeaves(ctx, 0);
    await expectRevert(t, claimFrom(ctx, alice, 0, tree), s.training, "RoundNotCommitted", [jobId, 0n]);
    await expectRevert(t, claimFrom(ctx, alice, 0, tree, 9n), s.training, "RoundNotCommitted", [9n, 0n]);
    await commit(ctx, 0, tree);
    const tp = s.training;
    const amount = tree.amount(alice.address);
    const proof = tree.proof(alice.address);
    const i = tree.index(alice.address);
    await expectRevert(t, call(tp, alice).claim(jobId, 0, i, amount + 1n, proof), tp, "InvalidProof", [jobId, 0n, alice.address, amount + 1n]);
    await expectRevert(t, call(tp, stranger).claim(jobId, 0, i, amount, proof), tp, "InvalidProof", [jobId, 0n, stranger.address, amount]);
    await expectRevert(t, call(tp, alice).claim(jobId, 0, i, amount, tree.proof(bob.address)), tp, "InvalidProof", [jobId, 0n, alice.address, amount]);
    await expectRevert(t, call(tp, alice).claim(jobId, 0, i, amount, []), tp, "InvalidProof", [jobId, 0n, alice.address, amount]);
    // The index is part of the leaf: alice's proof under bob's index (or any other) proves nothing.
    for (const other of [tree.index(bob.address), 64, 2 ** 32 - 1]) {
      await expectRevert(t, call(tp, alice).claim(jobId, 0, other, amount, proof), tp, "InvalidProof", [jobId, 0n, alice.address, amount]);
    }
    // The same amounts for round 1 are a different tree: a round-0 proof is no round-1 proof.
    await commit(ctx, 1, fourLeaves(ctx, 1));
    await expectRevert(t, call(tp, alice).claim(jobId, 1, i, amount, proof), tp, "InvalidProof", [jobId, 1n, alice.address, amount]);
    await claimFrom(ctx, alice, 0, tree);
    await expectRevert(t, claimFrom(ctx, alice, 0, tree), tp, "AlreadyClaimed", [jobId, 0n, BigInt(i)]);
    t.equal(await balanceOf(s, s.training), POOL - amount, "paid once");
    t.notOk(await tp.isClaimed(jobId, 0, tree.index(bob.address)), "bob's leaf is still unclaimed");
  });

  t.test("marks leaves past the 64 kept in the round's slot in bitmap words of 255, each leaf once, whatever leaf count the commit names", async (t) => {
    const ctx = await load();
    const { s, alice, bob, carol, stranger, jobId } = ctx;
    // 320 leaves: alice at 63 (the last kept in the round's slot), bob at 64 and carol at 318 (the
    // first and last leaf of the first bitmap word), the stranger at 319 (the next word); the rest
    // belong to nobody and pay 0.
    const owners = new Map<number, string>([[63, alice.address], [64, bob.address], [318, carol.address], [319, stranger.address]]);
    const tp = s.training;
    // The leaf count is an unsigned gas hint: the right one, none (no word prepared) and one too
    // large (words prepared that no leaf uses) mark and pay the same, in rounds 0, 1 and 2.
    for (const [round, hint] of [[0, 320], [1, 0], [2, 1000]]) {
      const leaves = Array.from({ length: 320 }, (_, i): [string, bigint] =>
        owners.has(i) ? [owners.get(i)!, DUCK / 4n] : [ethers.zeroPadValue(ethers.toBeHex(i + 1), 20), 0n]);
      const tree = rewardsTree(jobId, round, leaves);
      await commit(ctx, round, tree, { leaves: hint });
      t.equal(await tp.isClaimed(jobId, round, 64), false, `round ${round} (leaf count ${hint}): a prepared word marks no leaf`);
      for (const [i, who] of [[63, alice], [64, bob], [318, carol], [319, stranger]] as const) {
        t.equal(tree.index(who.address), i);
        await claimFrom(ctx, who, round, tree);
        await expectRevert(t, claimFrom(ctx, who, round, tree), tp, "AlreadyClaimed", [jobId, BigInt(round), BigInt(i)]);
      }
      for (const i of [0, 62, 63, 64, 65, 317, 318, 319, 320, 573, 574, 999]) t.equal(await tp.isClaimed(jobId, round, i), owners.has(i), `round ${round}, leaf ${i}`);
      t.same([...(await tp.getRoundCommitment(jobId, round))].slice(1), [DUCK, DUCK], `round ${round}: four quarters claimed`);
    }
  });

  t.test("never pays more than the per-contributor maximum or the committed total", async (t) => {
    const ctx = await load();
    const { s, alice, bob, carol, jobId } = ctx;
    // A faulty evaluator signs leaves adding up to 6 DUCK under a 4 DUCK total, one of them above the maximum.
    const tree = rewardsTree(jobId, 0, [[alice.address, MAX + 1n], [bob.address, 3n * DUCK], [carol.address, 2n * DUCK], [ctx.stranger.address, DUCK]]);
    await commit(ctx, 0, tree, { total: BUDGET });
    await expectRevert(t, claimFrom(ctx, alice, 0, tree), s.training, "ClaimAboveMaximum", [jobId, MAX + 1n, MAX]);
    await claimFrom(ctx, bob, 0, tree);
    await expectRevert(t, claimFrom(ctx, carol, 0, tree), s.training, "ClaimExceedsCommitment", [jobId, 0n, 2n * DUCK, DUCK]);
    await claimFrom(ctx, ctx.stranger, 0, tree);
    t.same([...(await s.training.getRoundCommitment(jobId, 0))].slice(1), [BUDGET, BUDGET], "the round paid exactly its total");
    t.equal((await s.training.getJob(jobId)).outstanding, 0n);
  });

  t.test("committed amounts stay claimable after the job finished", async (t) => {
    const ctx = await load();
    const { s, requester, alice, bob, jobId, deadline } = ctx;
    const tree = fourLeaves(ctx, 0);
    await commit(ctx, 0, tree);
    await claimFrom(ctx, alice, 0, tree);
    await setNextTime(deadline + 1n);
    const before = await balanceOf(s, requester);
    const tx = await call(s.training, requester).finishJob(jobId, "0x");
    const outstanding = BUDGET - tree.amount(alice.address);
    await expectEvent(t, tx, s.training, "TrainingJobFinished", [jobId, POOL - BUDGET]);
    t.equal(await balanceOf(s, requester), before + POOL - BUDGET, "only the uncommitted part is refunded");
    t.equal(await balanceOf(s, s.training), outstanding, "the unclaimed commitment stays");
    await increaseTime(365n * 86_400n);
    await claimFrom(ctx, bob, 0, tree);
    await claimFrom(ctx, ctx.carol, 0, tree);
    t.equal(await balanceOf(s, s.training), 0n, "everything committed was paid out");
    const job = await s.training.getJob(jobId);
    t.same([job.finished, job.remaining, job.outstanding], [true, 0n, 0n]);
    await expectRevert(t, call(s.training, requester).finishJob(jobId, "0x"), s.training, "JobAlreadyFinished", [jobId]);
  });
});

t.test("shouldBehaveLikeRefundableEscrow", async (t) => {
  t.test("a stranger with the finish signature waits for every round and the claim window", async (t) => {
    const ctx = await load();
    const { s, requester, evaluator, stranger, jobId } = ctx;
    const sig = await signJobFinished(evaluator, s.training, jobId);
    await expectRevert(t, call(s.training, stranger).finishJob(jobId, sig), s.training, "RoundsNotCommitted", [jobId, 0n, BigInt(ROUNDS)]);
    const tree = fourLeaves(ctx, 0);
    await commit(ctx, 0, tree);
    await commit(ctx, 1, rewardsTree(jobId, 1, [[ctx.alice.address, DUCK]]));
    await expectRevert(t, call(s.training, stranger).finishJob(jobId, sig), s.training, "RoundsNotCommitted", [jobId, 2n, BigInt(ROUNDS)]);
    t.equal(await s.training.finishableAt(jobId), MAX64);
    const last = await commit(ctx, 2, rewardsTree(jobId, 2, [[ctx.bob.address, DUCK]]));
    const closesAt = (await timeOf(last)) + WINDOW;
    t.equal(await s.training.finishableAt(jobId), closesAt, "finishable once the window after the last commitment closed");
    await claimFrom(ctx, ctx.alice, 0, tree);
    // Contributors still claim inside the window: nobody can cut it short while something is unclaimed.
    // (Hardhat mines reverted transactions too, so each one gets its own timestamp.)
    await setNextTime(closesAt - 2n);
    await expectRevert(t, call(s.training, stranger).finishJob(jobId, sig), s.training, "ClaimWindowOpen", [jobId, closesAt]);
    await setNextTime(closesAt - 1n);
    await expectRevert(t, call(s.training, requester).finishJob(jobId, sig), s.training, "ClaimWindowOpen", [jobId, closesAt]);
    await setNextTime(closesAt);
    const before = await balanceOf(s, requester);
    const tx = await call(s.training, stranger).finishJob(jobId, sig);
    const committed = BUDGET + 2n * DUCK;
    await expectEvent(t, tx, s.training, "TrainingJobFinished", [jobId, POOL - committed]);
    t.equal(await balanceOf(s, requester), before + POOL - committed, "refund to the requester, not the caller");
    const job = await s.training.getJob(jobId);
    const outstanding = committed - tree.amount(ctx.alice.address);
    t.same([job.finished, job.remaining, job.outstanding], [true, outstanding, outstanding]);
    await claimFrom(ctx, ctx.bob, 0, tree);
    t.equal(await balanceOf(s, s.training), outstanding - tree.amount(ctx.bob.address), "claims go on after the finish");
  });

  t.test("the requester with the signature finishes at once when nothing committed is unclaimed", async (t) => {
    const ctx = await load();
    const { s, requester, evaluator, alice, jobId } = ctx;
    const sig = await signJobFinished(evaluator, s.training, jobId);
    const tree = rewardsTree(jobId, 0, [[alice.address, DUCK]]);
    await commit(ctx, 0, tree);
    await expectRevert(t, call(s.training, requester).finishJob(jobId, sig), s.training, "RoundsNotCommitted", [jobId, 1n, BigInt(ROUNDS)]);
    await claimFrom(ctx, alice, 0, tree);
    await expectRevert(t, call(s.training, ctx.stranger).finishJob(jobId, sig), s.training, "RoundsNotCommitted", [jobId, 1n, BigInt(ROUNDS)]);
    const tx = await call(s.training, requester).finishJob(jobId, sig);
    await expectEvent(t, tx, s.training, "TrainingJobFinished", [jobId, POOL - DUCK]);
    t.equal(await balanceOf(s, s.training), 0n);
  });

  t.test("the requester reclaims the uncommitted rest after the deadline without a signature; others cannot", async (t) => {
    const ctx = await load();
    const { s, requester, stranger, jobId } = ctx;
    await submit(ctx, ctx.alice, 0);
    await commit(ctx, 0, fourLeaves(ctx, 0));
    await increaseTime(86_401);
    await expectRevert(t, call(s.training, stranger).finishJob(jobId, "0x"), s.training, "NotRequester", [jobId, stranger.address]);
    const before = await balanceOf(s, requester);
    await call(s.training, requester).finishJob(jobId, "0x");
    t.equal(await balanceOf(s, requester), before + POOL - FLAT - BUDGET);
    t.equal(await balanceOf(s, s.training), BUDGET, "the commitment stays");
  });

  t.test("never refunds while running", async (t) => {
    const { s, requester, stranger, jobId, deadline } = await load();
    await setNextTime(deadline);
    await expectRevert(t, call(s.training, requester).finishJob(jobId, "0x"), s.training, "JobStillRunning", [jobId, deadline]);
    const forged = await signJobFinished(stranger, s.training, jobId);
    await expectRevert(t, call(s.training, requester).finishJob(jobId, forged), s.training, "InvalidFinishSignature", [jobId, stranger.address]);
    await expectRevert(t, call(s.training, requester).finishJob(9n, "0x"), s.training, "UnknownJob", [9n]);
    t.equal(await balanceOf(s, s.training), POOL, "escrow intact");
  });

  t.test("finishing a pool that is all paid out or committed transfers nothing", async (t) => {
    const ctx = await load();
    const { s, evaluator, jobId } = ctx;
    const trees = [0, 1].map((round) => rewardsTree(jobId, round, [[ctx.alice.address, BUDGET]]));
    for (const [round, tree] of trees.entries()) await commit(ctx, round, tree);
    await submit(ctx, ctx.bob, 2);
    await submit(ctx, ctx.carol, 2);
    const last = await commit(ctx, 2, rewardsTree(jobId, 2, [[ctx.alice.address, 0n]]));
    t.equal(await s.training.finishableAt(jobId), (await timeOf(last)) + WINDOW);
    await setNextTime((await timeOf(last)) + WINDOW);
    const tx = await call(s.training, ctx.stranger).finishJob(jobId, await signJobFinished(evaluator, s.training, jobId));
    await expectEvent(t, tx, s.training, "TrainingJobFinished", [jobId, 0n]);
    t.equal((await eventsOf(tx, s.duck, "Transfer")).length, 0, "no zero transfer");
    await expectRevert(t, commit(ctx, 0, fourLeaves(ctx, 0)), s.training, "JobAlreadyFinished", [jobId]);
  });
});

t.test("views", async (t) => {
  const { s, jobId } = await load();
  const { chainId } = await ethers.provider.getNetwork();
  const expected = ethers.TypedDataEncoder.hashDomain({ name: "QuackMesh TrainingPool", version: "1", chainId, verifyingContract: await s.training.getAddress() });
  t.equal(await s.training.domainSeparator(), expected, "EIP-712 domain as agreed");
  t.equal(await s.training.duck(), await s.duck.getAddress());
  t.equal(await s.training.hasSubmitted(jobId, 0, s.users[0].address), false);
  t.equal(await s.training.isClaimed(jobId, 0, 0), false);
  t.equal(await s.training.isClaimed(jobId, 0, 2 ** 32 - 1), false);
  t.equal(await s.training.isRoundCommitted(7n, 0), false);
  await expectRevert(t, s.training.getJob(0n), s.training, "UnknownJob", [0n]);
  await expectRevert(t, s.training.getRoundCommitment(0n, 0), s.training, "UnknownJob", [0n]);
  await expectRevert(t, s.training.finishableAt(0n), s.training, "UnknownJob", [0n]);
});
