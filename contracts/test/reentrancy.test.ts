// A token that calls back into its holder on every transfer (ERC-777 style) lets a malicious
// provider, renter, requester or contributor re-enter the pool that is paying it. Every such
// re-entry must fail and nothing may be paid twice.
import t, { type Test } from "tap";
import {
  DUCK,
  HOUR,
  ACK_WINDOW,
  DISPUTE_WINDOW,
  call,
  deploy,
  ethers,
  fixture,
  increaseTime,
  jobTerms,
  latestTime,
  rewardsTree,
  signAttestation,
  signRoundCommitment,
  signUsage,
  type Contract,
  type Signer,
} from "./fixtures.js";

const load = fixture(async () => {
  const [owner, alice, evaluator, orchestrator] = await ethers.getSigners();
  const token = await deploy("ReentrantToken");
  const tokenAddress = await token.getAddress();
  const market = await deploy("ComputeMarketplace", tokenAddress, ACK_WINDOW, 0n, DISPUTE_WINDOW);
  const training = await deploy("TrainingPool", tokenAddress);
  const inference = await deploy("InferencePool", tokenAddress);
  const attacker = await deploy("ReentrantAttacker");
  const attackerAddress = await attacker.getAddress();
  await call(token, owner).setHooked(attackerAddress);
  for (const holder of [alice.address, attackerAddress]) await call(token, owner).mint(holder, 1_000n * DUCK);
  for (const pool of [market, training, inference]) {
    await call(token, alice).approve(await pool.getAddress(), ethers.MaxUint256);
    await exec(attacker, token, "approve", [await pool.getAddress(), ethers.MaxUint256]);
  }
  return { token, market, training, inference, attacker, attackerAddress, alice, evaluator, orchestrator };
});

/** The attacker calls `fn` on `contract` as itself. */
async function exec(attacker: Contract, contract: Contract, fn: string, args: unknown[]) {
  const data = contract.interface.encodeFunctionData(fn, args);
  return (await attacker.execute(await contract.getAddress(), data)).wait();
}

/** On its next token movement, the attacker calls `fn` on `contract`. */
async function arm(attacker: Contract, contract: Contract, fn: string, args: unknown[]) {
  await attacker.arm(await contract.getAddress(), contract.interface.encodeFunctionData(fn, args));
}

async function balance(token: Contract, who: Contract | Signer): Promise<bigint> {
  return token.balanceOf("address" in who ? who.address : await who.getAddress());
}

/** The one re-entry happened and was refused by the guard. */
async function expectBlocked(t: Test, attacker: Contract, pool: Contract) {
  t.equal(await attacker.attempts(), 1n, "the attacker re-entered once");
  t.equal(await attacker.lastSucceeded(), false, "the re-entry failed");
  t.equal(pool.interface.parseError(await attacker.lastReturn())?.name, "ReentrancyGuardReentrantCall", "refused by the guard");
}

t.test("ComputeMarketplace resists re-entry", async (t) => {
  t.test("a provider re-entering withdrawEarnings is paid once", async (t) => {
    const { token, market, attacker, alice } = await load();
    await exec(attacker, market, "listMachine", ["{}", 3n * DUCK, "h:22", 0]);
    await call(market, alice).rentMachine(1n, 2, 0n, "k");
    await exec(attacker, market, "acknowledgeRental", [1n]);
    await increaseTime(HOUR);
    const before = await balance(token, attacker);
    await arm(attacker, market, "withdrawEarnings", [1n]);
    await exec(attacker, market, "withdrawEarnings", [1n]);
    await expectBlocked(t, attacker, market);
    const withdrawn = (await market.getRental(1n)).withdrawn;
    t.equal(await balance(token, attacker), before + withdrawn, "paid exactly what was recorded");
    t.equal(await balance(token, market), 6n * DUCK - withdrawn, "the rest stays in escrow");
  });

  t.test("a renter re-entering endRental is refunded once", async (t) => {
    const { token, market, attacker, alice } = await load();
    await call(market, alice).listMachine("{}", 3n * DUCK, "h:22", 0);
    await exec(attacker, market, "rentMachine", [1n, 2, 0n, "k"]);
    await call(market, alice).acknowledgeRental(1n);
    await increaseTime(HOUR / 2n);
    const before = await balance(token, attacker);
    await arm(attacker, market, "endRental", [1n]);
    await exec(attacker, market, "endRental", [1n]);
    await expectBlocked(t, attacker, market);
    const earned = await market.earned(1n);
    t.equal(await balance(token, attacker), before + 6n * DUCK - earned, "one refund of the unserved part");
    t.equal(await balance(token, market), earned, "the provider's part stays");
  });

  t.test("a renter re-entering cancelUnacknowledged is refunded once", async (t) => {
    const { token, market, attacker, alice } = await load();
    await call(market, alice).listMachine("{}", 3n * DUCK, "h:22", 0);
    await exec(attacker, market, "rentMachine", [1n, 2, 0n, "k"]);
    await increaseTime(ACK_WINDOW + 1n);
    const before = await balance(token, attacker);
    await arm(attacker, market, "cancelUnacknowledged", [1n]);
    await exec(attacker, market, "cancelUnacknowledged", [1n]);
    await expectBlocked(t, attacker, market);
    t.equal(await balance(token, attacker), before + 6n * DUCK);
    t.equal(await balance(token, market), 0n);
  });

  t.test("a renter re-entering rentMachine while paying cannot take a second machine", async (t) => {
    const { market, attacker, alice } = await load();
    await call(market, alice).listMachine("{}", 3n * DUCK, "h:22", 0);
    await call(market, alice).listMachine("{}", 3n * DUCK, "h:23", 0);
    await arm(attacker, market, "rentMachine", [2n, 1, 0n, "k"]);
    await exec(attacker, market, "rentMachine", [1n, 1, 0n, "k"]);
    await expectBlocked(t, attacker, market);
    t.equal(await market.rentalCount(), 1n, "only the outer rental exists");
  });
});

