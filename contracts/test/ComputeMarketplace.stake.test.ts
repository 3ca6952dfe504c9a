// ComputeMarketplace accountability: staked listings under a stable key, rentals that name an
// arbiter, downtime statements that refund the renter pro rata, penalties, the machine's record.
import t from "tap";
import {
  ACK_WINDOW,
  DISPUTE_WINDOW,
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
  setNextTime,
  signDowntime,
  timeOf,
  type System,
} from "./fixtures.js";

const MIN_STAKE = 10n * DUCK;
const STAKE = 40n * DUCK;
const PRICE = 3n * DUCK;
const HOURS = 3n;
const AMOUNT = PRICE * HOURS;
const PAID_SECONDS = HOURS * HOUR;
const KEY = ethers.keccak256(ethers.toUtf8Bytes("machine-key"));
const ENDED = 3n;

// A staked machine (id 1) rented for 3 hours naming `arbiter`, not yet acknowledged.
const load = fixture(async () => {
  const s = await deploySystem(ACK_WINDOW, MIN_STAKE);
  const [provider, renter, arbiter, other] = s.users;
  await call(s.market, provider).listStakedMachine(KEY, "{}", PRICE, "h:22", 0, STAKE);
  const tx = await call(s.market, renter).rentMachineWithArbiter(1n, Number(HOURS), 0n, "k", arbiter.address);
  return { s, provider, renter, arbiter, other, rentalId: 1n, createdAt: await timeOf(tx) };
});

type Loaded = Awaited<ReturnType<typeof load>>;

async function acknowledge({ s, provider }: Loaded): Promise<bigint> {
  return timeOf(await call(s.market, provider).acknowledgeRental(1n));
}

async function record(s: System, machineId = 1n) {
  const r = await s.market.getRecord(machineId);
  return { served: r.rentalsServed, missed: r.rentalsMissed, downtime: r.downtimeSeconds, stakeLost: r.stakeLost };
}

t.test("shouldBehaveLikeStakedListing", async (t) => {
  t.test("the same provider and key keep one machine id; the stake adds up", async (t) => {
    const { s, provider, other } = await load();
    const again = await call(s.market, provider).listStakedMachine(KEY, "{}", 4n * DUCK, "h:23", 5, 2n * DUCK);
    await expectEvent(t, again, s.market, "StakeDeposited", [1n, 2n * DUCK, STAKE + 2n * DUCK]);
    t.equal(await s.market.machineCount(), 1n, "no new machine for a restart");
    const m = await s.market.getMachine(1n);
    t.equal(m.pricePerHour, 4n * DUCK, "price updated");
    t.equal(m.stake, STAKE + 2n * DUCK);
    t.equal(await s.market.machineOf(provider.address, KEY), 1n);
    await call(s.market, other).listStakedMachine(KEY, "{}", PRICE, "h:22", 0, MIN_STAKE);
    t.equal(await s.market.machineOf(other.address, KEY), 2n, "another provider's key is its own machine");
    t.equal(await balanceOf(s, s.market), AMOUNT + STAKE + 2n * DUCK + MIN_STAKE, "escrow and stakes held");
  });

  t.test("refuses a stake below the minimum and unstaked listings", async (t) => {
    const { s, other } = await load();
    const key = ethers.ZeroHash;
    await expectRevert(t, call(s.market, other).listStakedMachine(key, "{}", PRICE, "h", 0, MIN_STAKE - 1n), s.market, "StakeBelowMinimum", [2n, MIN_STAKE - 1n, MIN_STAKE]);
    await expectRevert(t, call(s.market, other).listMachine("{}", PRICE, "h", 0), s.market, "StakeBelowMinimum", [2n, 0n, MIN_STAKE]);
    t.equal(await s.market.machineCount(), 1n, "nothing listed");
  });

  t.test("the stake stays locked while a rental can still be disputed", async (t) => {
    const l = await load();
    const { s, provider } = l;
    await expectRevert(t, call(s.market, provider).withdrawStake(1n), s.market, "MachineStillListed", [1n]);
    const startedAt = await acknowledge(l);
    await call(s.market, provider).unlistMachine(1n);
    const unlockAt = startedAt + PAID_SECONDS + DISPUTE_WINDOW;
    await expectRevert(t, call(s.market, provider).withdrawStake(1n), s.market, "StakeLocked", [1n, 1n, unlockAt]);
    await setNextTime(unlockAt);
    const before = await balanceOf(s, provider);
    await expectEvent(t, await call(s.market, provider).withdrawStake(1n), s.market, "StakeWithdrawn", [1n, STAKE]);
    t.equal(await balanceOf(s, provider), before + STAKE);
    await expectRevert(t, call(s.market, provider).withdrawStake(1n), s.market, "NothingStaked", [1n]);
  });
});

