// TrainingPool: escrowed reward pools paid per evaluator-attested update.
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
  latestTime,
  randomHash,
  recoverAttestation,
  setNextTime,
  signAttestation,
  signJobFinished,
  type Attestation,
} from "./fixtures.js";

const POOL = 10n * DUCK;
const REWARD = 4n * DUCK;
const ROUNDS = 3;
const THRESHOLD = 9000;
const MODEL = randomHash("model");
const MAX128 = 2n ** 128n - 1n;

// One job: pool 10 DUCK, 4 DUCK per update, 3 rounds, 90 % threshold, deadline in one day.
const load = fixture(async () => {
  const s = await deploySystem();
  const [requester, evaluator, alice, bob, carol, stranger] = s.users;
  const deadline = (await latestTime()) + 86_400n;
  await call(s.training, requester).createTrainingJob(MODEL, POOL, REWARD, ROUNDS, THRESHOLD, evaluator.address, deadline);
  return { s, requester, evaluator, alice, bob, carol, stranger, jobId: 1n, deadline };
});

function attestation(contributor: string, round = 0, accuracyBps = 9500): Attestation {
  return { jobId: 1n, round, contributor, updateHash: randomHash(`${contributor}/${round}`), accuracyBps, numSamples: 600n };
}

t.test("shouldBehaveLikeJobCreation", async (t) => {
  t.test("escrows the pool and records the job", async (t) => {
    const { s, requester, evaluator } = await load();
    const deadline = (await latestTime()) + 1000n;
    const before = await balanceOf(s, requester);
    const tx = await call(s.training, requester).createTrainingJob(MODEL, POOL, REWARD, 2, 5000, evaluator.address, deadline);
    await expectEvent(t, tx, s.training, "TrainingJobCreated", [2n, requester.address, MODEL, evaluator.address, POOL, REWARD, 2n, 5000n, deadline]);
    t.equal(await balanceOf(s, requester), before - POOL, "requester paid the pool");
    t.equal(await balanceOf(s, s.training), 2n * POOL, "escrow holds both pools");
    const job = await s.training.getJob(2n);
    t.same(
      [job.requester, job.evaluator, job.modelHash, job.totalRewardPool, job.rewardPerUpdate, job.remaining, job.rounds, job.accuracyThresholdBps, job.deadline, job.finished],
      [requester.address, evaluator.address, MODEL, POOL, REWARD, POOL, 2n, 5000n, deadline, false],
    );
    t.equal(await s.training.jobCount(), 2n, "job ids count up from 1");
  });

  t.test("refuses bad parameters and changes nothing", async (t) => {
    const { s, requester, evaluator } = await load();
    const now = await latestTime();
    const d = now + 1000n;
    const tp = call(s.training, requester);
    const e = evaluator.address;
    await expectRevert(t, tp.createTrainingJob(MODEL, 0n, 0n, 1, 0, e, d), s.training, "InvalidRewards", [0n, 0n]);
    await expectRevert(t, tp.createTrainingJob(MODEL, POOL, 0n, 1, 0, e, d), s.training, "InvalidRewards", [POOL, 0n]);
    await expectRevert(t, tp.createTrainingJob(MODEL, POOL, POOL + 1n, 1, 0, e, d), s.training, "InvalidRewards", [POOL, POOL + 1n]);
    await expectRevert(t, tp.createTrainingJob(MODEL, MAX128 + 1n, 1n, 1, 0, e, d), s.training, "InvalidRewards", [MAX128 + 1n, 1n]);
    await expectRevert(t, tp.createTrainingJob(MODEL, POOL, REWARD, 0, 0, e, d), s.training, "InvalidRounds", [0n]);
    await expectRevert(t, tp.createTrainingJob(MODEL, POOL, REWARD, 1, 10_001, e, d), s.training, "InvalidThreshold", [10_001n]);
    await expectRevert(t, tp.createTrainingJob(MODEL, POOL, REWARD, 1, 0, ethers.ZeroAddress, d), s.training, "InvalidEvaluator", [ethers.ZeroAddress]);
    await setNextTime(now + 50n);
    await expectRevert(t, tp.createTrainingJob(MODEL, POOL, REWARD, 1, 0, e, now + 50n), s.training, "InvalidDeadline", [now + 50n, now + 50n]);
    t.equal(await s.training.jobCount(), 1n, "no job was created");
  });

  t.test("refuses a requester without enough balance or allowance", async (t) => {
    const { s, evaluator } = await load();
    const poor = s.users[9];
    const d = (await latestTime()) + 1000n;
    await call(s.duck, poor).approve(await s.training.getAddress(), 3n);
    await expectRevert(t, call(s.training, poor).createTrainingJob(MODEL, POOL, REWARD, 1, 0, evaluator.address, d), s.training, "InsufficientFunds", [poor.address, POOL, 3n]);
  });
});

