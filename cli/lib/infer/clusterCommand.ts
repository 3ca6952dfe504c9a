/** The `--cluster` / `--rentals` side of `quackmesh infer`: its flags, its progress lines, its result. */
import type { Command } from "commander";
import { join, resolve } from "node:path";
import { QuackError } from "../../../protocol/errors.js";
import { formatAmount, parseAmount } from "../../../protocol/chain/units.js";
import { parsePrice, parseWhole } from "../flags.js";
import { parseScale } from "../data/scale.js";
import type { ChainOptions } from "../chain/options.js";
import { parseJobId } from "../job/chainJob.js";
import { connectJob, type OrchestratorFlags } from "../job/connect.js";
import type { Output } from "../output.js";
import { runClusterInference, type ClusterInferEvent, type ClusterInferPlan, type ClusterInferResult } from "./cluster.js";

export interface ClusterFlags {
  cluster?: string;
  hours?: string;
  maxPrice?: string;
  rentals?: string;
  trainingCluster?: boolean;
  sshKey?: string;
  partRows: string;
}

export const CLUSTER_HELP = `With --cluster N the model runs on N machines rented from the marketplace for --hours (cheapest
first, at most --max-price per hour), or with --rentals on active rentals of yours: the job's
model goes to each machine over SSH (its provider's gateway), the input is cut into parts of at
most --part-rows rows, and each machine's \`quackmesh worker --infer\` takes the next part until
all are answered; the predictions are put back in input order. A machine that fails is dropped
and its part redone on the others. --max-payment is escrowed in InferencePool; one usage
statement, signed by the orchestrator (which sends the parts to the machines over SSH with the
rentals' key), pays each provider the compute time its workers measured (never more than the
time the orchestrator saw) at its rental's price per hour, plus the orchestrator's minimum fee;
it is checked here and settled at once; the rest comes back. Rentals made for the run are then ended for the refund
of their unserved time (their rent for the time served is paid as for any rental); rentals
given with --rentals keep running. --training-cluster runs on the live machines of the job's
own training cluster (\`job create --cluster\`) while their rentals last, next to their training
workers, with the cluster key the orchestrator already holds.`;

export const CLUSTER_EXAMPLES = `
  $ quackmesh infer --job 1 --input ./mnist-test --cluster 3 --hours 1 --max-price 10
  $ quackmesh infer --job 1 --input pixels.csv --scale 255 --cluster 2
  $ quackmesh infer --job 1 --input ./mnist-test --rentals 4,5,6 --ssh-key ~/.quackmesh/ssh/cluster-job-1_ed25519 --json
  $ quackmesh infer --job 1 --input ./mnist-test --training-cluster`;

export function addClusterOptions(cmd: Command): Command {
  return cmd
    .option("--cluster <n>", "run on N machines rented for this inference (ended when it is done)")
    .option("--hours <h>", "with --cluster: hours to rent the machines for (the unserved time is refunded)", "1")
    .option("--max-price <duck>", "with --cluster: DUCK per hour at most per machine")
    .option("--rentals <ids>", "run on these active rentals of yours instead (comma-separated; they keep running)")
    .option("--training-cluster", "run on the live machines of the job's own training cluster (they keep running; the orchestrator holds their key)")
    .option("--ssh-key <file>", "with --cluster/--rentals: the rentals' SSH private key; default $QUACKMESH_HOME/ssh/id_ed25519, made if absent")
    .option("--part-rows <n>", "with --cluster/--rentals: rows per part sent to a machine at most", "1000");
}

export function wantsCluster(flags: ClusterFlags): boolean {
  return flags.cluster !== undefined || flags.rentals !== undefined || flags.trainingCluster === true;
}

