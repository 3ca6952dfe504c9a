// ComputeMarketplace: acknowledgement, cancellation, early end and withdrawals of a rental's escrow.
import t from "tap";
import {
  ACK_WINDOW,
  DUCK,
  HOUR,
  balanceOf,
  call,
  deploySystem,
  ethers,
  expectEvent,
  expectRevert,
  fixture,
  increaseTime,
  send,
  setNextTime,
  timeOf,
  type System,
} from "./fixtures.js";

const PRICE = 7n * DUCK + 3n; // odd, so that rounding shows
const HOURS = 4n;
const AMOUNT = PRICE * HOURS;
const PENDING = 1n;
const ACTIVE = 2n;
const ENDED = 3n;
const CANCELLED = 4n;

// One machine listed and rented for 4 hours, not yet acknowledged.
const load = fixture(async () => {
  const s = await deploySystem();
  const [provider, renter, other] = s.users;
  await call(s.market, provider).listMachine("{}", PRICE, "h:22", 0);
  const tx = await call(s.market, renter).rentMachine(1n, Number(HOURS), 0n, "k");
  return { s, provider, renter, other, rentalId: 1n, createdAt: await timeOf(tx) };
});

/** Acknowledges rental 1 and returns its start time. */
async function start(s: System, provider: (typeof s.users)[number]): Promise<bigint> {
  return timeOf(await call(s.market, provider).acknowledgeRental(1n));
}

t.test("shouldBehaveLikeAcknowledgement", async (t) => {
  t.test("the provider starts the clock within the window", async (t) => {
    const { s, provider, rentalId, createdAt } = await load();
    await setNextTime(createdAt + ACK_WINDOW);
    const tx = await call(s.market, provider).acknowledgeRental(rentalId);
    await expectEvent(t, tx, s.market, "RentalAcknowledged", [rentalId, createdAt + ACK_WINDOW]);
    const r = await s.market.getRental(rentalId);
    t.equal(r.status, ACTIVE);
    t.equal(r.startedAt, createdAt + ACK_WINDOW);
    t.equal(await s.market.earned(rentalId), 0n, "nothing earned at the first second");
  });

  t.test("refuses strangers, repeats, unknown ids and late acknowledgements", async (t) => {
    const { s, provider, other, rentalId, createdAt } = await load();
    await expectRevert(t, call(s.market, other).acknowledgeRental(rentalId), s.market, "NotProvider", [1n, other.address]);
    await expectRevert(t, call(s.market, provider).acknowledgeRental(5n), s.market, "UnknownRental", [5n]);
    await setNextTime(createdAt + ACK_WINDOW + 1n);
    await expectRevert(t, call(s.market, provider).acknowledgeRental(rentalId), s.market, "AckWindowClosed", [rentalId, createdAt + ACK_WINDOW]);
    t.equal((await s.market.getRental(rentalId)).status, PENDING, "still pending");
  });

  t.test("refuses a second acknowledgement", async (t) => {
    const { s, provider, rentalId } = await load();
    await start(s, provider);
    await expectRevert(t, call(s.market, provider).acknowledgeRental(rentalId), s.market, "InvalidRentalStatus", [rentalId, ACTIVE]);
  });
});