t.test("shouldBehaveLikeAttestedRewards", async (t) => {
  t.test("pays min(rewardPerUpdate, remaining) once per contributor and round", async (t) => {
    const { s, evaluator, alice, bob, carol, jobId } = await load();
    const paid: bigint[] = [];
    for (const who of [alice, bob, carol]) {
      const a = attestation(who.address);
      const sig = await signAttestation(evaluator, s.training, a);
      t.equal(await s.training.verifyProof(jobId, 0, who.address, a.updateHash, a.accuracyBps, a.numSamples, sig), true, "verifyProof accepts it");
      const before = await balanceOf(s, who);
      const tx = await call(s.training, who).submitUpdate(jobId, 0, a.updateHash, a.accuracyBps, a.numSamples, sig);
      await expectEvent(t, tx, s.training, "UpdateSubmitted", [jobId, 0n, who.address, a.updateHash, 9500n, 600n]);
      const reward = (await balanceOf(s, who)) - before;
      await expectEvent(t, tx, s.training, "RewardDistributed", [jobId, who.address, reward]);
      t.ok(await s.training.hasSubmitted(jobId, 0, who.address), "recorded");
      paid.push(reward);
    }
    t.same(paid, [REWARD, REWARD, POOL - 2n * REWARD], "the last one gets what remains");
    t.equal((await s.training.getJob(jobId)).remaining, 0n);
    t.equal(await balanceOf(s, s.training), 0n);
    const a = attestation(alice.address, 1);
    const sig = await signAttestation(evaluator, s.training, a);
    await expectRevert(t, call(s.training, alice).submitUpdate(jobId, 1, a.updateHash, a.accuracyBps, a.numSamples, sig), s.training, "PoolExhausted", [jobId]);
  });

  t.test("refuses a duplicate, a late round and a low accuracy", async (t) => {
    const { s, evaluator, alice, jobId } = await load();
    const a = attestation(alice.address, 1);
    const sig = await signAttestation(evaluator, s.training, a);
    const submit = () => call(s.training, alice).submitUpdate(jobId, 1, a.updateHash, a.accuracyBps, a.numSamples, sig);
    await submit();
    await expectRevert(t, submit(), s.training, "AlreadySubmitted", [jobId, 1n, alice.address]);
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
    t.equal(await balanceOf(s, s.training), 10n * DUCK, "nothing was paid");
  });

  t.test("refuses unknown, finished and expired jobs", async (t) => {
    const { s, evaluator, alice, jobId, deadline } = await load();
    const a = attestation(alice.address);
    const sig = await signAttestation(evaluator, s.training, a);
    await expectRevert(t, call(s.training, alice).submitUpdate(5n, 0, a.updateHash, 9500, 600n, sig), s.training, "UnknownJob", [5n]);
    await setNextTime(deadline + 1n);
    await expectRevert(t, call(s.training, alice).submitUpdate(jobId, 0, a.updateHash, 9500, 600n, sig), s.training, "DeadlinePassed", [jobId, deadline]);
    await call(s.training, alice).finishJob(jobId, await signJobFinished(evaluator, s.training, jobId));
    await expectRevert(t, call(s.training, alice).submitUpdate(jobId, 0, a.updateHash, 9500, 600n, sig), s.training, "JobAlreadyFinished", [jobId]);
  });

  t.test("accepts a submission at the deadline itself", async (t) => {
    const { s, evaluator, alice, jobId, deadline } = await load();
    const a = attestation(alice.address);
    await setNextTime(deadline);
    await call(s.training, alice).submitUpdate(jobId, 0, a.updateHash, 9500, 600n, await signAttestation(evaluator, s.training, a));
    t.equal(await balanceOf(s, s.training), POOL - REWARD);
  });
});

t.test("shouldBehaveLikeRefundableEscrow", async (t) => {
  t.test("anyone with the evaluator's JobFinished signature finishes; the rest goes to the requester", async (t) => {
    const { s, requester, evaluator, alice, stranger, jobId } = await load();
    const a = attestation(alice.address);
    await call(s.training, alice).submitUpdate(jobId, 0, a.updateHash, 9500, 600n, await signAttestation(evaluator, s.training, a));
    const before = await balanceOf(s, requester);
    const tx = await call(s.training, stranger).finishJob(jobId, await signJobFinished(evaluator, s.training, jobId));
    await expectEvent(t, tx, s.training, "TrainingJobFinished", [jobId, POOL - REWARD]);
    t.equal(await balanceOf(s, requester), before + POOL - REWARD, "refund to the requester, not the caller");
    const job = await s.training.getJob(jobId);
    t.same([job.finished, job.remaining], [true, 0n]);
    await expectRevert(t, call(s.training, requester).finishJob(jobId, "0x"), s.training, "JobAlreadyFinished", [jobId]);
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

  t.test("the requester reclaims after the deadline without a signature; others cannot", async (t) => {
    const { s, requester, stranger, jobId } = await load();
    await increaseTime(86_401);
    await expectRevert(t, call(s.training, stranger).finishJob(jobId, "0x"), s.training, "NotRequester", [jobId, stranger.address]);
    const before = await balanceOf(s, requester);
    await call(s.training, requester).finishJob(jobId, "0x");
    t.equal(await balanceOf(s, requester), before + POOL);
  });

  t.test("finishing an exhausted pool refunds nothing and transfers nothing", async (t) => {
    const { s, requester, evaluator, alice, bob, carol, jobId } = await load();
    for (const who of [alice, bob, carol]) {
      const a = attestation(who.address);
      await call(s.training, who).submitUpdate(jobId, 0, a.updateHash, 9500, 600n, await signAttestation(evaluator, s.training, a));
    }
    const tx = await call(s.training, requester).finishJob(jobId, await signJobFinished(evaluator, s.training, jobId));
    await expectEvent(t, tx, s.training, "TrainingJobFinished", [jobId, 0n]);
    t.equal((await eventsOf(tx, s.duck, "Transfer")).length, 0, "no zero transfer");
  });
});

t.test("views", async (t) => {
  const { s, jobId } = await load();
  const { chainId } = await ethers.provider.getNetwork();
  const expected = ethers.TypedDataEncoder.hashDomain({ name: "QuackMesh TrainingPool", version: "1", chainId, verifyingContract: await s.training.getAddress() });
  t.equal(await s.training.domainSeparator(), expected, "EIP-712 domain as agreed");
  t.equal(await s.training.duck(), await s.duck.getAddress());
  t.equal(await s.training.hasSubmitted(jobId, 0, s.users[0].address), false);
  await expectRevert(t, s.training.getJob(0n), s.training, "UnknownJob", [0n]);
});
