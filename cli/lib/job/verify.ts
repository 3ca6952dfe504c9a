/**
 * `quackmesh job verify`: replay a job's closed rounds from their files and check every figure
 * the orchestrator published against what the chain holds. Per round:
 *   - each downloaded update hashes to its published update hash, and the input model to the
 *     round's input (the job's on-chain initial model for round 0, the previous round's model after);
 *   - the aggregation, replayed with the job's strategy on the published weights and exclusions,
 *     gives the published model hash, and the updates give the published updates root;
 *   - the split recomputed from the published scores (round budget and per-contributor cap from
 *     the chain) gives the published amounts, rewards root and total;
 *   - the commitment is signed by the job's evaluator for this chain's TrainingPool;
 *   - on chain: getRoundCommitment holds that rewards root and total, and the RoundCommitted event
 *     holds that updates root and model hash (a round nobody committed yet is reported as such).
 * What cannot be rechecked without the requester's validation set are the scores themselves.
 */
import { getAddress, type Contract } from "ethers";
import { replayRound } from "../../../orchestrator/index.js";
import type { JobDetail, OrchestratorClient, RoundRewardsReply } from "../../../orchestrator/client.js";
import { recoverCommitmentSigner, trainingPoolDomain } from "../../../protocol/chain/eip712.js";
import { QuackError, isQuackError } from "../../../protocol/errors.js";
import { payableScores, rewardTree, splitRewards } from "../../../protocol/rewards.js";
import { readChainJob, type ChainJob } from "./chainJob.js";

export interface VerifyDeps {
  /** A client that signs with the caller's wallet (the requester or a contributor of the rounds). */
  client: OrchestratorClient;
  pool: Contract;
  chainId: number;
  /** The caller's address: whose update the verdict describes. */
  caller: string;
}

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

/** The caller's own update in a round. */
export interface OwnUpdate {
  updateHash: string;
  counted: boolean;
  excluded: string | null;
  weight: number;
  /** Its part of the round's total weight (counted updates only). */
  weightShare: number;
  score: number;
  /** DUCK wei owed. */
  amount: bigint;
  claimed: boolean;
}

export interface RoundVerdict {
  round: number;
  /** Every check passed (a round not yet committed on chain can still be ok). */
  ok: boolean;
  /** Whether the round's commitment is on chain. */
  committed: boolean;
  modelHash: string;
  updates: number;
  counted: number;
  total: bigint;
  checks: Check[];
  mine: OwnUpdate | null;
}

export interface JobVerdict {
  jobId: number;
  caller: string;
  ok: boolean;
  rounds: RoundVerdict[];
  /** Closed rounds left out because the caller is neither the requester nor one of their contributors. */
  notParticipant: number[];
}

const ZERO = "0x" + "0".repeat(64);

function check(name: string, ok: boolean, good: string, bad: string): Check {
  return { name, ok, detail: ok ? good : bad };
}

/** The RoundCommitted event of (jobId, round): the updates root and model hash it recorded. */
async function committedEvent(pool: Contract, jobId: number, round: number, fromBlock: number): Promise<{ updatesRoot: string; modelHash: string } | null> {
  const logs = await pool.queryFilter(pool.filters.RoundCommitted(jobId, round), fromBlock);
  const last = logs.at(-1) as { args?: { updatesRoot: string; modelHash: string } } | undefined;
  return last?.args ? { updatesRoot: last.args.updatesRoot, modelHash: last.args.modelHash } : null;
}