t.test("TrainingPool resists re-entry", async (t) => {
  t.test("a contributor re-entering submitUpdate is paid once", async (t) => {
    const { token, training, attacker, attackerAddress, alice, evaluator } = await load();
    const deadline = (await latestTime()) + 1000n;
    await call(training, alice).createTrainingJob(jobTerms(evaluator.address, deadline, { flatPerUpdate: 4n * DUCK }));
    const a = { jobId: 1n, round: 0, contributor: attackerAddress, updateHash: ethers.id("u"), accuracyBps: 5000, numSamples: 10n };
    const args = [1n, 0, a.updateHash, a.accuracyBps, a.numSamples, await signAttestation(evaluator, training, a)];
    const before = await balance(token, attacker);
    await arm(attacker, training, "submitUpdate", args);
    await exec(attacker, training, "submitUpdate", args);
    await expectBlocked(t, attacker, training);
    t.equal(await balance(token, attacker), before + 4n * DUCK, "one reward");
    t.equal(await balance(token, training), 6n * DUCK);
  });

  t.test("a contributor re-entering claim is paid once", async (t) => {
    const { token, training, attacker, attackerAddress, alice, evaluator } = await load();
    const deadline = (await latestTime()) + 1000n;
    await call(training, alice).createTrainingJob(jobTerms(evaluator.address, deadline));
    const tree = rewardsTree(1n, 0, [[attackerAddress, 3n * DUCK], [alice.address, 2n * DUCK]]);
    const c = { jobId: 1n, round: 0, rewardsRoot: tree.root, updatesRoot: ethers.ZeroHash, modelHash: ethers.ZeroHash, total: 5n * DUCK };
    const sig = await signRoundCommitment(evaluator, training, c);
    await call(training, alice).commitRound(1n, 0, c.rewardsRoot, c.updatesRoot, c.modelHash, c.total, tree.leaves, sig);
    const args = [1n, 0, tree.index(attackerAddress), 3n * DUCK, tree.proof(attackerAddress)];
    const before = await balance(token, attacker);
    await arm(attacker, training, "claim", args);
    await exec(attacker, training, "claim", args);
    await expectBlocked(t, attacker, training);
    t.equal(await balance(token, attacker), before + 3n * DUCK, "one claim");
    t.equal(await balance(token, training), 7n * DUCK);
    t.equal((await training.getJob(1n)).outstanding, 2n * DUCK, "alice's part is still reserved");
  });

  t.test("a requester re-entering finishJob is refunded once", async (t) => {
    const { token, training, attacker, evaluator } = await load();
    const deadline = (await latestTime()) + 1000n;
    await exec(attacker, training, "createTrainingJob", [jobTerms(evaluator.address, deadline)]);
    await increaseTime(2000);
    const before = await balance(token, attacker);
    await arm(attacker, training, "finishJob", [1n, "0x"]);
    await exec(attacker, training, "finishJob", [1n, "0x"]);
    await expectBlocked(t, attacker, training);
    t.equal(await balance(token, attacker), before + 10n * DUCK);
    t.equal(await balance(token, training), 0n);
  });
});

t.test("InferencePool resists re-entry", async (t) => {
  t.test("a provider re-entering settle is paid once and the requester refunded once", async (t) => {
    const { token, inference, attacker, attackerAddress, alice, orchestrator } = await load();
    await call(inference, alice).createInferenceJob(ethers.ZeroHash, 10n * DUCK, orchestrator.address);
    const usage = { jobId: 1n, providers: [attackerAddress, alice.address], amounts: [3n * DUCK, 2n * DUCK] };
    const args = [1n, usage.providers, usage.amounts, await signUsage(orchestrator, inference, usage)];
    const [attackerBefore, aliceBefore] = [await balance(token, attacker), await balance(token, alice)];
    await arm(attacker, inference, "settle", args);
    await call(inference, alice).settle(...args);
    await expectBlocked(t, attacker, inference);
    t.equal(await balance(token, attacker), attackerBefore + 3n * DUCK);
    t.equal(await balance(token, alice), aliceBefore + 2n * DUCK + 5n * DUCK, "payment plus refund");
    t.equal(await balance(token, inference), 0n);
  });

  t.test("a requester re-entering reclaim gets its escrow back once", async (t) => {
    const { token, inference, attacker, orchestrator } = await load();
    await exec(attacker, inference, "createInferenceJob", [ethers.ZeroHash, 10n * DUCK, orchestrator.address]);
    await increaseTime(86_400n);
    const before = await balance(token, attacker);
    await arm(attacker, inference, "reclaim", [1n]);
    await exec(attacker, inference, "reclaim", [1n]);
    await expectBlocked(t, attacker, inference);
    t.equal(await balance(token, attacker), before + 10n * DUCK, "refunded once");
    t.equal(await balance(token, inference), 0n);
  });
});
