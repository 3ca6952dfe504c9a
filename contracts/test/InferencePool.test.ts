// InferencePool: escrow of maxPayment, settled once against the orchestrator's signed usage.
import t from "tap";
import {
  DUCK,
  balanceOf,
  call,
  deploySystem,
  ethers,
  expectEvent,
  expectRevert,
  fixture,
  increaseTime,
  randomHash,
  setNextTime,
  signUsage,
  timeOf,
} from "./fixtures.js";

const MAX = 100n * DUCK;
const MODEL = randomHash("llm");
const MAX128 = 2n ** 128n - 1n;
const DAY = 86_400n;

// One job escrowing 100 DUCK, settled by `orchestrator`.
const load = fixture(async () => {
  const s = await deploySystem();
  const [requester, orchestrator, p1, p2, p3, stranger] = s.users;
  await call(s.inference, requester).createInferenceJob(MODEL, MAX, orchestrator.address);
  return { s, requester, orchestrator, p1, p2, p3, stranger, jobId: 1n };
});

t.test("shouldBehaveLikeInferenceEscrow", async (t) => {
  t.test("creates a job and escrows maxPayment", async (t) => {
    const { s, requester, orchestrator } = await load();
    const before = await balanceOf(s, requester);
    const tx = await call(s.inference, requester).createInferenceJob(MODEL, 5n, orchestrator.address);
    await expectEvent(t, tx, s.inference, "InferenceJobCreated", [2n, requester.address, MODEL, 5n, orchestrator.address]);
    t.equal(await balanceOf(s, requester), before - 5n);
    const job = await s.inference.getInferenceJob(2n);
    t.same(
      [job.requester, job.orchestrator, job.modelHash, job.maxPayment, job.paid, job.settled],
      [requester.address, orchestrator.address, MODEL, 5n, 0n, false],
    );
    t.equal(await s.inference.jobCount(), 2n);
  });

  t.test("refuses bad parameters and short funds", async (t) => {
    const { s, requester, orchestrator } = await load();
    const ip = call(s.inference, requester);
    await expectRevert(t, ip.createInferenceJob(MODEL, 0n, orchestrator.address), s.inference, "InvalidPayment", [0n]);
    await expectRevert(t, ip.createInferenceJob(MODEL, MAX128 + 1n, orchestrator.address), s.inference, "InvalidPayment", [MAX128 + 1n]);
    await expectRevert(t, ip.createInferenceJob(MODEL, 1n, ethers.ZeroAddress), s.inference, "InvalidOrchestrator", [ethers.ZeroAddress]);
    const poor = s.users[9];
    await call(s.duck, poor).approve(await s.inference.getAddress(), 0n);
    await expectRevert(t, call(s.inference, poor).createInferenceJob(MODEL, 1n, orchestrator.address), s.inference, "InsufficientFunds", [poor.address, 1n, 0n]);
    t.equal(await s.inference.jobCount(), 1n);
  });
});

