/**
 * How a round's rewards are split and committed, shared by the evaluator (who signs), contributors
 * (who claim) and `job verify` (who checks). A round's budget is split in proportion to each
 * update's positive marginal contribution, each share capped; what is not given stays in the pool.
 * The split is committed on chain as the root of an OpenZeppelin StandardMerkleTree.
 */
import { StandardMerkleTree } from "@openzeppelin/merkle-tree";

/**
 * Leaf types of TrainingPool's reward tree: (jobId, round, index, contributor, amount). The index
 * (0, 1, 2, ... in the order of the round's paid shares) is where TrainingPool marks the leaf claimed.
 */
export const REWARD_LEAF_TYPES = ["uint256", "uint32", "uint32", "address", "uint256"] as const;
/** Leaf types of a round's accepted-updates tree: (updateHash, weight, counted). */
export const UPDATE_LEAF_TYPES = ["bytes32", "uint256", "bool"] as const;

/** A contribution or a gain (validation loss, nats) at or below this counts as none. */
export const MIN_CONTRIBUTION = 1e-5;

/** Contributions are turned into integers at this scale before the split, so it is exact and reproducible. */
const SCORE_SCALE = 1e9;

export interface ScoredContributor {
  contributor: string;
  /** Marginal contribution: validation loss the update's training saved the round's model (higher is better). */
  score: number;
}

export interface RewardShare extends ScoredContributor {
  /** DUCK wei owed for the round. */
  amount: bigint;
}

/** What a round's split is computed from: the score of each update counted in the model, 0 for one left out. */
export function payableScores(updates: Array<{ contributor: string; score: number; excluded: string | null }>): ScoredContributor[] {
  return updates.map((u) => ({ contributor: u.contributor, score: u.excluded === null ? u.score : 0 }));
}

/** Splits `budget` in proportion to the scores above MIN_CONTRIBUTION, each share at most `cap`. */
export function splitRewards(scored: ScoredContributor[], budget: bigint, cap: bigint): RewardShare[] {
  const units = scored.map((s) => (Number.isFinite(s.score) && s.score > MIN_CONTRIBUTION ? BigInt(Math.round(s.score * SCORE_SCALE)) : 0n));
  const sum = units.reduce((a, b) => a + b, 0n);
  return scored.map((s, i) => {
    const share = sum === 0n ? 0n : (budget * units[i]) / sum;
    return { ...s, amount: share > cap ? cap : share };
  });
}

/** A contributor's leaf: what TrainingPool.claim takes besides the amount. */
export interface RewardLeaf {
  index: number;
  proof: string[];
}

export interface RewardTree {
  root: string;
  total: bigint;
  /** Each contributor's leaf (lowercase address → leaf); only contributors with an amount. */
  leaves: Map<string, RewardLeaf>;
}

/**
 * The Merkle tree of a round's amounts above zero. A round in which nobody earned commits one
 * leaf for the zero address with amount 0, so every round has a root (nobody can claim it).
 */
export function rewardTree(jobId: number, round: number, shares: Array<{ contributor: string; amount: bigint }>): RewardTree {
  const paid = shares.filter((s) => s.amount > 0n);
  const values = paid.length
    ? paid.map((s, i) => [String(jobId), String(round), String(i), s.contributor, s.amount.toString()])
    : [[String(jobId), String(round), "0", "0x0000000000000000000000000000000000000000", "0"]];
  const tree = StandardMerkleTree.of(values, [...REWARD_LEAF_TYPES]);
  const leaves = new Map<string, RewardLeaf>();
  if (paid.length) paid.forEach((s, i) => leaves.set(s.contributor.toLowerCase(), { index: i, proof: tree.getProof(i) }));
  return { root: tree.root, total: paid.reduce((a, s) => a + s.amount, 0n), leaves };
}

/** Root of the round's accepted updates with the weight each had and whether it was counted in the model. */
export function updatesRoot(updates: Array<{ updateHash: string; weight: number; counted: boolean }>): string {
  if (updates.length === 0) return "0x" + "0".repeat(64);
  const tree = StandardMerkleTree.of(
    updates.map((u) => [u.updateHash, String(u.weight), u.counted]),
    [...UPDATE_LEAF_TYPES],
  );
  return tree.root;
}