export async function verifyRound(deps: VerifyDeps, job: JobDetail, onChain: ChainJob, r: RoundRewardsReply): Promise<RoundVerdict> {
  const { client, pool } = deps;
  const jobId = job.jobId;
  const round = r.round;
  const history = job.history.find((h) => h.round === round);
  const checks: Check[] = [];

  // Files: the input model and every accepted update, signed downloads.
  const inputModel = await client.roundInputModel(jobId, round);
  const files = [];
  for (const u of r.updates) files.push({ ...u, bytes: await client.roundUpdate(jobId, round, u.updateHash) });
  const replay = await replayRound({ round, settings: job.settings, inputModel, updates: files });

  const wrongBytes = replay.updates.filter((u) => u.sha256 !== u.updateHash);
  checks.push(check("update files", wrongBytes.length === 0, `${files.length} update(s) hash to their published hashes`, `update(s) ${wrongBytes.map((u) => u.updateHash).join(", ")} do not hash to what was published`));
  const expectedInput = round === 0 ? onChain.modelHash : job.history.find((h) => h.round === round - 1)?.modelHash;
  checks.push(
    check(
      "input model",
      replay.inputModelHash === history?.inputModelHash && replay.inputModelHash === expectedInput,
      `round ${round} started from ${round === 0 ? "the job's on-chain initial model" : `round ${round - 1}'s model`}`,
      `the input model hashes to ${replay.inputModelHash}; the round lists ${history?.inputModelHash}, expected ${expectedInput}`,
    ),
  );
  checks.push(check("model", replay.modelHash === r.modelHash, `aggregation replayed bit-exactly: ${r.modelHash}`, `replayed model ${replay.modelHash} ≠ published ${r.modelHash}`));
  checks.push(check("updates root", replay.updatesRoot === r.updatesRoot, "updates and weights give the published updates root", `replayed ${replay.updatesRoot} ≠ published ${r.updatesRoot}`));
  const replayed = new Map(replay.updates.map((u) => [u.updateHash, u]));
  const farther = r.updates.filter((u) => replayed.get(u.updateHash)?.deltaNorm !== u.deltaNorm);
  checks.push(check("distances", farther.length === 0, "each update's distance to the input model is the published one (the outlier bound's input)", `published distances differ for ${farther.map((u) => u.contributor).join(", ")}`));
  const overClaimed = r.updates.filter((u) => u.weight > u.claimedSamples);
  checks.push(check("weights", overClaimed.length === 0, "no weight above its claimed sample count", `weight above the claim for ${overClaimed.map((u) => u.contributor).join(", ")}`));

  // The split, from the published scores and the chain's terms.
  const budget = BigInt(r.budget);
  const shares = splitRewards(payableScores(r.updates), budget, onChain.maxPerContributor);
  const tree = rewardTree(jobId, round, shares);
  const wrongAmounts = shares.filter((s, i) => s.amount.toString() !== r.updates[i].amount);
  checks.push(check("budget", budget <= onChain.roundBudget, `split ${budget} wei, within the round budget ${onChain.roundBudget}`, `budget ${budget} is above the on-chain round budget ${onChain.roundBudget}`));
  checks.push(
    check(
      "split",
      wrongAmounts.length === 0 && tree.root === r.rewardsRoot && tree.total.toString() === r.total,
      `amounts recomputed from the scores give the rewards root and total ${r.total}`,
      `recomputed root ${tree.root} total ${tree.total}; published ${r.rewardsRoot} total ${r.total}${wrongAmounts.length ? `; amounts differ for ${wrongAmounts.map((s) => s.contributor).join(", ")}` : ""}`,
    ),
  );
  let signer = "";
  try {
    signer = recoverCommitmentSigner(
      trainingPoolDomain(deps.chainId, await pool.getAddress()),
      { jobId, round, rewardsRoot: r.rewardsRoot, updatesRoot: r.updatesRoot, modelHash: r.modelHash, total: BigInt(r.total) },
      r.signature,
    );
  } catch {
    // unreadable signature: reported below
  }
  checks.push(check("signature", signer !== "" && getAddress(signer) === getAddress(onChain.evaluator), `signed by the job's evaluator ${onChain.evaluator}`, `signed by ${signer || "nobody readable"}, the job's evaluator is ${onChain.evaluator}`));

  // The chain: state for the rewards root and total, the event for the updates root and model.
  const [root, total] = (await pool.getFunction("getRoundCommitment")(jobId, round)) as [string, bigint, bigint];
  const committed = root !== ZERO;
  if (committed) {
    checks.push(check("on-chain rewards", root === r.rewardsRoot && total.toString() === r.total, "getRoundCommitment holds the published rewards root and total", `chain holds root ${root} total ${total}`));
    const ev = await committedEvent(pool, jobId, round, job.chain.blockNumber);
    checks.push(
      check(
        "on-chain model",
        ev !== null && ev.modelHash === replay.modelHash && ev.updatesRoot === replay.updatesRoot,
        "RoundCommitted holds the replayed model hash and updates root",
        ev ? `RoundCommitted holds model ${ev.modelHash}, updates root ${ev.updatesRoot}` : "no RoundCommitted event found",
      ),
    );
  }

  const weightOf = r.updates.filter((u) => u.excluded === null).reduce((a, u) => a + u.weight, 0);
  const mineIdx = r.updates.findIndex((u) => u.contributor.toLowerCase() === deps.caller.toLowerCase());
  let mine: OwnUpdate | null = null;
  if (mineIdx >= 0) {
    const u = r.updates[mineIdx];
    mine = {
      updateHash: u.updateHash,
      counted: u.excluded === null,
      excluded: u.excluded,
      weight: u.weight,
      weightShare: u.excluded === null && weightOf > 0 ? u.weight / weightOf : 0,
      score: u.score,
      amount: shares[mineIdx].amount,
      claimed: committed && u.leaf !== null && Boolean(await pool.getFunction("isClaimed")(jobId, round, u.leaf)),
    };
  }
  return {
    round,
    ok: checks.every((c) => c.ok),
    committed,
    modelHash: replay.modelHash,
    updates: r.updates.length,
    counted: r.updates.filter((u) => u.excluded === null).length,
    total: tree.total,
    checks,
    mine,
  };
}

/** Verify one round (`round`) or every closed round the caller may replay. */
export async function verifyJob(deps: VerifyDeps, jobId: number, opts: { round?: number } = {}): Promise<JobVerdict> {
  const job = await deps.client.getJob(jobId);
  const onChain = await readChainJob(deps.pool, jobId);
  if (getAddress(onChain.requester) !== getAddress(job.requester)) {
    throw new QuackError("WRONG_ORCHESTRATOR", `The orchestrator's job ${jobId} belongs to ${job.requester}; on chain it is ${onChain.requester}'s.`, {
      fix: "Use the orchestrator that runs this job (--orchestrator) on the chain it was created on (--network / --rpc).",
    });
  }
  const wanted = opts.round !== undefined ? [opts.round] : job.history.filter((h) => h.status === "closed").map((h) => h.round);
  const rounds: RoundVerdict[] = [];
  const notParticipant: number[] = [];
  const caller = deps.caller.toLowerCase();
  for (const round of wanted) {
    let r: RoundRewardsReply;
    try {
      r = await deps.client.roundRewards(jobId, round);
    } catch (err) {
      if (opts.round === undefined && isQuackError(err) && err.code === "ROUND_NOT_CLOSED") continue;
      throw err;
    }
    const member = caller === job.requester.toLowerCase() || r.updates.some((u) => u.contributor.toLowerCase() === caller);
    if (!member && opts.round === undefined) {
      notParticipant.push(round);
      continue;
    }
    rounds.push(await verifyRound(deps, job, onChain, r));
  }
  return { jobId, caller: deps.caller, ok: rounds.every((r) => r.ok), rounds, notParticipant };
}