function parseRentals(text: string): bigint[] {
  const ids = text.split(",").map((s) => s.trim());
  if (ids.length === 0 || ids.length > 1000 || ids.some((s) => !/^\d{1,20}$/.test(s) || BigInt(s) === 0n)) {
    throw new QuackError("BAD_ARGUMENT", `--rentals '${text.slice(0, 100)}' is not a comma-separated list of rental ids.`, { fix: "Pass e.g. --rentals 4,5,6 (`quackmesh rent list` shows yours)." });
  }
  if (new Set(ids).size !== ids.length) throw new QuackError("BAD_ARGUMENT", `--rentals names a rental twice.`, { fix: "Name each rental once." });
  return ids.map((s) => BigInt(s));
}

function describe(e: ClusterInferEvent): string | undefined {
  switch (e.event) {
    case "warning":
      return `warning: ${e.warning}`;
    case "checked":
      return `Checked: ${e.requester} holds ${formatAmount(e.duck)} DUCK; job ${e.jobId}'s model ${e.modelHash}; ${e.samples} samples${e.labelled ? " with labels" : ""} for ${e.machines} machines${e.rent > 0n ? ` (rent ${formatAmount(e.rent)} DUCK)` : ""}; orchestrator ${e.orchestrator} runs them.`;
    case "matched":
      return `${e.matched} machines match; renting costs ${formatAmount(e.cost)} DUCK.`;
    case "approved":
      return `Approved ${formatAmount(e.amount)} DUCK (tx ${e.txHash}).`;
    case "rented":
      return `Rented machine ${e.rental.machineId} of ${e.rental.provider} (${e.rental.endpoint}): rental ${e.rental.rentalId}.`;
    case "skipped":
      return `Machine ${e.machineId} was taken meanwhile (${e.reason}); trying the next.`;
    case "acknowledged":
      return `Acknowledged: rentals ${e.acknowledged.join(", ") || "none"}${e.pending.length ? `; not acknowledged: ${e.pending.join(", ")}` : ""}.`;
    case "escrowed":
      return `Escrowed ${formatAmount(e.maxPayment)} DUCK for orchestrator ${e.orchestrator}: inference job ${e.inferenceJobId} (tx ${e.txHash}).`;
    case "started":
      return `The orchestrator runs inference job ${e.inferenceJobId}: ${e.parts} parts on ${e.machines} machines.`;
    case "connected":
      return `Rental ${e.rentalId}: connected; its worker runs.`;
    case "part":
      return `Part ${e.part} (${e.rows} rows) from rental ${e.rentalId} in ${e.computeMs} ms: ${e.rowsDone}/${e.rowsTotal} rows.`;
    case "machine-failed":
      return `Rental ${e.rentalId} failed (${e.code}: ${e.message})${e.requeued === null ? "" : `; part ${e.requeued} goes to the others`}.`;
    case "predicted":
      return `Predicted ${e.count} samples${e.accuracy === undefined ? "" : `, ${(e.accuracy * 100).toFixed(2)} % matching the labels`}; wrote ${e.out}.`;
    case "settled":
      return `Settled inference job ${e.inferenceJobId}: ${formatAmount(e.paid)} DUCK to ${e.providers.length} providers, ${formatAmount(e.refund)} DUCK back (tx ${e.txHash}).`;
    case "ended":
      return `Ended rental ${e.rental.rentalId}: ${formatAmount(e.rental.refund)} DUCK refunded, ${formatAmount(e.rental.earned)} DUCK earned by its provider.`;
    case "not-ended":
      return `Rental ${e.rentalId} is still running: ${e.reason}.`;
  }
}