t.test("shouldBehaveLikeAccountableRental", async (t) => {
  t.test("a machine stopped for a third of the paid time refunds exactly that third, from the stake once withdrawn", async (t) => {
    const l = await load();
    const { s, provider, renter, arbiter } = l;
    const startedAt = await acknowledge(l);
    await setNextTime(startedAt + PAID_SECONDS);
    await call(s.market, provider).withdrawEarnings(1n);
    t.equal((await s.market.getRental(1n)).withdrawn, AMOUNT, "the provider took the whole rent");
    const third = PAID_SECONDS / 3n;
    const sig = await signDowntime(arbiter, s.market, 1n, third);
    const before = await balanceOf(s, renter);
    const tx = await call(s.market, renter).settleDowntime(1n, third, sig);
    await expectEvent(t, tx, s.market, "DowntimeSettled", [1n, third, AMOUNT / 3n]);
    await expectEvent(t, tx, s.market, "StakeSlashed", [1n, 1n, AMOUNT / 3n]);
    t.equal(await balanceOf(s, renter), before + AMOUNT / 3n, "renter got exactly a third of the rent back");
    t.equal((await s.market.getMachine(1n)).stake, STAKE - AMOUNT / 3n, "the withdrawn third came out of the stake; no penalty below half");
    t.same(await record(s), { served: 1n, missed: 0n, downtime: third, stakeLost: AMOUNT / 3n });
    const r = await s.market.getRental(1n);
    t.equal(r.status, ENDED);
    t.equal(r.downtimeSeconds, third);
    t.ok(r.settled);
    t.equal(await s.market.earned(1n), AMOUNT - AMOUNT / 3n, "earned is net of the downtime");
    t.equal(await balanceOf(s, s.market), STAKE - AMOUNT / 3n, "only the stake is left");
  });

  t.test("before the provider withdrew, the refund comes out of the held rent and the stake is untouched", async (t) => {
    const l = await load();
    const { s, provider, renter, arbiter } = l;
    const startedAt = await acknowledge(l);
    await setNextTime(startedAt + 2n * HOUR);
    await call(s.market, renter).endRental(1n);
    const earnedAtEnd = (AMOUNT * 2n * HOUR) / PAID_SECONDS;
    const down = HOUR / 2n;
    const refund = (AMOUNT * down) / PAID_SECONDS;
    const before = await balanceOf(s, renter);
    await call(s.market, renter).settleDowntime(1n, down, await signDowntime(arbiter, s.market, 1n, down));
    t.equal(await balanceOf(s, renter), before + refund);
    t.equal((await s.market.getMachine(1n)).stake, STAKE);
    const got = await balanceOf(s, provider);
    await call(s.market, provider).withdrawEarnings(1n);
    t.equal(await balanceOf(s, provider), got + earnedAtEnd - refund, "the provider keeps what was served");
    t.equal(await balanceOf(s, s.market), STAKE);
  });

  t.test("down for more than half the time it ran: the provider also loses a quarter of its stake", async (t) => {
    const l = await load();
    const { s, renter, arbiter } = l;
    await acknowledge(l);
    await increaseTime(PAID_SECONDS);
    const down = PAID_SECONDS / 2n + 1n;
    const refund = (AMOUNT * down) / PAID_SECONDS;
    const penalty = (STAKE * 2500n) / 10_000n;
    const before = await balanceOf(s, renter);
    await call(s.market, renter).settleDowntime(1n, down, await signDowntime(arbiter, s.market, 1n, down));
    t.equal(await balanceOf(s, renter), before + refund + penalty);
    t.same(await record(s), { served: 1n, missed: 0n, downtime: down, stakeLost: penalty });
    t.equal(await balanceOf(s, s.market), STAKE - penalty + AMOUNT - refund, "the provider's unwithdrawn earnings and the rest of the stake held");
  });

  t.test("a provider that never acknowledges loses a quarter of its stake to the renter", async (t) => {
    const { s, renter, createdAt } = await load();
    const before = await balanceOf(s, renter);
    await setNextTime(createdAt + ACK_WINDOW + 1n);
    const tx = await call(s.market, renter).cancelUnacknowledged(1n);
    const penalty = (STAKE * 2500n) / 10_000n;
    await expectEvent(t, tx, s.market, "StakeSlashed", [1n, 1n, penalty]);
    t.equal(await balanceOf(s, renter), before + AMOUNT + penalty);
    t.same(await record(s), { served: 0n, missed: 1n, downtime: 0n, stakeLost: penalty });
  });

  t.test("a machine whose stake fell below the minimum cannot be rented until topped up", async (t) => {
    const { s, renter, other } = await load();
    const key = ethers.id("small");
    await call(s.market, other).listStakedMachine(key, "{}", PRICE, "h", 0, MIN_STAKE);
    const tx = await call(s.market, renter).rentMachineWithArbiter(2n, 1, 0n, "k", other.address);
    await setNextTime((await timeOf(tx)) + ACK_WINDOW + 1n);
    await call(s.market, renter).cancelUnacknowledged(2n);
    const left = MIN_STAKE - MIN_STAKE / 4n;
    await expectRevert(t, call(s.market, renter).rentMachine(2n, 1, 0n, "k"), s.market, "StakeBelowMinimum", [2n, left, MIN_STAKE]);
    await call(s.market, other).listStakedMachine(key, "{}", PRICE, "h", 0, MIN_STAKE / 4n);
    await call(s.market, renter).rentMachine(2n, 1, 0n, "k");
    t.equal((await s.market.getMachine(2n)).activeRentalId, 3n, "rented again once topped up");
  });

  t.test("a provider may decline a rental (an arbiter it does not trust): full refund, no penalty", async (t) => {
    const { s, provider, renter, other } = await load();
    await expectRevert(t, call(s.market, other).declineRental(1n), s.market, "NotProvider", [1n, other.address]);
    const before = await balanceOf(s, renter);
    await expectEvent(t, await call(s.market, provider).declineRental(1n), s.market, "RentalCancelled", [1n, AMOUNT]);
    t.equal(await balanceOf(s, renter), before + AMOUNT);
    t.equal((await s.market.getMachine(1n)).stake, STAKE);
    t.same(await record(s), { served: 0n, missed: 0n, downtime: 0n, stakeLost: 0n });
  });

  t.test("refuses statements that are early, late, repeated, too long, unsigned by the arbiter, or for rentals without one", async (t) => {
    const l = await load();
    const { s, renter, arbiter, other, provider } = l;
    const startedAt = await acknowledge(l);
    const endsAt = startedAt + PAID_SECONDS;
    const sig = await signDowntime(arbiter, s.market, 1n, HOUR);
    await expectRevert(t, call(s.market, renter).settleDowntime(1n, HOUR, sig), s.market, "RentalNotOver", [1n, endsAt]);
    await setNextTime(endsAt);
    await expectRevert(t, call(s.market, other).settleDowntime(1n, PAID_SECONDS + 1n, await signDowntime(arbiter, s.market, 1n, PAID_SECONDS + 1n)), s.market, "DowntimeTooLong", [1n, PAID_SECONDS + 1n, PAID_SECONDS]);
    const forged = await signDowntime(renter, s.market, 1n, HOUR);
    await expectRevert(t, call(s.market, renter).settleDowntime(1n, HOUR, forged), s.market, "InvalidArbiterSignature", [1n, renter.address]);
    await expectRevert(t, call(s.market, renter).settleDowntime(1n, 2n * HOUR, sig), s.market, "InvalidArbiterSignature", [1n, await ethers.verifyTypedData(
      { name: "QuackMesh ComputeMarketplace", version: "1", chainId: (await ethers.provider.getNetwork()).chainId, verifyingContract: await s.market.getAddress() },
      { Downtime: [{ name: "rentalId", type: "uint256" }, { name: "downtimeSeconds", type: "uint64" }] },
      { rentalId: 1n, downtimeSeconds: 2n * HOUR },
      sig,
    )]);
    await call(s.market, other).settleDowntime(1n, HOUR, sig);
    await expectRevert(t, call(s.market, renter).settleDowntime(1n, HOUR, sig), s.market, "AlreadySettled", [1n]);

    // A second rental without an arbiter, and a statement past the dispute window.
    await call(s.market, renter).rentMachine(1n, 1, 0n, "k");
    await call(s.market, provider).acknowledgeRental(2n);
    await expectRevert(t, call(s.market, renter).settleDowntime(2n, 0n, sig), s.market, "NoArbiter", [2n]);
    const third = await call(s.market, renter).rentMachineWithArbiter(1n, 1, 0n, "k", arbiter.address).catch(() => undefined);
    t.equal(third, undefined, "the machine is busy with rental 2");
    await increaseTime(HOUR);
    await call(s.market, renter).rentMachineWithArbiter(1n, 1, 0n, "k", arbiter.address);
    const started3 = await timeOf(await call(s.market, provider).acknowledgeRental(3n));
    await setNextTime(started3 + HOUR + DISPUTE_WINDOW + 1n);
    await expectRevert(t, call(s.market, renter).settleDowntime(3n, 0n, await signDowntime(arbiter, s.market, 3n, 0n)), s.market, "DisputeWindowClosed", [3n, started3 + HOUR + DISPUTE_WINDOW]);
  });
});
