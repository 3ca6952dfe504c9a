// Shared fixtures for the contract tests: deploy the four contracts on Hardhat's in-process chain,
// fund accounts, sign EIP-712 statements, move time, and assert exact custom errors.
import type { Test } from "tap";
import type { Contract } from "ethers";
import { StandardMerkleTree } from "@openzeppelin/merkle-tree";
import { ATTESTATION_TYPES, DOWNTIME_TYPES, JOB_ABORTED_TYPES, ROUND_COMMITMENT_TYPES } from "../../protocol/chain/eip712.js";

export const hre = (await import("hardhat")).default;
export const ethers = hre.ethers;

type Signer = Awaited<ReturnType<typeof ethers.getSigners>>[number];
/** A deployed contract with its ABI's methods (no generated typings: methods are looked up by name). */
type Deployed = Contract;
export type { Signer, Deployed as Contract };

export const DUCK = 10n ** 18n;
export const HOUR = 3600n;
export const ACK_WINDOW = 600n;
export const DISPUTE_WINDOW = 3600n;

export interface System {
  duck: Deployed;
  market: Deployed;
  training: Deployed;
  inference: Deployed;
  owner: Signer;
  /** Every other dev account, funded with 1,000,000 DUCK and approved to all three contracts. */
  users: Signer[];
}

/**
 * Deploys DuckToken and the three pools, then funds and approves every other dev account. The
 * marketplace needs no stake unless `minStake` is given.
 */
export async function deploySystem(ackWindow: bigint = ACK_WINDOW, minStake = 0n): Promise<System> {
  const [owner, ...users] = await ethers.getSigners();
  const duck = await deploy("DuckToken");
  const duckAddress = await duck.getAddress();
  const market = await deploy("ComputeMarketplace", duckAddress, ackWindow, minStake, DISPUTE_WINDOW);
  const training = await deploy("TrainingPool", duckAddress);
  const inference = await deploy("InferencePool", duckAddress);
  const system = { duck, market, training, inference, owner, users };
  for (const user of users) await fund(system, user, 1_000_000n * DUCK);
  return system;
}

export async function deploy(name: string, ...args: unknown[]): Promise<Deployed> {
  const factory = await ethers.getContractFactory(name);
  const contract = await factory.deploy(...args);
  await contract.waitForDeployment();
  return contract as unknown as Deployed;
}

/** Mints `amount` to `user` and approves all three pools for an unlimited amount. */
export async function fund(system: System, user: Signer, amount: bigint): Promise<void> {
  const { duck, market, training, inference, owner } = system;
  await call(duck, owner).mint(user.address, amount);
  for (const spender of [market, training, inference]) {
    await call(duck, user).approve(await spender.getAddress(), ethers.MaxUint256);
  }
}

/** The contract's methods, sent from `signer`. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function call(contract: Deployed, signer: Signer): any {
  // The signer comes from Hardhat's CommonJS copy of ethers, the Contract type from the ESM copy.
  return contract.connect(signer as unknown as Parameters<Deployed["connect"]>[0]);
}

/**
 * Runs `build` once and snapshots the chain; later calls revert to that snapshot, so every test
 * starts from the same freshly deployed state without deploying again.
 */
export function fixture<T>(build: () => Promise<T>): () => Promise<T> {
  let snapshot: string | undefined;
  let value: T;
  return async () => {
    if (snapshot === undefined) {
      value = await build();
    } else {
      await send("evm_revert", [snapshot]);
    }
    snapshot = (await send("evm_snapshot", [])) as string;
    return value;
  };
}

export function send(method: string, params: unknown[] = []): Promise<unknown> {
  return hre.network.provider.send(method, params);
}

export async function latestTime(): Promise<bigint> {
  const block = await ethers.provider.getBlock("latest");
  return BigInt(block!.timestamp);
}

/** Moves the clock forward by `seconds` and mines a block. */
export async function increaseTime(seconds: bigint | number): Promise<void> {
  await send("evm_increaseTime", [Number(seconds)]);
  await send("evm_mine");
}

/** The next transaction's block gets exactly this timestamp. */
export async function setNextTime(timestamp: bigint): Promise<void> {
  await send("evm_setNextBlockTimestamp", [Number(timestamp)]);
}

/** Timestamp of the block that mined `tx`. */
export async function timeOf(tx: { wait(): Promise<unknown> }): Promise<bigint> {
  const receipt = (await tx.wait()) as { blockNumber: number };
  const block = await ethers.provider.getBlock(receipt.blockNumber);
  return BigInt(block!.timestamp);
}

export async function balanceOf(system: System, who: Signer | Deployed): Promise<bigint> {
  const address = "address" in who ? who.address : await who.getAddress();
  return system.duck.balanceOf(address) as Promise<bigint>;
}

