/**
 * Claiming a closed round's contribution reward: read the round's rewards from the orchestrator,
 * check the evaluator's commitment signature, send TrainingPool.commitRound if nobody did yet,
 * then TrainingPool.claim with this address's leaf and Merkle proof. isClaimed is asked first, so a
 * restart never claims twice; "none" is recorded when the round owes this address nothing.
 */
import { getAddress } from "ethers";
import { recoverCommitmentSigner, trainingPoolDomain } from "../../../protocol/chain/eip712.js";
import { QuackError } from "../../../protocol/errors.js";
import { sendTx } from "../chain/tx.js";
import { commitRoundArgs, revertName } from "../job/chainJob.js";
import { Backoff, isTransient, sleep } from "../job/wait.js";
import type { ContributorEvent } from "./events.js";
import type { LoopContext } from "./send.js";

/** "pending" while the round is still open; "done" once settled (claimed, or nothing owed). */
export async function* claimContribution(ctx: LoopContext, round: number): AsyncGenerator<ContributorEvent, "pending" | "done"> {
  const { client, jobId, address, state, signal } = ctx;
  const pool = ctx.chain!.trainingPool;
  const record = state.round(round);
  if (!record || record.contribution) return "done";
  const retry = new Backoff(500, 10_000);
  for (;;) {
    try {
      let r;
      try {
        r = await client.roundRewards(jobId, round);
      } catch (err) {
        if ((err as QuackError).code === "ROUND_NOT_CLOSED") return "pending";
        throw err;
      }
      const mine = r.updates.find((u) => u.contributor.toLowerCase() === address.toLowerCase());
      const amount = BigInt(mine?.amount ?? "0");
      const score = mine?.score ?? 0;
      if (amount === 0n) {
        await state.setRound(round, { ...record, contribution: { status: "none", amount: "0", score } });
        yield { event: "rewarded", jobId, round, score, excluded: mine?.excluded ?? null, amount: 0n, txHash: null, totalReward: state.paid };
        return "done";
      }
      const values = { jobId, round, rewardsRoot: r.rewardsRoot, updatesRoot: r.updatesRoot, modelHash: r.modelHash, total: BigInt(r.total) };
      const signer = recoverCommitmentSigner(trainingPoolDomain(r.chainId, r.trainingPool), values, r.signature);
      const evaluator = record.attestation?.evaluator;
      if (evaluator && getAddress(signer) !== getAddress(evaluator)) {
        throw new QuackError("BAD_ATTESTATION", `Round ${round}'s reward commitment is signed by ${signer}, not the job's evaluator ${evaluator}.`, {
          fix: "Use the orchestrator that runs this job (--orchestrator).",
        });
      }
      let txHash: string | undefined;
      if (!(await pool.getFunction("isClaimed")(jobId, round, mine!.leaf))) {
        if (!(await pool.getFunction("isRoundCommitted")(jobId, round))) {
          try {
            await sendTx(pool, "commitRound", commitRoundArgs(jobId, round, r));
          } catch (err) {
            // Another contributor committed the same round first: fine.
            if (revertName(err) !== "RoundAlreadyCommitted") throw err;
          }
        }
        const receipt = await sendTx(pool, "claim", [jobId, round, mine!.leaf, amount, mine!.proof]);
        txHash = receipt.hash;
      }
      const paid = BigInt(record.reward ?? "0") + amount;
      await state.setRound(round, { ...record, reward: paid.toString(), contribution: { status: "claimed", amount: amount.toString(), score, ...(txHash ? { txHash } : {}) } });
      yield { event: "rewarded", jobId, round, score, excluded: mine!.excluded, amount, txHash: txHash ?? null, totalReward: state.paid };
      return "done";
    } catch (err) {
      if ((err as { code?: string }).code === "ABORTED") throw err;
      if (!isTransient(err)) throw err;
      const delayMs = retry.next();
      yield { event: "waiting", jobId, round, reason: `claiming round ${round}'s reward: ${(err as Error).message}`, delayMs };
      await sleep(delayMs, signal);
    }
  }
}

/** Claim every settled-able round: those submitted on chain whose rounds closed. */
export async function* claimClosedRounds(ctx: LoopContext): AsyncGenerator<ContributorEvent, void> {
  for (const round of ctx.state.unsettled()) {
    if ((yield* claimContribution(ctx, round)) === "pending") return;
  }
}