t.test("shouldBehaveLikeCancellableEscrow", async (t) => {
  t.test("refunds everything once the window passed without acknowledgement", async (t) => {
    const { s, renter, rentalId, createdAt } = await load();
    const before = await balanceOf(s, renter);
    await setNextTime(createdAt + ACK_WINDOW + 1n);
    const tx = await call(s.market, renter).cancelUnacknowledged(rentalId);
    await expectEvent(t, tx, s.market, "RentalCancelled", [rentalId, AMOUNT]);
    t.equal(await balanceOf(s, renter), before + AMOUNT);
    t.equal(await balanceOf(s, s.market), 0n);
    const r = await s.market.getRental(rentalId);
    t.same([r.status, r.endedAt], [CANCELLED, createdAt + ACK_WINDOW + 1n]);
    await expectRevert(t, call(s.market, renter).cancelUnacknowledged(rentalId), s.market, "InvalidRentalStatus", [rentalId, CANCELLED]);
  });

  t.test("refuses to cancel within the window or by strangers", async (t) => {
    const { s, renter, other, rentalId, createdAt } = await load();
    await expectRevert(t, call(s.market, other).cancelUnacknowledged(rentalId), s.market, "NotRenter", [rentalId, other.address]);
    await expectRevert(t, call(s.market, renter).cancelUnacknowledged(9n), s.market, "UnknownRental", [9n]);
    await setNextTime(createdAt + ACK_WINDOW);
    await expectRevert(t, call(s.market, renter).cancelUnacknowledged(rentalId), s.market, "AckWindowOpen", [rentalId, createdAt + ACK_WINDOW]);
    t.equal((await s.market.getRental(rentalId)).status, PENDING, "still pending");
  });

  t.test("refuses to cancel once acknowledged, even after the window", async (t) => {
    const { s, provider, renter, rentalId } = await load();
    await start(s, provider);
    await increaseTime(ACK_WINDOW * 2n);
    await expectRevert(t, call(s.market, renter).cancelUnacknowledged(rentalId), s.market, "InvalidRentalStatus", [rentalId, ACTIVE]);
  });
});

t.test("shouldBehaveLikeEscrow", async (t) => {
  t.test("earns linearly from acknowledgement and stops at the paid hours", async (t) => {
    const { s, provider, rentalId } = await load();
    const startedAt = await start(s, provider);
    const duration = HOURS * HOUR;
    for (const elapsed of [1n, 1234n, duration / 2n, duration - 1n]) {
      await setNextTime(startedAt + elapsed);
      await increaseTime(0);
      t.equal(await s.market.earned(rentalId), (AMOUNT * elapsed) / duration, `earned after ${elapsed}s`);
    }
    await increaseTime(10n * HOUR);
    t.equal(await s.market.earned(rentalId), AMOUNT, "capped at the escrowed amount");
  });

  t.test("the renter ends early: unserved part back, earned part stays for the provider", async (t) => {
    const { s, provider, renter, rentalId } = await load();
    const startedAt = await start(s, provider);
    const elapsed = 5000n;
    const earned = (AMOUNT * elapsed) / (HOURS * HOUR);
    const before = await balanceOf(s, renter);
    await setNextTime(startedAt + elapsed);
    const tx = await call(s.market, renter).endRental(rentalId);
    await expectEvent(t, tx, s.market, "RentalEnded", [rentalId, AMOUNT - earned, earned]);
    t.equal(await balanceOf(s, renter), before + AMOUNT - earned, "refund of the unserved part");
    t.equal(await balanceOf(s, s.market), earned, "the earned part stays in escrow");
    await increaseTime(HOUR);
    t.equal(await s.market.earned(rentalId), earned, "earnings are frozen at the end");
    const providerBefore = await balanceOf(s, provider);
    await call(s.market, provider).withdrawEarnings(rentalId);
    t.equal(await balanceOf(s, provider), providerBefore + earned);
    t.equal(await balanceOf(s, s.market), 0n, "nothing left behind");
    const r = await s.market.getRental(rentalId);
    t.same([r.status, r.endedAt, r.withdrawn], [ENDED, startedAt + elapsed, earned]);
  });

  t.test("ending after the paid time refunds nothing", async (t) => {
    const { s, provider, renter, rentalId } = await load();
    await start(s, provider);
    await increaseTime(HOURS * HOUR + 5n);
    const tx = await call(s.market, renter).endRental(rentalId);
    await expectEvent(t, tx, s.market, "RentalEnded", [rentalId, 0n, AMOUNT]);
  });

  t.test("refuses to end a pending, foreign, unknown or ended rental", async (t) => {
    const { s, provider, renter, other, rentalId } = await load();
    await expectRevert(t, call(s.market, renter).endRental(rentalId), s.market, "InvalidRentalStatus", [rentalId, PENDING]);
    await start(s, provider);
    await expectRevert(t, call(s.market, other).endRental(rentalId), s.market, "NotRenter", [rentalId, other.address]);
    await expectRevert(t, call(s.market, renter).endRental(3n), s.market, "UnknownRental", [3n]);
    await call(s.market, renter).endRental(rentalId);
    await expectRevert(t, call(s.market, renter).endRental(rentalId), s.market, "InvalidRentalStatus", [rentalId, ENDED]);
  });
});

