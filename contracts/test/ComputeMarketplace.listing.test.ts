// ComputeMarketplace: listing, unlisting and the rules that decide whether a machine can be rented.
import t from "tap";
import {
  ACK_WINDOW,
  DISPUTE_WINDOW,
  DUCK,
  HOUR,
  balanceOf,
  call,
  deploy,
  deploySystem,
  expectEvent,
  expectRevert,
  fixture,
  increaseTime,
  timeOf,
  type System,
} from "./fixtures.js";

const MAX_PRICE = 2n ** 96n - 1n;
const PRICE = 5n * DUCK;
const load = fixture(deploySystem);

async function listed(s: System, maxHours = 8) {
  const [provider, renter, other] = s.users;
  await call(s.market, provider).listMachine('{"gpu":"H100"}', PRICE, "10.0.0.1:22", maxHours);
  return { provider, renter, other, machineId: 1n };
}

t.test("constructor", async (t) => {
  const s = await load();
  const duck = await s.duck.getAddress();
  t.equal(await s.market.ackWindow(), ACK_WINDOW, "keeps the acknowledgement window");
  t.equal(await s.market.duck(), duck, "keeps the token");
  const factory = await (await import("./fixtures.js")).ethers.getContractFactory("ComputeMarketplace");
  t.equal(await s.market.minStake(), 0n, "no stake asked by default");
  t.equal(await s.market.disputeWindow(), DISPUTE_WINDOW, "keeps the dispute window");
  await expectRevert(t, deploy("ComputeMarketplace", duck, 0n, 0n, DISPUTE_WINDOW), s.market, "InvalidAckWindow", [0n]);
  await expectRevert(t, factory.deploy(duck, 2n ** 32n, 0n, DISPUTE_WINDOW), s.market, "InvalidAckWindow", [2n ** 32n]);
  await expectRevert(t, factory.deploy(duck, ACK_WINDOW, 0n, 0n), s.market, "InvalidDisputeWindow", [0n]);
  await expectRevert(t, factory.deploy(duck, ACK_WINDOW, 0n, 2n ** 32n), s.market, "InvalidDisputeWindow", [2n ** 32n]);
});

t.test("shouldBehaveLikeListing", async (t) => {
  t.test("lists a machine with specs and endpoint only in the event", async (t) => {
    const s = await load();
    const [provider] = s.users;
    const tx = await call(s.market, provider).listMachine('{"gpu":"A100"}', PRICE, "host:2222", 4);
    await expectEvent(t, tx, s.market, "MachineListed", [1n, provider.address, PRICE, 4n, '{"gpu":"A100"}', "host:2222"]);
    const machine = await s.market.getMachine(1n);
    t.same(
      [machine.provider, machine.pricePerHour, machine.maxHours, machine.listed, machine.activeRentalId],
      [provider.address, PRICE, 4n, true, 0n],
    );
    t.equal(await s.market.machineCount(), 1n);
    await call(s.market, provider).listMachine("{}", MAX_PRICE, "h:1", 0);
    t.equal(await s.market.machineCount(), 2n, "ids count up from 1");
    t.equal((await s.market.getMachine(2n)).pricePerHour, MAX_PRICE, "accepts the largest price");
  });

  t.test("refuses a zero or oversized price", async (t) => {
    const s = await load();
    const m = call(s.market, s.users[0]);
    await expectRevert(t, m.listMachine("{}", 0n, "h:1", 0), s.market, "InvalidPrice", [0n, MAX_PRICE]);
    await expectRevert(t, m.listMachine("{}", MAX_PRICE + 1n, "h:1", 0), s.market, "InvalidPrice", [MAX_PRICE + 1n, MAX_PRICE]);
    t.equal(await s.market.machineCount(), 0n, "nothing was listed");
  });

  t.test("unlists: only the provider, only once, only known machines", async (t) => {
    const s = await load();
    const { provider, other, machineId } = await listed(s);
    await expectRevert(t, call(s.market, other).unlistMachine(machineId), s.market, "NotProvider", [machineId, other.address]);
    await expectRevert(t, call(s.market, provider).unlistMachine(7n), s.market, "UnknownMachine", [7n]);
    const tx = await call(s.market, provider).unlistMachine(machineId);
    await expectEvent(t, tx, s.market, "MachineUnlisted", [machineId]);
    t.equal((await s.market.getMachine(machineId)).listed, false);
    await expectRevert(t, call(s.market, provider).unlistMachine(machineId), s.market, "MachineNotListed", [machineId]);
  });

  t.test("getMachine refuses unknown ids", async (t) => {
    const s = await load();
    await expectRevert(t, s.market.getMachine(0n), s.market, "UnknownMachine", [0n]);
  });
});

