// Gas benchmark of the QuackMesh contracts: deploys them on Hardhat's in-process chain, walks every
// external function through a realistic flow, prints gas per function and writes
// scripts/gas-report.json (committed, so that changes in gas show up in review).
// Run: npm run gas
import { writeFileSync } from "node:fs";
import path from "node:path";
// Types only: brings hre.ethers into HardhatRuntimeEnvironment; the config loads the plugin itself.
import type {} from "@nomicfoundation/hardhat-ethers";
import { StandardMerkleTree } from "@openzeppelin/merkle-tree";
import { ATTESTATION_TYPES, DOWNTIME_TYPES, JOB_ABORTED_TYPES, ROUND_COMMITMENT_TYPES } from "../protocol/chain/eip712.js";

const hre = (await import("hardhat")).default;
const { ethers } = hre;

/** Agreed ceilings, measured on the worst call of each function in this flow. */
const TARGETS: Record<string, number> = {
  "TrainingPool.submitUpdate": 120_000,
  "TrainingPool.commitRound": 120_000,
  "TrainingPool.claim": 90_000,
  "TrainingPool.claim (no receipt, no DUCK yet)": 90_000,
  "TrainingPool.commitRound (66 leaves: one claim-mark word prepared)": 120_000,
  "TrainingPool.claim (leaf 64 or 65 of 66) (no receipt, no DUCK yet)": 90_000,
  "ComputeMarketplace.rentMachine": 150_000,
  "ComputeMarketplace.listMachine": 180_000,
  "ComputeMarketplace.listStakedMachine": 180_000,
  "ComputeMarketplace.rentMachineWithArbiter": 175_000,
  "ComputeMarketplace.settleDowntime": 120_000,
};

const SPECS = JSON.stringify({ gpu: "NVIDIA H100 80GB HBM3", gpus: 1, vcpus: 16, ramGb: 128, diskGb: 64, region: "eu-west-1" });
const ENDPOINT = "203.0.113.7:22";
const SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGq0dHk9TQ7Bq5yqv1qW3o0ZJ0c5m3Vw0m9pC2m6Jq1s renter@quackmesh";
const DUCK = 10n ** 18n;

type Tx = { wait(): Promise<unknown> };
const samples = new Map<string, bigint[]>();

/** Sends `tx` and records its gas under `name`. */
async function measure(name: string, tx: Promise<Tx>): Promise<void> {
  const receipt = (await (await tx).wait()) as { gasUsed: bigint };
  samples.set(name, [...(samples.get(name) ?? []), receipt.gasUsed]);
}

async function advance(seconds: number): Promise<void> {
  await hre.network.provider.send("evm_increaseTime", [seconds]);
  await hre.network.provider.send("evm_mine", []);
}

async function deploy(name: string, ...args: unknown[]) {
  const contract = await (await ethers.getContractFactory(name)).deploy(...args);
  const receipt = (await contract.deploymentTransaction()!.wait()) as { gasUsed: bigint };
  samples.set(`${name}.<deploy>`, [receipt.gasUsed]);
  return contract;
}

async function domain(contract: { getAddress(): Promise<string> }, name: string) {
  const { chainId } = await ethers.provider.getNetwork();
  return { name, version: "1", chainId, verifyingContract: await contract.getAddress() };
}

