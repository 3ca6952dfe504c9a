import { Command } from "commander";
import { QuackError } from "../../../protocol/errors.js";
import { formatAmount } from "../../../protocol/chain/units.js";
import { makeOutput } from "../../lib/output.js";
import { addChainOptions, type ChainOptions } from "../../lib/chain/options.js";
import { parseJobId } from "../../lib/job/chainJob.js";
import { addOrchestratorOption, connectJob, type OrchestratorFlags } from "../../lib/job/connect.js";
import { verifyJob, type JobVerdict, type RoundVerdict } from "../../lib/job/verify.js";

/** A round number from --round: a whole number from 0. */
function parseRound(text: string): number {
  const n = /^\d{1,6}$/.test(text.trim()) ? Number(text.trim()) : NaN;
  if (!Number.isSafeInteger(n)) {
    throw new QuackError("BAD_ARGUMENT", `--round '${text}' is not a round number.`, { fix: "Pass a round from 0 (round 1 of a job is --round 0); `quackmesh job status ID` lists them." });
  }
  return n;
}

function describeRound(jobId: number, v: RoundVerdict): string {
  const head = `Job ${jobId}, round ${v.round}: ${v.ok ? "reproduced" : "MISMATCH"}: model ${v.modelHash}, ${v.updates} update(s), ${v.counted} counted, ${formatAmount(v.total)} DUCK committed${v.committed ? " on chain" : " (signed, not yet sent on chain)"}`;
  const lines = [head, ...v.checks.filter((c) => !v.ok || c.ok === false).map((c) => `  ${c.ok ? "ok  " : "FAIL"} ${c.name}: ${c.detail}`)];
  if (v.mine) {
    const m = v.mine;
    lines.push(
      `  your update ${m.counted ? "was counted" : `was left out (${m.excluded})`}: weight ${m.weight}${m.counted ? ` (${(100 * m.weightShare).toFixed(1)} % of the round)` : ""}, score ${m.score.toExponential(3)}, owed ${formatAmount(m.amount)} DUCK${m.amount > 0n ? (m.claimed ? ", claimed" : ", not claimed yet") : ""}`,
    );
  }
  return lines.join("\n");
}

function describe(v: JobVerdict): string {
  const lines = v.rounds.map((r) => describeRound(v.jobId, r));
  if (v.notParticipant.length) lines.push(`Rounds ${v.notParticipant.join(", ")}: ${v.caller} is not one of their contributors; only they and the requester may replay them.`);
  if (v.rounds.length === 0) lines.push(`Job ${v.jobId}: no closed round to verify for ${v.caller}.`);
  return lines.join("\n");
}

export function jobVerifyCommand(): Command {
  const cmd = new Command("verify")
    .argument("<id>", "job id")
    .description("replay a job's closed rounds and check their models, updates roots and reward splits against the chain")
    .option("--round <r>", "verify only this round (from 0)");
  addChainOptions(cmd, { defaultAccount: "requester" });
  return addOrchestratorOption(cmd)
    .addHelpText(
      "after",
      `
Downloads each round's input model and accepted updates (signed: only the requester and the
round's contributors may), replays the aggregation with the job's strategy, recomputes the
updates root and the contribution split from the published scores, and compares them with the
evaluator's signed commitment and with TrainingPool (getRoundCommitment, RoundCommitted). For a
contributor it says whether its update was counted and what it was owed. Exits 1 on a mismatch.

Examples:
  $ quackmesh job verify 1
  $ quackmesh job verify 1 --round 2 --account contributor1
  $ quackmesh job verify 1 --key ./me.key --network duckchain --json`,
    )
    .action(async (id: string, flags: ChainOptions & OrchestratorFlags & { round?: string }) => {
      const jobId = parseJobId(id);
      const round = flags.round === undefined ? undefined : parseRound(flags.round);
      const out = makeOutput(Boolean(flags.json));
      const conn = await connectJob(flags, "requester");
      let verdict: JobVerdict;
      try {
        verdict = await verifyJob(
          { client: conn.client, pool: conn.contracts.trainingPool, chainId: conn.chain.network.chainId, caller: conn.chain.signer.address },
          jobId,
          { round },
        );
      } finally {
        conn.close();
      }
      out.emit({ ...verdict }, describe(verdict));
      if (!verdict.ok) {
        const bad = verdict.rounds.filter((r) => !r.ok).map((r) => r.round);
        throw new QuackError("REPLAY_MISMATCH", `Job ${jobId}: round(s) ${bad.join(", ")} do not reproduce what was published or committed.`, {
          fix: "Keep this output as evidence; the failed checks name each figure that differs. Do not rely on this orchestrator's figures for those rounds.",
        });
      }
    });
}