t.test("shouldBehaveLikeRentalGate", async (t) => {
  t.test("rents a listed machine, pulling hours x price into escrow", async (t) => {
    const s = await load();
    const { renter, machineId } = await listed(s);
    const before = await balanceOf(s, renter);
    const tx = await call(s.market, renter).rentMachine(machineId, 3, 42n, "ssh-ed25519 AAAA renter");
    const createdAt = await timeOf(tx);
    await expectEvent(t, tx, s.market, "MachineRented", [1n, machineId, renter.address, 42n, 3n, 3n * PRICE, "ssh-ed25519 AAAA renter"]);
    t.equal(await balanceOf(s, renter), before - 3n * PRICE, "renter paid");
    t.equal(await balanceOf(s, s.market), 3n * PRICE, "escrow holds it");
    const r = await s.market.getRental(1n);
    t.same(
      [r.machineId, r.renter, r.jobId, r.numHours, r.amount, r.createdAt, r.startedAt, r.endedAt, r.withdrawn, r.status],
      [machineId, renter.address, 42n, 3n, 3n * PRICE, createdAt, 0n, 0n, 0n, 1n],
    );
    t.equal((await s.market.getMachine(machineId)).activeRentalId, 1n);
    t.equal(await s.market.rentalCount(), 1n);
  });

  t.test("refuses unknown, unlisted and badly sized rentals", async (t) => {
    const s = await load();
    const { provider, renter, machineId } = await listed(s, 8);
    const m = call(s.market, renter);
    await expectRevert(t, m.rentMachine(9n, 1, 0n, "k"), s.market, "UnknownMachine", [9n]);
    await expectRevert(t, m.rentMachine(machineId, 0, 0n, "k"), s.market, "InvalidHours", [machineId, 0n, 8n]);
    await expectRevert(t, m.rentMachine(machineId, 9, 0n, "k"), s.market, "InvalidHours", [machineId, 9n, 8n]);
    await expectRevert(t, m.rentMachine(machineId, 1, 2n ** 64n, "k"), s.market, "InvalidJobId", [2n ** 64n]);
    await call(s.market, provider).unlistMachine(machineId);
    await expectRevert(t, m.rentMachine(machineId, 1, 0n, "k"), s.market, "MachineNotListed", [machineId]);
    t.equal(await s.market.rentalCount(), 0n, "no rental was made");
    t.equal(await balanceOf(s, s.market), 0n, "nothing was escrowed");
  });

  t.test("refuses a provider renting its own machine", async (t) => {
    const s = await load();
    const { provider, renter, machineId } = await listed(s, 8);
    await expectRevert(t, call(s.market, provider).rentMachine(machineId, 1, 0n, "k"), s.market, "SelfRental", [machineId, provider.address]);
    t.equal(await s.market.rentalCount(), 0n, "no rental was made");
    t.equal(await balanceOf(s, s.market), 0n, "nothing was escrowed");
    await call(s.market, renter).rentMachine(machineId, 1, 0n, "k");
    t.equal(await s.market.rentalCount(), 1n, "anyone else may rent it");
  });

  t.test("maxHours 0 means no limit", async (t) => {
    const s = await load();
    const { renter, machineId } = await listed(s, 0);
    await call(s.market, renter).rentMachine(machineId, 10_000, 0n, "k");
    t.equal((await s.market.getRental(1n)).amount, 10_000n * PRICE);
  });

  t.test("refuses a renter without enough balance or allowance", async (t) => {
    const s = await load();
    const { machineId } = await listed(s);
    const poor = s.users[5];
    const needed = 2n * PRICE;
    await call(s.duck, poor).approve(await s.market.getAddress(), PRICE);
    await expectRevert(t, call(s.market, poor).rentMachine(machineId, 2, 0n, "k"), s.market, "InsufficientEscrow", [machineId, needed, PRICE]);
    await call(s.duck, poor).approve(await s.market.getAddress(), needed);
    const balance = await balanceOf(s, poor);
    await call(s.duck, poor).transfer(s.owner.address, balance - 1n);
    await expectRevert(t, call(s.market, poor).rentMachine(machineId, 2, 0n, "k"), s.market, "InsufficientEscrow", [machineId, needed, 1n]);
  });
});