t.test("shouldBehaveLikeWithdrawal", async (t) => {
  t.test("pays what was earned so far, never twice, never for time not served", async (t) => {
    const { s, provider, rentalId } = await load();
    const startedAt = await start(s, provider);
    const duration = HOURS * HOUR;
    let paid = 0n;
    for (const elapsed of [600n, 7000n, duration + 99n]) {
      await setNextTime(startedAt + elapsed);
      const cap = elapsed > duration ? duration : elapsed;
      const due = (AMOUNT * cap) / duration - paid;
      const before = await balanceOf(s, provider);
      const tx = await call(s.market, provider).withdrawEarnings(rentalId);
      await expectEvent(t, tx, s.market, "EarningsWithdrawn", [rentalId, provider.address, due]);
      t.equal(await balanceOf(s, provider), before + due, `paid ${due} at ${elapsed}s`);
      paid += due;
    }
    t.equal(paid, AMOUNT, "the whole escrow, in parts");
    await expectRevert(t, call(s.market, provider).withdrawEarnings(rentalId), s.market, "NothingToWithdraw", [rentalId]);
  });

  t.test("two withdrawals in one block pay once", async (t) => {
    const { s, provider, rentalId } = await load();
    const startedAt = await start(s, provider);
    const before = await balanceOf(s, provider);
    await send("evm_setAutomine", [false]);
    try {
      // An explicit gas limit skips estimation, so both transactions land in the same block.
      const first = await call(s.market, provider).withdrawEarnings(rentalId, { gasLimit: 300_000 });
      const second = await call(s.market, provider).withdrawEarnings(rentalId, { gasLimit: 300_000 });
      await setNextTime(startedAt + 100n);
      await send("evm_mine");
      const receipts = await Promise.all([first, second].map((tx) => ethers.provider.getTransactionReceipt(tx.hash)));
      t.same(receipts.map((r) => r?.status), [1, 0], "the second one reverts");
    } finally {
      await send("evm_setAutomine", [true]);
    }
    t.equal(await balanceOf(s, provider), before + (AMOUNT * 100n) / (HOURS * HOUR), "paid once");
  });

  t.test("returns the amount paid", async (t) => {
    const { s, provider, rentalId } = await load();
    await start(s, provider);
    await increaseTime(HOUR);
    const returned = await call(s.market, provider).withdrawEarnings.staticCall(rentalId);
    t.equal(returned, await s.market.earned(rentalId), "static call returns the due amount");
  });

  t.test("refuses strangers and rentals that never started", async (t) => {
    const { s, provider, renter, rentalId } = await load();
    await expectRevert(t, call(s.market, renter).withdrawEarnings(rentalId), s.market, "NotProvider", [1n, renter.address]);
    await expectRevert(t, call(s.market, provider).withdrawEarnings(rentalId), s.market, "InvalidRentalStatus", [rentalId, PENDING]);
    await expectRevert(t, call(s.market, provider).withdrawEarnings(0n), s.market, "UnknownRental", [0n]);
    await increaseTime(ACK_WINDOW + 1n);
    await call(s.market, renter).cancelUnacknowledged(rentalId);
    await expectRevert(t, call(s.market, provider).withdrawEarnings(rentalId), s.market, "InvalidRentalStatus", [rentalId, CANCELLED]);
  });

  t.test("views refuse unknown rentals and report nothing earned while pending", async (t) => {
    const { s, rentalId } = await load();
    t.equal(await s.market.earned(rentalId), 0n);
    await expectRevert(t, s.market.getRental(2n), s.market, "UnknownRental", [2n]);
    await expectRevert(t, s.market.earned(2n), s.market, "UnknownRental", [2n]);
  });
});