async function run(): Promise<void> {
  const [owner, provider, renter, requester, evaluator, alice, bob, orchestrator, p1, p2, p3, carol, dave, erin, frank, grace, henry] = await ethers.getSigners();
  const duck = await deploy("DuckToken");
  const duckAddress = await duck.getAddress();
  const market = await deploy("ComputeMarketplace", duckAddress, 600, 0n, 3600);
  // A second marketplace that asks listings for a stake, for the accountable flow.
  const staked = await deploy("ComputeMarketplace", duckAddress, 600, 10n * DUCK, 3600);
  const training = await deploy("TrainingPool", duckAddress);
  const inference = await deploy("InferencePool", duckAddress);
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const as = (c: typeof duck, s: typeof owner): any => c.connect(s);

  for (const user of [renter, requester, provider]) {
    await measure("DuckToken.mint", as(duck, owner).mint(user.address, 1_000_000n * DUCK));
    for (const spender of [market, training, inference, staked]) {
      await measure("DuckToken.approve", as(duck, user).approve(await spender.getAddress(), ethers.MaxUint256));
    }
  }

  // Compute rental: list, rent, acknowledge, withdraw as time passes, end early, withdraw the rest.
  await measure("ComputeMarketplace.listMachine", as(market, provider).listMachine(SPECS, 2n * DUCK, ENDPOINT, 24));
  await measure("ComputeMarketplace.listMachine", as(market, provider).listMachine(SPECS, 3n * DUCK, ENDPOINT, 0));
  await measure("ComputeMarketplace.rentMachine", as(market, renter).rentMachine(1n, 8, 1n, SSH_KEY));
  await measure("ComputeMarketplace.acknowledgeRental", as(market, provider).acknowledgeRental(1n));
  await advance(3600);
  await measure("ComputeMarketplace.withdrawEarnings", as(market, provider).withdrawEarnings(1n));
  await advance(5400);
  await measure("ComputeMarketplace.withdrawEarnings", as(market, provider).withdrawEarnings(1n));
  await measure("ComputeMarketplace.endRental", as(market, renter).endRental(1n));
  await measure("ComputeMarketplace.withdrawEarnings", as(market, provider).withdrawEarnings(1n));
  // The machine is free again: a second rental is never acknowledged and gets cancelled.
  await measure("ComputeMarketplace.rentMachine", as(market, renter).rentMachine(1n, 2, 0n, SSH_KEY));
  await advance(601);
  await measure("ComputeMarketplace.cancelUnacknowledged", as(market, renter).cancelUnacknowledged(2n));
  await measure("ComputeMarketplace.rentMachine", as(market, renter).rentMachine(2n, 4, 1n, SSH_KEY));
  await measure("ComputeMarketplace.unlistMachine", as(market, provider).unlistMachine(2n));

  // Accountable rentals: a staked listing (relisted under the same key after a restart), a rental
  // naming an arbiter, a downtime statement for a third of the time; a second rental never
  // acknowledged (the penalty); the stake taken back after the dispute window.
  const key = ethers.keccak256(ethers.toUtf8Bytes("machine-key"));
  await measure("ComputeMarketplace.listStakedMachine", as(staked, provider).listStakedMachine(key, SPECS, 2n * DUCK, ENDPOINT, 24, 20n * DUCK));
  await measure("ComputeMarketplace.listStakedMachine", as(staked, provider).listStakedMachine(key, SPECS, 2n * DUCK, ENDPOINT, 24, 0n));
  await measure("ComputeMarketplace.rentMachineWithArbiter", as(staked, renter).rentMachineWithArbiter(1n, 3, 1n, SSH_KEY, orchestrator.address));
  await measure("ComputeMarketplace.acknowledgeRental", as(staked, provider).acknowledgeRental(1n));
  await advance(3600);
  await measure("ComputeMarketplace.withdrawEarnings", as(staked, provider).withdrawEarnings(1n));
  await advance(2 * 3600);
  const downtime = { rentalId: 1n, downtimeSeconds: 3600n };
  const downtimeSig = await orchestrator.signTypedData(await domain(staked, "QuackMesh ComputeMarketplace"), DOWNTIME_TYPES, downtime);
  await measure("ComputeMarketplace.settleDowntime", as(staked, renter).settleDowntime(1n, downtime.downtimeSeconds, downtimeSig));
  await measure("ComputeMarketplace.rentMachineWithArbiter", as(staked, renter).rentMachineWithArbiter(1n, 2, 0n, SSH_KEY, orchestrator.address));
  await advance(601);
  await measure("ComputeMarketplace.cancelUnacknowledged (with the penalty)", as(staked, renter).cancelUnacknowledged(2n));
  await measure("ComputeMarketplace.unlistMachine", as(staked, provider).unlistMachine(1n));
  await measure("ComputeMarketplace.withdrawStake", as(staked, provider).withdrawStake(1n));

  // Training. Job 1 pays a flat part per update: two contributors submit attested updates in each
  // of two rounds; each round's rewards are committed as a Merkle root over four or five
  // contributors and claimed with proofs; someone else than the requester finishes it after the
  // claim window. Job 2 pays no flat part: two new addresses submit (so they hold no DUCK when
  // they claim), the requester finishes it with the evaluator's signature once all is claimed.
  // Job 3 is reclaimed by its requester after the deadline. Job 4 has more leaves than a round's
  // own slot has claim marks for.
  const now = (await ethers.provider.getBlock("latest"))!.timestamp;
  const deadline = BigInt(now + 86_400);
  const model = ethers.keccak256(ethers.toUtf8Bytes("mnist-mlp-v1"));
  const terms = (d: bigint, flatPerUpdate: bigint, rounds: number) => ({
    modelHash: model,
    totalRewardPool: 100n * DUCK,
    roundBudget: 40n * DUCK,
    maxPerContributor: 20n * DUCK,
    flatPerUpdate,
    rounds,
    accuracyThresholdBps: 8500,
    evaluator: evaluator.address,
    deadline: d,
    claimWindow: 3600n,
  });
  const trainingDomain = await domain(training, "QuackMesh TrainingPool");
  type Who = typeof alice;
  const submit = async (jobId: bigint, round: number, who: Who) => {
    const a = { jobId, round, contributor: who.address, updateHash: ethers.keccak256(ethers.toUtf8Bytes(`${jobId}/${who.address}/${round}`)), accuracyBps: 9120, numSamples: 30_000n };
    const sig = await evaluator.signTypedData(trainingDomain, ATTESTATION_TYPES, a);
    await measure("TrainingPool.submitUpdate", as(training, who).submitUpdate(jobId, round, a.updateHash, a.accuracyBps, a.numSamples, sig));
  };
  /**
   * Commits `rewards` for the round, then every contributor claims; `fresh` ones hold neither a
   * receipt nor DUCK. `others` leaves (addresses that never claim) come before them in the tree.
   */
  const commitAndClaim = async (jobId: bigint, round: number, rewards: [Who, bigint][], fresh: Who[], others: string[] = [], name = "TrainingPool.claim", commitName = "TrainingPool.commitRound") => {
    const leaves = [...others.map((a) => [a, 1n] as const), ...rewards.map(([who, amount]) => [who.address, amount] as const)];
    const tree = StandardMerkleTree.of(leaves.map(([who, amount], i) => [jobId, round, i, who, amount]), ["uint256", "uint32", "uint32", "address", "uint256"]);
    const c = {
      jobId,
      round,
      rewardsRoot: tree.root,
      updatesRoot: ethers.keccak256(ethers.toUtf8Bytes(`${jobId}/updates/${round}`)),
      modelHash: ethers.keccak256(ethers.toUtf8Bytes(`${jobId}/model/${round}`)),
      total: leaves.reduce((sum, [, amount]) => sum + amount, 0n),
    };
    const sig = await evaluator.signTypedData(trainingDomain, ROUND_COMMITMENT_TYPES, c);
    await measure(commitName, as(training, orchestrator).commitRound(jobId, round, c.rewardsRoot, c.updatesRoot, c.modelHash, c.total, leaves.length, sig));
    for (const [j, [who, amount]] of rewards.entries()) {
      const i = others.length + j;
      await measure(fresh.includes(who) ? `${name} (no receipt, no DUCK yet)` : name, as(training, who).claim(jobId, round, i, amount, tree.getProof(i)));
    }
  };
  const finishedBy = (jobId: bigint) => evaluator.signTypedData(trainingDomain, { JobFinished: [{ name: "jobId", type: "uint256" }] }, { jobId });

  await measure("TrainingPool.createTrainingJob", as(training, requester).createTrainingJob(terms(deadline, DUCK, 2)));
  for (const who of [alice, bob]) await submit(1n, 0, who);
  await commitAndClaim(1n, 0, [[alice, 14n * DUCK], [bob, 11n * DUCK], [carol, 9n * DUCK], [dave, 3n * DUCK]], [carol, dave]);
  for (const who of [alice, bob]) await submit(1n, 1, who);
  await commitAndClaim(1n, 1, [[alice, 17n * DUCK], [bob, 8n * DUCK], [carol, 6n * DUCK], [dave, 4n * DUCK], [erin, 2n * DUCK]], [erin]);
  await advance(3600);
  await measure("TrainingPool.finishJob", as(training, alice).finishJob(1n, await finishedBy(1n)));

  await measure("TrainingPool.createTrainingJob", as(training, requester).createTrainingJob(terms(deadline, 0n, 1)));
  for (const who of [frank, grace]) await submit(2n, 0, who);
  await commitAndClaim(2n, 0, [[frank, 12n * DUCK], [grace, 10n * DUCK], [alice, 5n * DUCK], [bob, 2n * DUCK]], []);
  await measure("TrainingPool.finishJob", as(training, requester).finishJob(2n, await finishedBy(2n)));

  await measure("TrainingPool.createTrainingJob", as(training, requester).createTrainingJob(terms(deadline + 86_400n, DUCK, 2)));
  await advance(2 * 86_400);
  await measure("TrainingPool.finishJob", as(training, requester).finishJob(3n, "0x"));

  // Job 4: a round of 66 leaves whose last two (indexes 64 and 65) are claimed: past the 64 claim
  // marks a round keeps in its own slot, in a bitmap word that commitRound prepared (it is told the
  // leaf count), so the first of them (by an address with no DUCK) writes no fresh slot.
  const later = BigInt((await ethers.provider.getBlock("latest"))!.timestamp + 86_400);
  await measure("TrainingPool.createTrainingJob", as(training, requester).createTrainingJob(terms(later, 0n, 1)));
  const unclaimed = Array.from({ length: 64 }, (_, i) => ethers.getAddress(ethers.zeroPadValue(ethers.toBeHex(i + 1), 20)));
  await commitAndClaim(4n, 0, [[henry, 3n * DUCK], [alice, 2n * DUCK]], [henry], unclaimed, "TrainingPool.claim (leaf 64 or 65 of 66)", "TrainingPool.commitRound (66 leaves: one claim-mark word prepared)");

  // Aborts (their jobs created unmeasured, so the createTrainingJob row keeps its own flow): job 5
  // keeps the round in progress (one round budget reserved, the rest refunded); job 6 stops before
  // any round, so it finishes at once with the whole pool back.
  for (const [jobId, rounds] of [[5n, 1], [6n, 0]] as const) {
    await (await as(training, requester).createTrainingJob(terms(later, 0n, 3))).wait();
    const sig = await evaluator.signTypedData(trainingDomain, JOB_ABORTED_TYPES, { jobId, rounds });
    await measure("TrainingPool.abortJob", as(training, requester).abortJob(jobId, rounds, sig));
  }
  // Job 7 (created unmeasured): a round of 320 leaves, past what one prepared claim-mark word holds
  // (leaves 64-318), so its commitment prepares two.
  await (await as(training, requester).createTrainingJob(terms(later, 0n, 1))).wait();
  const many = Array.from({ length: 320 }, (_, i) => ethers.getAddress(ethers.zeroPadValue(ethers.toBeHex(i + 1), 20)));
  await commitAndClaim(7n, 0, [], [], many, "TrainingPool.claim", "TrainingPool.commitRound (320 leaves: two claim-mark words prepared)");

  // Inference: escrow, then settle against the orchestrator's signed usage of three providers.
  await measure("InferencePool.createInferenceJob", as(inference, requester).createInferenceJob(model, 50n * DUCK, orchestrator.address));
  const usage = { jobId: 1n, providers: [p1.address, p2.address, p3.address], amounts: [12n * DUCK, 9n * DUCK, 7n * DUCK] };
  const usageTypes = { Usage: [{ name: "jobId", type: "uint256" }, { name: "providers", type: "address[]" }, { name: "amounts", type: "uint256[]" }] };
  const usageSig = await orchestrator.signTypedData(await domain(inference, "QuackMesh InferencePool"), usageTypes, usage);
  await measure("InferencePool.settle", as(inference, p1).settle(1n, usage.providers, usage.amounts, usageSig));
  // An inference job nobody settled: the requester reclaims the escrow after RECLAIM_DELAY.
  await measure("InferencePool.createInferenceJob", as(inference, requester).createInferenceJob(model, 5n * DUCK, orchestrator.address));
  await advance(86_400);
  await measure("InferencePool.reclaim", as(inference, requester).reclaim(2n));
}

