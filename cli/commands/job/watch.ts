import { Command } from "commander";
import { OrchestratorClient } from "../../../orchestrator/client.js";
import { isQuackError } from "../../../protocol/errors.js";
import { makeOutput } from "../../lib/output.js";
import { addChainOptions, type ChainOptions } from "../../lib/chain/options.js";
import { parseJobId } from "../../lib/job/chainJob.js";
import { addOrchestratorOption, connectJob, orchestratorUrl, type JobConnection, type OrchestratorFlags } from "../../lib/job/connect.js";
import { parseWhole } from "../../lib/flags.js";
import { watchJob } from "../../lib/job/watch.js";
import { onStopSignal } from "../../lib/signals.js";
import { JobWatchView, initialJobWatch, jobWatchLine, reduceJobWatch } from "../../views/JobWatchView.js";
import { eventSink } from "../../views/live.js";

export function jobWatchCommand(): Command {
  const cmd = new Command("watch").argument("<id>", "job id").description("follow a job live: rounds, accuracy per round, updates, rewards paid");
  addChainOptions(cmd, { defaultAccount: "requester" });
  addOrchestratorOption(cmd)
    .option("--poll <ms>", "how often to ask the orchestrator", "1000")
    .addHelpText(
      "after",
      `
On a terminal a live view; with --json (or when piped) one event per line: status, round
(global accuracy on the requester's validation set; "metric" says "R²" for a regression model, whose
figure is its R²), reward (from RewardDistributed and RewardClaimed), finished.
Ends when the job has finished. Rewards need the chain; without it the rest still shows.

Examples:
  $ quackmesh job watch 1
  $ quackmesh job watch 1 --json | jq -c 'select(.event == "round")'`,
    )
    .action(async (id: string, flags: ChainOptions & OrchestratorFlags & { poll: string }) => {
      const jobId = parseJobId(id);
      const pollMs = parseWhole(flags.poll, "--poll", 50, 600_000);
      const out = makeOutput(Boolean(flags.json));
      let conn: JobConnection | undefined;
      try {
        conn = await connectJob(flags, "requester");
      } catch (err) {
        if (!isQuackError(err)) throw err;
        out.info(`Rewards not shown: ${err.message}`);
      }
      const client = conn?.client ?? new OrchestratorClient(orchestratorUrl(flags));
      const sink = eventSink({ json: out.json, view: JobWatchView, reduce: reduceJobWatch, initial: initialJobWatch(jobId), line: jobWatchLine });
      const stop = new AbortController();
      const offSignal = onStopSignal(() => stop.abort());
      try {
        for await (const e of watchJob({ client, jobId, pool: conn?.contracts.trainingPool, provider: conn?.chain.provider, pollMs, signal: stop.signal })) sink.push(e);
      } catch (err) {
        if (!(isQuackError(err) && err.code === "ABORTED")) throw err;
        process.exitCode = 130;
      } finally {
        offSignal();
        await sink.close();
        conn?.close();
      }
    });
  return cmd;
}