t.test("shouldBehaveLikeSettlement", async (t) => {
  t.test("pays each provider its amount and refunds the rest, once", async (t) => {
    const { s, requester, orchestrator, p1, p2, p3, stranger, jobId } = await load();
    const usage = { jobId, providers: [p1.address, p2.address, p3.address], amounts: [30n * DUCK, 0n, 25n * DUCK] };
    const sig = await signUsage(orchestrator, s.inference, usage);
    const before = await Promise.all([p1, p2, p3, requester].map((a) => balanceOf(s, a)));
    const tx = await call(s.inference, stranger).settle(jobId, usage.providers, usage.amounts, sig);
    await expectEvent(t, tx, s.inference, "InferenceSettled", [jobId, 55n * DUCK, 45n * DUCK]);
    const after = await Promise.all([p1, p2, p3, requester].map((a) => balanceOf(s, a)));
    t.same(after.map((b, i) => b - before[i]), [30n * DUCK, 0n, 25n * DUCK, 45n * DUCK]);
    t.equal(await balanceOf(s, s.inference), 0n);
    const job = await s.inference.getInferenceJob(jobId);
    t.same([job.paid, job.settled], [55n * DUCK, true]);
    await expectRevert(t, call(s.inference, stranger).settle(jobId, usage.providers, usage.amounts, sig), s.inference, "AlreadySettled", [jobId]);
  });

  t.test("settles an unused job with a full refund, and a fully used one with none", async (t) => {
    const { s, requester, orchestrator, p1, jobId } = await load();
    const empty = { jobId, providers: [] as string[], amounts: [] as bigint[] };
    const before = await balanceOf(s, requester);
    const tx = await call(s.inference, p1).settle(jobId, [], [], await signUsage(orchestrator, s.inference, empty));
    await expectEvent(t, tx, s.inference, "InferenceSettled", [jobId, 0n, MAX]);
    t.equal(await balanceOf(s, requester), before + MAX);
    await call(s.inference, requester).createInferenceJob(MODEL, MAX, orchestrator.address);
    const full = { jobId: 2n, providers: [p1.address], amounts: [MAX] };
    const tx2 = await call(s.inference, p1).settle(2n, full.providers, full.amounts, await signUsage(orchestrator, s.inference, full));
    await expectEvent(t, tx2, s.inference, "InferenceSettled", [2n, MAX, 0n]);
  });

  t.test("refuses malformed or overspending usage", async (t) => {
    const { s, orchestrator, p1, p2, jobId } = await load();
    const ip = call(s.inference, p1);
    await expectRevert(t, ip.settle(jobId, [p1.address], [1n, 2n], "0x"), s.inference, "LengthMismatch", [1n, 2n]);
    await expectRevert(t, ip.settle(jobId, [p1.address, ethers.ZeroAddress], [1n, 2n], "0x"), s.inference, "InvalidProvider", [1n, ethers.ZeroAddress]);
    await expectRevert(t, ip.settle(jobId, [p1.address], [MAX + 1n], "0x"), s.inference, "PaymentExceedsMax", [jobId, MAX + 1n, MAX]);
    const over = { jobId, providers: [p1.address, p2.address], amounts: [60n * DUCK, 41n * DUCK] };
    const sig = await signUsage(orchestrator, s.inference, over);
    await expectRevert(t, ip.settle(jobId, over.providers, over.amounts, sig), s.inference, "PaymentExceedsMax", [jobId, 101n * DUCK, MAX]);
    await expectRevert(t, ip.settle(3n, [], [], "0x"), s.inference, "UnknownJob", [3n]);
  });

  t.test("refuses usage not signed by the job's orchestrator or altered after signing", async (t) => {
    const { s, orchestrator, p1, p2, stranger, jobId } = await load();
    const usage = { jobId, providers: [p1.address], amounts: [10n * DUCK] };
    const forged = await signUsage(stranger, s.inference, usage);
    await expectRevert(t, call(s.inference, p1).settle(jobId, usage.providers, usage.amounts, forged), s.inference, "InvalidUsageSignature", [jobId, stranger.address]);
    const sig = await signUsage(orchestrator, s.inference, usage);
    const altered = { jobId, providers: [p2.address], amounts: [10n * DUCK] };
    const { chainId } = await ethers.provider.getNetwork();
    const recovered = ethers.verifyTypedData(
      { name: "QuackMesh InferencePool", version: "1", chainId, verifyingContract: await s.inference.getAddress() },
      { Usage: [{ name: "jobId", type: "uint256" }, { name: "providers", type: "address[]" }, { name: "amounts", type: "uint256[]" }] },
      altered,
      sig,
    );
    await expectRevert(t, call(s.inference, p2).settle(jobId, altered.providers, altered.amounts, sig), s.inference, "InvalidUsageSignature", [jobId, recovered]);
    await expectRevert(t, call(s.inference, p1).settle(jobId, usage.providers, usage.amounts, "0xdead"), s.inference, "InvalidUsageSignature", [jobId, ethers.ZeroAddress]);
    t.equal(await balanceOf(s, s.inference), MAX, "escrow intact");
  });
});