t.test("shouldNotDoubleRent", async (t) => {
  t.test("a pending rental holds the machine until the acknowledgement window closes", async (t) => {
    const s = await load();
    const { renter, other, machineId } = await listed(s);
    await call(s.market, renter).rentMachine(machineId, 1, 0n, "k");
    await expectRevert(t, call(s.market, other).rentMachine(machineId, 1, 0n, "k"), s.market, "MachineBusy", [machineId, 1n]);
    await increaseTime(ACK_WINDOW + 1n);
    await call(s.market, other).rentMachine(machineId, 1, 0n, "k");
    t.equal((await s.market.getMachine(machineId)).activeRentalId, 2n, "a stale pending rental frees the machine");
    const before = await balanceOf(s, renter);
    await call(s.market, renter).cancelUnacknowledged(1n);
    t.equal(await balanceOf(s, renter), before + PRICE, "the stale rental is still refundable in full");
    t.equal((await s.market.getMachine(machineId)).activeRentalId, 2n, "cancelling it leaves the new rental in place");
  });

  t.test("an active rental holds the machine until fully served", async (t) => {
    const s = await load();
    const { provider, renter, other, machineId } = await listed(s);
    await call(s.market, renter).rentMachine(machineId, 2, 0n, "k");
    await call(s.market, provider).acknowledgeRental(1n);
    await increaseTime(2n * HOUR - 10n);
    await expectRevert(t, call(s.market, other).rentMachine(machineId, 1, 0n, "k"), s.market, "MachineBusy", [machineId, 1n]);
    await increaseTime(10n);
    await call(s.market, other).rentMachine(machineId, 1, 0n, "k");
    t.equal(await s.market.rentalCount(), 2n, "rentable again once the time is served");
  });

  t.test("ended and cancelled rentals free the machine", async (t) => {
    const s = await load();
    const { provider, renter, other, machineId } = await listed(s);
    await call(s.market, renter).rentMachine(machineId, 2, 0n, "k");
    await call(s.market, provider).acknowledgeRental(1n);
    await call(s.market, renter).endRental(1n);
    await call(s.market, other).rentMachine(machineId, 1, 0n, "k");
    await increaseTime(ACK_WINDOW + 1n);
    await call(s.market, other).cancelUnacknowledged(2n);
    await call(s.market, renter).rentMachine(machineId, 1, 0n, "k");
    t.equal(await s.market.rentalCount(), 3n);
  });

  t.test("unlisting keeps the running rental going", async (t) => {
    const s = await load();
    const { provider, renter, machineId } = await listed(s);
    await call(s.market, renter).rentMachine(machineId, 1, 0n, "k");
    await call(s.market, provider).unlistMachine(machineId);
    await call(s.market, provider).acknowledgeRental(1n);
    await increaseTime(HOUR);
    await call(s.market, provider).withdrawEarnings(1n);
    t.equal(await balanceOf(s, s.market), 0n, "the provider was paid in full");
    t.equal((await s.market.getRental(1n)).withdrawn, PRICE);
  });
});
