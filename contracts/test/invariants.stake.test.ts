// Invariant test of ComputeMarketplace's stakes, downtime statements and penalties: seeded random
// call sequences (listings under keys with stakes, rentals with and without an arbiter,
// acknowledgements, declines, withdrawals, ends, cancellations, honest and forged downtime
// statements, stake withdrawals, time jumps). After every call, whether it succeeded or not:
// the marketplace holds exactly the machines' stakes plus what each rental still holds, and no
// DUCK was created or lost; each machine's stake plus what it lost plus what was withdrawn equals
// what was staked; a settled downtime never exceeds the time served.
// Reproduce a run with QUACKMESH_FUZZ_SEED=<seed printed in the output>.
import t from "tap";
import { ACK_WINDOW, DISPUTE_WINDOW, DUCK, call, deploySystem, ethers, send, signDowntime, type Contract, type Signer } from "./fixtures.js";

const SEQUENCES = 80;
const STEPS = 10;
const seed = Number(process.env.QUACKMESH_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));

function prng(s: number) {
  let a = s >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = prng(seed);
const int = (n: number) => Math.floor(rand() * n);
const pick = <T>(xs: T[]): T => xs[int(xs.length)];

const MIN_STAKE = 10n * DUCK;
const s = await deploySystem(ACK_WINDOW, MIN_STAKE);
const market: Contract = s.market;
const marketAddress = await market.getAddress();
const [p1, p2, r1, r2, arbiter] = s.users;
const providers = [p1, p2];
const renters = [r1, r2];
const everyone = [...providers, ...renters, arbiter];
const KEYS = [ethers.id("a"), ethers.id("b")];
const STATUS = { Pending: 1n, Active: 2n, Ended: 3n, Cancelled: 4n };

async function duckOf(who: string): Promise<bigint> {
  return s.duck.balanceOf(who) as Promise<bigint>;
}

/** Σ of every tracked account's DUCK and the marketplace's: constant, since nothing mints here. */
async function totalDuck(): Promise<bigint> {
  let sum = await duckOf(marketAddress);
  for (const a of everyone) sum += await duckOf(a.address);
  return sum;
}

/** Stake deposited and withdrawn per machine in the current sequence, from the receipts' events. */
let flows = new Map<bigint, { in: bigint; out: bigint }>();
function flow(id: bigint) {
  return flows.get(id) ?? (flows.set(id, { in: 0n, out: 0n }), flows.get(id)!);
}

/** Every invariant; returns the first problem or null. */
async function check(label: string, total: bigint): Promise<string | null> {
  if ((await totalDuck()) !== total) return `${label}: DUCK was created or lost`;
  let owed = 0n;
  const machines = Number(await market.machineCount());
  for (let id = 1n; id <= BigInt(machines); id++) {
    const m = await market.getMachine(id);
    const rec = await market.getRecord(id);
    owed += m.stake;
    const f = flows.get(id) ?? { in: 0n, out: 0n };
    if (m.stake + rec.stakeLost + f.out !== f.in) return `${label}: machine ${id} stake ${m.stake} + lost ${rec.stakeLost} + withdrawn ${f.out} != staked ${f.in}`;
  }
  const rentals = Number(await market.rentalCount());
  for (let id = 1n; id <= BigInt(rentals); id++) {
    const r = await market.getRental(id);
    if (r.status === STATUS.Pending) owed += r.amount;
    else if (r.status === STATUS.Active) owed += r.amount - r.withdrawn;
    else if (r.status === STATUS.Ended) {
      const earned = (await market.earned(id)) as bigint;
      if (r.withdrawn > earned) return `${label}: rental ${id} withdrew ${r.withdrawn} above earned ${earned}`;
      owed += earned - r.withdrawn;
      if (r.settled && r.downtimeSeconds > r.endedAt - r.startedAt) return `${label}: rental ${id} downtime above time served`;
    }
  }
  const held = await duckOf(marketAddress);
  return held === owed ? null : `${label}: marketplace holds ${held}, owes ${owed}`;
}

type Step = { label: string; run: () => Promise<unknown> };

async function wait(seconds: number): Promise<void> {
  await send("evm_increaseTime", [seconds]);
  await send("evm_mine");
}

async function randomStep(): Promise<Step> {
  const machines = Number(await market.machineCount());
  const rentals = Number(await market.rentalCount());
  const machineId = BigInt(1 + int(Math.max(1, machines)));
  // Mostly the latest rental, so that lifecycles get far (acknowledged, over, settled).
  const rentalId = rand() < 0.7 ? BigInt(Math.max(1, rentals)) : BigInt(1 + int(Math.max(1, rentals)));
  // Mostly the right party, sometimes a stranger (whose calls must change nothing).
  const rental = rentals === 0 ? undefined : await market.getRental(rentalId);
  const ownerOf = async (id: bigint) => (await market.getMachine(id)).provider as string;
  const rentalProvider = rental ? await ownerOf(rental.machineId as bigint) : undefined;
  const byAddress = (a: string | undefined) => everyone.find((w) => w.address === a);
  const provider = (rand() < 0.85 && byAddress(rentalProvider)) || pick(providers);
  const renter = (rand() < 0.85 && byAddress(rental?.renter as string | undefined)) || pick(renters);
  // Half the steps move the latest rental along its natural life, so lifecycles reach their ends.
  const natural = rand() < 0.5 && rental !== undefined;
  if (natural && rental!.status === STATUS.Pending) {
    return rand() < 0.6 ? { label: `ack ${rentalId}`, run: () => call(market, provider).acknowledgeRental(rentalId) } : { label: "wait 601 s", run: () => wait(601) };
  }
  if (natural && rental!.status === STATUS.Active && rental!.arbiter !== ethers.ZeroAddress) {
    const now = BigInt((await ethers.provider.getBlock("latest"))!.timestamp);
    const end = (rental!.startedAt as bigint) + 3600n * BigInt(rental!.numHours);
    if (now < end) return rand() < 0.5 ? { label: "wait 3600 s", run: () => wait(3600) } : { label: `end ${rentalId}`, run: () => call(market, renter).endRental(rentalId) };
    const down = BigInt(int(Number(end - (rental!.startedAt as bigint)) + 1));
    return { label: `settle ${rentalId} down ${down}`, run: async () => call(market, renter).settleDowntime(rentalId, down, await signDowntime(arbiter, market, rentalId, down)) };
  }
  if (natural && rental!.status === STATUS.Ended && !rental!.settled && rental!.arbiter !== ethers.ZeroAddress) {
    const down = BigInt(int(Number((rental!.endedAt as bigint) - (rental!.startedAt as bigint)) + 1));
    return { label: `settle ${rentalId} down ${down}`, run: async () => call(market, renter).settleDowntime(rentalId, down, await signDowntime(arbiter, market, rentalId, down)) };
  }
  switch (machines === 0 ? 0 : int(11)) {
    case 0: {
      const stake = pick([0n, 5n * DUCK, MIN_STAKE, 30n * DUCK, 30n * DUCK]);
      return { label: `list ${provider.address.slice(0, 6)} stake ${stake}`, run: () => call(market, provider).listStakedMachine(pick(KEYS), "{}", BigInt(1 + int(5)) * DUCK, "h:22", 0, stake) };
    }
    case 1: {
      const withArbiter = rand() < 0.7;
      return {
        label: `rent ${machineId}${withArbiter ? " with arbiter" : ""}`,
        run: () => (withArbiter ? call(market, renter).rentMachineWithArbiter(machineId, 1 + int(3), 0n, "k", arbiter.address) : call(market, renter).rentMachine(machineId, 1 + int(3), 0n, "k")),
      };
    }
    case 2:
      return { label: `ack ${rentalId}`, run: () => call(market, provider).acknowledgeRental(rentalId) };
    case 3:
      return { label: `decline ${rentalId}`, run: () => call(market, provider).declineRental(rentalId) };
    case 4:
      return { label: `withdraw ${rentalId}`, run: () => call(market, provider).withdrawEarnings(rentalId) };
    case 5:
      return { label: `end ${rentalId}`, run: () => call(market, renter).endRental(rentalId) };
    case 6:
      return { label: `cancel ${rentalId}`, run: () => call(market, renter).cancelUnacknowledged(rentalId) };
    case 7: {
      const down = pick([0n, 600n, 1200n, 1801n, 3600n, 4n * 3600n]);
      const signer: Signer = rand() < 0.85 ? arbiter : renter;
      return { label: `settle ${rentalId} down ${down}${signer === arbiter ? "" : " forged"}`, run: async () => call(market, pick(everyone)).settleDowntime(rentalId, down, await signDowntime(signer, market, rentalId, down)) };
    }
    case 8:
      return { label: `unlist ${machineId}`, run: () => call(market, provider).unlistMachine(machineId) };
    case 9:
      return { label: `withdraw stake ${machineId}`, run: () => call(market, provider).withdrawStake(machineId) };
    default: {
      const seconds = pick([60, 601, 3600, 3600, 2 * 3600, Number(DISPUTE_WINDOW) + 1]);
      return { label: `wait ${seconds} s`, run: () => wait(seconds) };
    }
  }
}

t.test(`random sequences keep the marketplace's books (seed ${seed})`, async (t) => {
  let snapshot = (await send("evm_snapshot")) as string;
  const total = await totalDuck();
  let problem: string | null = null;
  let succeeded = 0;
  let settled = 0;
  let slashed = 0;
  for (let i = 0; i < SEQUENCES && !problem; i++) {
    const labels: string[] = [];
    for (let j = 0; j < STEPS && !problem; j++) {
      const st = await randomStep();
      labels.push(st.label);
      try {
        const tx = await st.run();
        if (tx && typeof (tx as { wait?: unknown }).wait === "function") {
          const receipt = (await (tx as { wait(): Promise<{ logs: { topics: string[]; data: string }[] }> }).wait());
          succeeded++;
          for (const log of receipt.logs) {
            const parsed = market.interface.parseLog(log);
            if (parsed?.name === "DowntimeSettled") settled++;
            if (parsed?.name === "StakeSlashed") slashed++;
            if (parsed?.name === "StakeDeposited") flow(parsed.args[0] as bigint).in += parsed.args[1] as bigint;
            if (parsed?.name === "StakeWithdrawn") flow(parsed.args[0] as bigint).out += parsed.args[1] as bigint;
          }
        }
      } catch {
        // A refusal must leave the books as they were; check() says whether it did.
      }
      problem = await check(`sequence ${i}: ${labels.join(" → ")}`, total);
    }
    await send("evm_revert", [snapshot]);
    snapshot = (await send("evm_snapshot")) as string;
    flows = new Map();
  }
  t.equal(problem, null, problem ?? "every invariant held");
  t.comment(`seed ${seed}: ${succeeded} calls went through, ${settled} downtime statements settled, ${slashed} stake slashes`);
  t.ok(settled > 0 && slashed > 0, "the sequences reached settlements and slashes");
});