t.test("shouldBehaveLikeReclaimableEscrow", async (t) => {
  t.test("the requester takes the whole escrow back once RECLAIM_DELAY passed, exactly then", async (t) => {
    const { s, requester, orchestrator } = await load();
    const tx = await call(s.inference, requester).createInferenceJob(MODEL, 7n * DUCK, orchestrator.address);
    const createdAt = await timeOf(tx);
    t.equal(await s.inference.RECLAIM_DELAY(), DAY);
    t.equal(await s.inference.reclaimableAt(2n), createdAt + DAY);
    const before = await balanceOf(s, requester);
    await setNextTime(createdAt + DAY);
    const reclaimed = await call(s.inference, requester).reclaim(2n);
    await expectEvent(t, reclaimed, s.inference, "InferenceReclaimed", [2n, 7n * DUCK]);
    t.equal(await balanceOf(s, requester), before + 7n * DUCK, "full refund");
    t.equal(await balanceOf(s, s.inference), MAX, "job 1's escrow untouched");
    const job = await s.inference.getInferenceJob(2n);
    t.same([job.paid, job.settled, job.maxPayment], [0n, true, 7n * DUCK], "counts as settled with nothing paid");
  });

  t.test("refuses before the delay, with the time it becomes available", async (t) => {
    const { s, requester, jobId } = await load();
    const availableAt = await s.inference.reclaimableAt(jobId);
    await expectRevert(t, call(s.inference, requester).reclaim(jobId), s.inference, "ReclaimTooEarly", [jobId, availableAt]);
    await setNextTime(availableAt - 1n);
    await expectRevert(t, call(s.inference, requester).reclaim(jobId), s.inference, "ReclaimTooEarly", [jobId, availableAt]);
    t.equal(await balanceOf(s, s.inference), MAX, "escrow intact");
  });

  t.test("refuses anyone but the requester, and unknown jobs", async (t) => {
    const { s, orchestrator, stranger, jobId } = await load();
    await increaseTime(DAY);
    await expectRevert(t, call(s.inference, stranger).reclaim(jobId), s.inference, "NotRequester", [jobId, stranger.address]);
    await expectRevert(t, call(s.inference, orchestrator).reclaim(jobId), s.inference, "NotRequester", [jobId, orchestrator.address]);
    await expectRevert(t, call(s.inference, stranger).reclaim(9n), s.inference, "UnknownJob", [9n]);
    await expectRevert(t, s.inference.reclaimableAt(9n), s.inference, "UnknownJob", [9n]);
    t.equal(await balanceOf(s, s.inference), MAX, "escrow intact");
  });

  t.test("a reclaimed job cannot be settled, and a settled one cannot be reclaimed", async (t) => {
    const { s, requester, orchestrator, p1, jobId } = await load();
    const usage = { jobId, providers: [p1.address], amounts: [10n * DUCK] };
    const sig = await signUsage(orchestrator, s.inference, usage);
    await increaseTime(DAY);
    await call(s.inference, requester).reclaim(jobId);
    const p1Before = await balanceOf(s, p1);
    await expectRevert(t, call(s.inference, p1).settle(jobId, usage.providers, usage.amounts, sig), s.inference, "AlreadySettled", [jobId]);
    await expectRevert(t, call(s.inference, requester).reclaim(jobId), s.inference, "AlreadySettled", [jobId]);
    t.equal(await balanceOf(s, p1), p1Before, "nobody paid after the reclaim");

    await call(s.inference, requester).createInferenceJob(MODEL, MAX, orchestrator.address);
    const second = { jobId: 2n, providers: [p1.address], amounts: [10n * DUCK] };
    await call(s.inference, p1).settle(2n, second.providers, second.amounts, await signUsage(orchestrator, s.inference, second));
    await increaseTime(DAY);
    await expectRevert(t, call(s.inference, requester).reclaim(2n), s.inference, "AlreadySettled", [2n]);
    t.equal(await balanceOf(s, s.inference), 0n, "nothing left in escrow");
  });

  t.test("settling stays possible after the delay while nobody reclaimed", async (t) => {
    const { s, orchestrator, p1, jobId } = await load();
    await increaseTime(DAY * 3n);
    const usage = { jobId, providers: [p1.address], amounts: [1n] };
    const tx = await call(s.inference, p1).settle(jobId, usage.providers, usage.amounts, await signUsage(orchestrator, s.inference, usage));
    await expectEvent(t, tx, s.inference, "InferenceSettled", [jobId, 1n, MAX - 1n]);
  });
});

t.test("views", async (t) => {
  const { s } = await load();
  const { chainId } = await ethers.provider.getNetwork();
  const expected = ethers.TypedDataEncoder.hashDomain({ name: "QuackMesh InferencePool", version: "1", chainId, verifyingContract: await s.inference.getAddress() });
  t.equal(await s.inference.domainSeparator(), expected);
  t.equal(await s.inference.duck(), await s.duck.getAddress());
  await expectRevert(t, s.inference.getInferenceJob(0n), s.inference, "UnknownJob", [0n]);
});