interface Row {
  calls: number;
  min: number;
  max: number;
  avg: number;
  target?: number;
}

function summarize(): Record<string, Row> {
  const rows: Record<string, Row> = {};
  for (const [name, gas] of [...samples.entries()].sort(([a], [b]) => a.localeCompare(b))) {
    const values = gas.map(Number);
    rows[name] = {
      calls: values.length,
      min: Math.min(...values),
      max: Math.max(...values),
      avg: Math.round(values.reduce((a, b) => a + b, 0) / values.length),
      ...(TARGETS[name] ? { target: TARGETS[name] } : {}),
    };
  }
  return rows;
}

// Artifacts are needed in-process; the compile task is a no-op when they are current.
await hre.run("compile", { quiet: true });
await run();
const rows = summarize();
const solidity = hre.config.solidity.compilers[0];
const report = {
  network: "hardhat (in-process)",
  solc: solidity.version,
  settings: { optimizer: solidity.settings.optimizer, evmVersion: solidity.settings.evmVersion },
  functions: rows,
};
const out = path.join(hre.config.paths.root, "scripts", "gas-report.json");
writeFileSync(out, JSON.stringify(report, null, 2) + "\n");

const table = Object.entries(rows).map(([name, r]) => ({
  function: name,
  calls: r.calls,
  min: r.min,
  max: r.max,
  avg: r.avg,
  target: r.target ?? "",
  ok: r.target === undefined ? "" : r.max <= r.target ? "yes" : "NO",
}));
console.table(table);
console.log(`wrote ${path.relative(process.cwd(), out)}`);
const over = table.filter((row) => row.ok === "NO");
if (over.length > 0) {
  console.error(`over target: ${over.map((row) => row.function).join(", ")}`);
  process.exitCode = 1;
}