function emitResult(out: Output, r: ClusterInferResult): void {
  const lines = r.rentals.map((u) => `  rental ${u.rentalId.padEnd(4)} ${u.provider}  ${String(u.rows).padStart(7)} rows  ${String(u.computeMs).padStart(6)} ms  ${formatAmount(u.amount)} DUCK`);
  out.emit(
    { event: "done", ...r },
    `Inference job ${r.inferenceJobId}: ${r.count} predictions of job ${r.jobId}'s model on ${r.rentals.length} machines, written to ${r.out}\n` +
      `  first ${r.predicts} ${r.preview.join(" ")}${r.count > r.preview.length ? " …" : ""}\n` +
      (r.accuracy === undefined ? "" : `  accuracy     ${(r.accuracy * 100).toFixed(2)} % against the input's labels\n`) +
      (r.regression === undefined ? "" : `  R²           ${r.regression.r2.toFixed(4)} (MSE ${r.regression.mse.toPrecision(4)}) against the input's targets\n`) +
      `${lines.join("\n")}\n` +
      `  orchestrator ${r.orchestrator} ran the parts and signed the statement; its fee ${formatAmount(r.fee)} DUCK\n` +
      (r.failedMachines.length ? `  failed       ${r.failedMachines.map((f) => `rental ${f.rentalId} (${f.code})`).join(", ")}: paid only for the parts they returned\n` : "") +
      `  paid         ${formatAmount(r.paid)} DUCK; refunded ${formatAmount(r.refund)} DUCK of the ${formatAmount(r.maxPayment)} DUCK escrow\n` +
      `  rentals      ${r.ended.length ? r.ended.map((e) => `${e.rentalId} ended (${formatAmount(e.refund)} DUCK back)`).join(", ") : "kept running"}`,
  );
}

/** `infer --cluster N` / `infer --rentals IDS`, after the common flags are checked. */
export async function inferOnCluster(flags: ChainOptions & OrchestratorFlags & ClusterFlags & { job: string; input: string; out: string; maxPayment: string; resume?: string; scale?: string }, out: Output): Promise<void> {
  if (flags.resume !== undefined) {
    throw new QuackError("BAD_ARGUMENT", "--resume applies to inference on the orchestrator; a cluster run settles before it ends.", { fix: "Drop --resume, or drop --cluster/--rentals to resume an orchestrator job." });
  }
  if ([flags.cluster !== undefined, flags.rentals !== undefined, flags.trainingCluster === true].filter(Boolean).length > 1) {
    throw new QuackError("BAD_ARGUMENT", "--cluster, --rentals and --training-cluster cannot be used together.", {
      fix: "Rent new machines with --cluster N, use yours with --rentals IDS, or the job's own machines with --training-cluster.",
    });
  }
  const maxPayment = parseAmount(flags.maxPayment, "--max-payment");
  if (maxPayment === 0n) throw new QuackError("BAD_AMOUNT", "--max-payment must be above 0.", { fix: "Pass e.g. --max-payment 5." });
  const plan: Omit<ClusterInferPlan, "sshKeyFile"> = {
    jobId: parseJobId(flags.job),
    input: flags.input,
    out: flags.out,
    maxPayment,
    machines: flags.cluster === undefined ? 0 : parseWhole(flags.cluster, "--cluster", 1, 100),
    hours: parseWhole(flags.hours ?? "1", "--hours", 1, 0xffffffff),
    maxPrice: flags.maxPrice === undefined ? undefined : parsePrice(flags.maxPrice, "--max-price"),
    rentals: flags.rentals === undefined ? undefined : parseRentals(flags.rentals),
    partRows: parseWhole(flags.partRows, "--part-rows", 1, 1_000_000),
    scale: flags.scale === undefined ? undefined : parseScale(flags.scale),
    trainingCluster: flags.trainingCluster === true,
  };
  const conn = await connectJob(flags, "requester");
  try {
    const sshKeyFile = resolve(flags.sshKey ?? join(conn.chain.settings.home, "ssh", "id_ed25519"));
    const deps = { signer: conn.chain.signer, provider: conn.chain.provider, contracts: conn.contracts, chainId: conn.chain.network.chainId, client: conn.client };
    const result = await runClusterInference({ ...plan, sshKeyFile }, deps, {
      onEvent: (e) => {
        if (out.json) out.emit({ ...e });
        else {
          const text = describe(e);
          if (text) out.info(text);
        }
      },
    });
    emitResult(out, result);
  } finally {
    conn.close();
  }
}