export interface Attestation {
  jobId: bigint;
  round: number;
  contributor: string;
  updateHash: string;
  accuracyBps: number;
  numSamples: bigint;
}

async function domain(contract: Deployed, name: string) {
  const { chainId } = await ethers.provider.getNetwork();
  return { name, version: "1", chainId, verifyingContract: await contract.getAddress() };
}

export async function signAttestation(evaluator: Signer, training: Deployed, a: Attestation): Promise<string> {
  return evaluator.signTypedData(await domain(training, "QuackMesh TrainingPool"), ATTESTATION_TYPES, a);
}

/** Address that `signature` recovers to for attestation `a` (what the contract reports on a mismatch). */
export async function recoverAttestation(training: Deployed, a: Attestation, signature: string): Promise<string> {
  return ethers.verifyTypedData(await domain(training, "QuackMesh TrainingPool"), ATTESTATION_TYPES, a, signature);
}

export interface RoundCommitment {
  jobId: bigint;
  round: number;
  rewardsRoot: string;
  updatesRoot: string;
  modelHash: string;
  total: bigint;
}

export async function signRoundCommitment(evaluator: Signer, training: Deployed, c: RoundCommitment): Promise<string> {
  return evaluator.signTypedData(await domain(training, "QuackMesh TrainingPool"), ROUND_COMMITMENT_TYPES, c);
}

/** Address that `signature` recovers to for commitment `c`. */
export async function recoverRoundCommitment(training: Deployed, c: RoundCommitment, signature: string): Promise<string> {
  return ethers.verifyTypedData(await domain(training, "QuackMesh TrainingPool"), ROUND_COMMITMENT_TYPES, c, signature);
}

/** The leaf types of a round's rewards tree, as TrainingPool.claim hashes them. */
export const REWARD_LEAF = ["uint256", "uint32", "uint32", "address", "uint256"];
export type RewardLeaf = [bigint, number, number, string, bigint];

/** A round's rewards: the StandardMerkleTree of its leaves, and each contributor's leaf index, amount and proof. */
export interface RewardsTree {
  root: string;
  total: bigint;
  /** How many leaves: commitRound's gas hint. */
  leaves: number;
  /** Index of `contributor`'s leaf (its first leaf when it has several). */
  index(contributor: string): number;
  /** Proof of `contributor`'s leaf (its first leaf when it has several). */
  proof(contributor: string): string[];
  amount(contributor: string): bigint;
}

/** Leaves are indexed by their position in `amounts`. */
export function rewardsTree(jobId: bigint, round: number, amounts: [string, bigint][]): RewardsTree {
  const values: RewardLeaf[] = amounts.map(([who, amount], i) => [jobId, round, i, who, amount]);
  const tree = StandardMerkleTree.of(values, REWARD_LEAF);
  const index = (who: string) => amounts.findIndex(([a]) => a.toLowerCase() === who.toLowerCase());
  return {
    root: tree.root,
    total: amounts.reduce((sum, [, a]) => sum + a, 0n),
    leaves: amounts.length,
    index,
    proof: (who) => tree.getProof(index(who)),
    amount: (who) => amounts[index(who)][1],
  };
}

/** What createTrainingJob takes (ITrainingPool.JobTerms). */
export interface JobTerms {
  modelHash: string;
  totalRewardPool: bigint;
  roundBudget: bigint;
  maxPerContributor: bigint;
  flatPerUpdate: bigint;
  rounds: number;
  accuracyThresholdBps: number;
  evaluator: string;
  deadline: bigint;
  claimWindow: bigint;
}

/** Terms with a whole pool per round and per contributor, no flat part, no threshold, no claim window. */
export function jobTerms(evaluator: string, deadline: bigint, overrides: Partial<JobTerms> = {}): JobTerms {
  const pool = overrides.totalRewardPool ?? 10n * DUCK;
  return {
    modelHash: ethers.ZeroHash,
    totalRewardPool: pool,
    roundBudget: pool,
    maxPerContributor: overrides.roundBudget ?? pool,
    flatPerUpdate: 0n,
    rounds: 1,
    accuracyThresholdBps: 0,
    evaluator,
    deadline,
    claimWindow: 0n,
    ...overrides,
  };
}

/** The terms as the tuple the contract returns in TrainingJobCreated (field order of JobTerms). */
export function termsTuple(t: JobTerms): unknown[] {
  return [t.modelHash, t.totalRewardPool, t.roundBudget, t.maxPerContributor, t.flatPerUpdate, t.rounds, t.accuracyThresholdBps, t.evaluator, t.deadline, t.claimWindow];
}

