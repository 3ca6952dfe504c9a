import { Command } from "commander";
import { formatAmount } from "../../protocol/chain/units.js";
import { addChainOptions, openChain, type ChainOptions } from "../lib/chain/options.js";
import { readHistory, type History } from "../lib/history.js";
import { OrchestratorClient, type JobProgress } from "../../orchestrator/client.js";
import { addOrchestratorOption, orchestratorUrl, type OrchestratorFlags } from "../lib/job/connect.js";
import { makeOutput } from "../lib/output.js";

export function historyCommand(): Command {
  const cmd = new Command("history").description("the wallet's own history from chain events: jobs created, updates sent and paid, rentals made and served, inference paid");
  return addOrchestratorOption(addChainOptions(cmd, { defaultAccount: "requester" }))
    .addHelpText(
      "after",
      `
Read from the contracts' events since the deployment, for the wallet in use (--key,
QUACKMESH_PRIVATE_KEY, or --account on the local chain); no orchestrator needed. Rounds count
from 0. A rental's cost is its escrow less every refund, once it is over. Jobs still running are
looked up on the orchestrator (--orchestrator) when it answers: a stalled one shows why and the fix.

Examples:
  $ quackmesh history
  $ quackmesh history --account contributor1
  $ quackmesh history --key ./provider.key --network duckchain --json`,
    )
    .action(async (flags: ChainOptions & OrchestratorFlags) => {
      const out = makeOutput(Boolean(flags.json));
      const chain = await openChain(flags, { defaultAccount: "requester" });
      try {
        const h = await readHistory(await chain.contracts(), chain.provider, chain.signer.address);
        const progress = await runningProgress(new OrchestratorClient(orchestratorUrl(flags)), h, (why) => out.info(`Progress of running jobs not shown: ${why}`));
        const shown = { ...h, jobsCreated: h.jobsCreated.map((j) => ({ ...j, progress: progress.get(j.jobId) ?? null })) };
        out.emit({ event: "history", ...shown }, describe(shown));
      } finally {
        chain.close();
      }
    });
}

/** The orchestrator's verdict on each running job of the history; none when it does not answer (history needs only the chain). */
async function runningProgress(client: OrchestratorClient, h: History, skipped: (why: string) => void): Promise<Map<number, JobProgress>> {
  const found = new Map<number, JobProgress>();
  for (const j of h.jobsCreated.filter((x) => x.status === "running")) {
    try {
      const p = (await client.getJob(Number(j.jobId))).progress;
      if (p) found.set(j.jobId, p);
    } catch (err) {
      skipped(err instanceof Error ? err.message : String(err));
      break;
    }
  }
  return found;
}

const duck = (v: bigint) => `${formatAmount(v)} DUCK`;
type Shown = Omit<History, "jobsCreated"> & { jobsCreated: Array<History["jobsCreated"][number] & { progress: JobProgress | null }> };
const stalledNote = (p: JobProgress | null) => (p && (p.state === "stalled" || p.state === "waiting") ? `; ${p.state}${p.reason ? ` (${p.reason})` : ""}: ${p.message}${p.fix ? ` fix: ${p.fix}` : ""}` : "");

function describe(h: Shown): string {
  const lines = [`History of ${h.address} (blocks ${h.fromBlock}–${h.toBlock})`];
  const section = (title: string, rows: string[]) => lines.push("", `${title}${rows.length === 0 ? ": none" : ""}`, ...rows.map((r) => `  ${r}`));
  section(
    "Jobs created",
    h.jobsCreated.map((j) => `job ${j.jobId}: pool ${duck(j.pool)}, ${j.rounds} rounds, ${j.status}, refunded ${duck(j.refunded)} (tx ${j.txHash})${stalledNote(j.progress)}`),
  );
  section(
    "Updates sent",
    h.updates.map(
      (u) =>
        `job ${u.jobId} round ${u.round}: accuracy ${(u.accuracyBps / 100).toFixed(2)} % attested, ${duck(u.received)} at submission, ` +
        `${u.claimed === null ? "nothing claimed" : `${duck(u.claimed)} claimed (tx ${u.claimTx})`}${u.txHash ? ` (tx ${u.txHash})` : ""}`,
    ),
  );
  section(
    "Rentals made",
    h.rentalsMade.map(
      (r) =>
        `rental ${r.rentalId} (machine ${r.machineId}${r.jobId ? `, job ${r.jobId}` : ""}): ${r.hours} h, escrowed ${duck(r.escrowed)}, ` +
        `${r.cost === null ? "running" : `${r.status}: cost ${duck(r.cost)}, refund ${duck(r.refund)}`}`,
    ),
  );
  section(
    "Rentals served",
    h.rentalsServed.map((r) => `rental ${r.rentalId} (machine ${r.machineId}, renter ${r.renter}): ${r.hours} h, ${r.status}, earned ${duck(r.earned)}`),
  );
  section(
    "Inference paid",
    h.inference.map((i) => `inference job ${i.jobId}: escrowed ${duck(i.escrowed)}, ${i.status}${i.paid === null ? "" : `, paid ${duck(i.paid)}`}, refund ${duck(i.refund)}`),
  );
  const t = h.totals;
  lines.push(
    "",
    `Totals: pools ${duck(t.poolsEscrowed)} escrowed, ${duck(t.poolsRefunded)} refunded; contributions earned ${duck(t.contributionEarned)}; ` +
      `rent paid ${duck(t.rentPaid)} (${duck(t.rentEscrowed)} escrowed in running rentals, ${duck(t.rentRefunded)} refunded), earned ${duck(t.rentEarned)}; inference paid ${duck(t.inferencePaid)}`,
  );
  return lines.join("\n");
}
