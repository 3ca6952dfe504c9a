/**
 * Claiming one attested update in TrainingPool.submitUpdate. Asks hasSubmitted first so a
 * restart never pays twice, reads the reward from RewardDistributed, and records the outcome.
 */
import type { AttestationReply } from "../../../orchestrator/client.js";
import { sendTx } from "../chain/tx.js";
import { poolEvents, revertName } from "../job/chainJob.js";
import { Backoff, isTransient, sleep } from "../job/wait.js";
import { REFUSAL_HINTS, type ContributorEvent } from "./events.js";
import type { LoopContext } from "./send.js";

/** The contract's refusals: fatal ones end the loop (the job pays nothing more to anyone). */
const CHAIN_REFUSALS: Record<string, { fatal: boolean }> = {
  BelowThreshold: { fatal: false },
  RoundOutOfRange: { fatal: false },
  DeadlinePassed: { fatal: true },
  JobAlreadyFinished: { fatal: true },
  PoolExhausted: { fatal: true },
};

const FIXES = {
  InvalidAttestation: "The attestation was not signed by the job's evaluator for this wallet; use the orchestrator that runs this job.",
};

export async function* claimReward(ctx: LoopContext, round: number, att: AttestationReply): AsyncGenerator<ContributorEvent, "ok" | "stop"> {
  const { jobId, address, state, signal } = ctx;
  const { trainingPool: pool, duck } = ctx.chain!;
  const retry = new Backoff(500, 10_000);
  const alreadyPaid = async (): Promise<"ok"> => {
    await state.setRound(round, { status: "submitted", attestation: att, code: "AlreadySubmitted" });
    return "ok";
  };
  for (;;) {
    try {
      if (await pool.getFunction("hasSubmitted")(jobId, round, address)) {
        yield { event: "skipped", jobId, round, reason: "this round was already paid to this address on chain" };
        return alreadyPaid();
      }
      const receipt = await sendTx(pool, "submitUpdate", [att.jobId, att.round, att.updateHash, att.accuracyBps, att.numSamples, att.signature], { fixes: FIXES });
      const paid = poolEvents(pool, receipt.logs, await pool.getAddress()).find((e) => e.name === "RewardDistributed");
      const reward = paid ? BigInt(paid.args.amount as bigint) : 0n;
      await state.setRound(round, { status: "submitted", attestation: att, txHash: receipt.hash, reward: reward.toString() });
      const balance = duck ? ((await duck.getFunction("balanceOf")(address)) as bigint) : null;
      yield { event: "submitted", jobId, round, txHash: receipt.hash, reward, totalReward: state.paid, balance };
      return "ok";
    } catch (err) {
      if ((err as { code?: string }).code === "ABORTED") throw err;
      if (isTransient(err)) {
        const delayMs = retry.next();
        yield { event: "waiting", jobId, round, reason: `claiming on chain: ${(err as Error).message}`, delayMs };
        await sleep(delayMs, signal);
        continue;
      }
      const name = revertName(err);
      const message = `${(err as Error).message}${name && REFUSAL_HINTS[name] ? ` (${REFUSAL_HINTS[name]})` : ""}`;
      if (name === "AlreadySubmitted") {
        yield { event: "skipped", jobId, round, reason: message };
        return alreadyPaid();
      }
      const known = name ? CHAIN_REFUSALS[name] : undefined;
      if (!known) {
        yield { event: "refused", jobId, round, stage: "chain", code: name ?? (err as { code?: string }).code ?? "TX_FAILED", message, fatal: true };
        throw err;
      }
      await state.setRound(round, { status: "refused", attestation: att, code: name });
      yield { event: "refused", jobId, round, stage: "chain", code: name!, message, fatal: known.fatal };
      return known.fatal ? "stop" : "ok";
    }
  }
}