export async function signJobFinished(evaluator: Signer, training: Deployed, jobId: bigint): Promise<string> {
  const types = { JobFinished: [{ name: "jobId", type: "uint256" }] };
  return evaluator.signTypedData(await domain(training, "QuackMesh TrainingPool"), types, { jobId });
}

export async function signJobAborted(evaluator: Signer, training: Deployed, jobId: bigint, rounds: number): Promise<string> {
  return evaluator.signTypedData(await domain(training, "QuackMesh TrainingPool"), JOB_ABORTED_TYPES, { jobId, rounds });
}

/** The arbiter's statement that rental `rentalId` was down `downtimeSeconds`. */
export async function signDowntime(arbiter: Signer, market: Deployed, rentalId: bigint, downtimeSeconds: bigint): Promise<string> {
  return arbiter.signTypedData(await domain(market, "QuackMesh ComputeMarketplace"), DOWNTIME_TYPES, { rentalId, downtimeSeconds });
}

export async function signUsage(
  orchestrator: Signer,
  inference: Deployed,
  usage: { jobId: bigint; providers: string[]; amounts: bigint[] },
): Promise<string> {
  const types = {
    Usage: [
      { name: "jobId", type: "uint256" },
      { name: "providers", type: "address[]" },
      { name: "amounts", type: "uint256[]" },
    ],
  };
  return orchestrator.signTypedData(await domain(inference, "QuackMesh InferencePool"), types, usage);
}

/** Hex revert data carried somewhere in an error thrown by ethers or Hardhat. */
export function revertData(error: unknown, depth = 0): string | undefined {
  if (error === null || typeof error !== "object" || depth > 4) return undefined;
  const e = error as Record<string, unknown>;
  if (typeof e.data === "string" && e.data.startsWith("0x")) return e.data;
  for (const key of ["error", "info", "cause"]) {
    const found = revertData(e[key], depth + 1);
    if (found) return found;
  }
  return undefined;
}

function normalize(value: unknown): unknown {
  if (typeof value === "bigint" || typeof value === "number") return value.toString();
  if (typeof value === "string") return value.toLowerCase();
  if (Array.isArray(value)) return value.map(normalize);
  return value;
}

/**
 * Asserts that `promise` reverts with the custom error `name` of `contract` and exactly `args`
 * (numbers and bigints compare by value, addresses case-insensitively).
 */
export async function expectRevert(
  t: Test,
  promise: Promise<unknown>,
  contract: Deployed,
  name: string,
  args: unknown[] = [],
): Promise<void> {
  let error: unknown;
  try {
    await promise;
  } catch (e) {
    error = e;
  }
  if (error === undefined) {
    t.fail(`expected revert ${name}, but the call succeeded`);
    return;
  }
  const data = revertData(error);
  const parsed = data ? contract.interface.parseError(data) : null;
  if (!parsed) {
    t.fail(`expected revert ${name}, got: ${(error as Error).message}`);
    return;
  }
  t.equal(parsed.name, name, `reverts with ${name}`);
  t.same(normalize([...parsed.args]), normalize(args), `${name} carries ${args.length} expected argument(s)`);
}

/** Gas used by a sent transaction. */
export async function gasOf(tx: { wait(): Promise<unknown> }): Promise<bigint> {
  const receipt = (await tx.wait()) as { gasUsed: bigint };
  return receipt.gasUsed;
}

export function randomHash(seed: string): string {
  return ethers.keccak256(ethers.toUtf8Bytes(seed));
}

/** Arguments of every `name` event that `contract` emitted in `tx`, as plain arrays. */
export async function eventsOf(tx: { wait(): Promise<unknown> }, contract: Deployed, name: string): Promise<unknown[][]> {
  const receipt = (await tx.wait()) as { logs: { address: string; topics: string[]; data: string }[] };
  const address = (await contract.getAddress()).toLowerCase();
  const found: unknown[][] = [];
  for (const log of receipt.logs) {
    if (log.address.toLowerCase() !== address) continue;
    const parsed = contract.interface.parseLog({ topics: log.topics, data: log.data });
    if (parsed?.name === name) found.push([...parsed.args]);
  }
  return found;
}

/** Asserts that `tx` emitted exactly one `name` event of `contract` with exactly `args`. */
export async function expectEvent(
  t: Test,
  tx: { wait(): Promise<unknown> },
  contract: Deployed,
  name: string,
  args: unknown[],
): Promise<void> {
  const events = await eventsOf(tx, contract, name);
  t.equal(events.length, 1, `emits one ${name}`);
  t.same(normalize(events[0]), normalize(args), `${name} carries the expected arguments`);
}
