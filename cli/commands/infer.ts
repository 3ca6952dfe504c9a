import { Command } from "commander";
import { QuackError } from "../../protocol/errors.js";
import { makeOutput, type Output } from "../lib/output.js";
import { addChainOptions, openChain, type ChainOptions } from "../lib/chain/options.js";
import { formatAmount, parseAmount } from "../../protocol/chain/units.js";
import { parseJobId } from "../lib/job/chainJob.js";
import { addOrchestratorOption, connectJob, type OrchestratorFlags } from "../lib/job/connect.js";
import { reclaimInference } from "../lib/infer/reclaim.js";
import { parseScale, SCALE_HELP, SCALE_OPTION } from "../lib/data/scale.js";
import { runInference, type InferEvent, type InferResult } from "../lib/infer/run.js";
import { addClusterOptions, CLUSTER_EXAMPLES, CLUSTER_HELP, inferOnCluster, wantsCluster, type ClusterFlags } from "../lib/infer/clusterCommand.js";

type InferFlags = ChainOptions & OrchestratorFlags & ClusterFlags & { job?: string; input?: string; maxPayment: string; out: string; resume?: string; reclaim?: string; scale?: string };

function describe(e: InferEvent): string {
  switch (e.event) {
    case "checked":
      return `Checked: ${e.requester} holds ${formatAmount(e.duck)} DUCK; job ${e.jobId}'s model ${e.modelHash} on ${e.orchestrator} (signs as ${e.signer}, ` +
        `${formatAmount(BigInt(e.pricePerSecond))} DUCK/s, at least ${formatAmount(BigInt(e.minimumFee))} DUCK); ${e.roundsClosed} rounds closed; ${e.samples} samples${e.labelled ? " with labels" : ""}.`;
    case "warning":
      return `warning: ${e.warning}`;
    case "approved":
      return `Approved InferencePool to take ${formatAmount(e.amount)} DUCK (tx ${e.txHash}).`;
    case "escrowed":
      return `Escrowed ${formatAmount(e.maxPayment)} DUCK: inference job ${e.inferenceJobId} (tx ${e.txHash}); sending the input…`;
    case "predicted":
      return `Predicted ${e.count} samples in ${e.computeMs} ms of compute (fee ${formatAmount(e.fee)} DUCK)${e.accuracy === undefined ? "" : `, ${(e.accuracy * 100).toFixed(2)} % matching the labels`}${e.regression ? `, R² ${e.regression.r2.toFixed(4)} against the targets` : ""}; wrote ${e.out}.`;
    case "settled":
      return e.txHash ? `Settled on chain (tx ${e.txHash}).` : "Already settled on chain.";
  }
}

function emitResult(out: Output, r: InferResult): void {
  out.emit(
    { event: "done", ...r },
    `Inference job ${r.inferenceJobId}: ${r.count} predictions of job ${r.jobId}'s model written to ${r.out}\n` +
      `  first ${r.predicts === "outputs" ? "outputs" : "classes"} ${r.preview.join(" ")}${r.count > r.preview.length ? " …" : ""}\n` +
      (r.accuracy === undefined ? "" : `  accuracy     ${(r.accuracy * 100).toFixed(2)} % against the input's labels\n`) +
      (r.regression === undefined ? "" : `  R²           ${r.regression.r2.toFixed(4)} (MSE ${r.regression.mse.toPrecision(4)}) against the input's targets\n`) +
      `  paid         ${formatAmount(r.paid)} DUCK to ${r.payout} for ${r.computeMs} ms of compute\n` +
      `  refunded     ${formatAmount(r.refund)} DUCK of the ${formatAmount(r.maxPayment)} DUCK escrow`,
  );
}

export function inferCommand(): Command {
  const cmd = new Command("infer").description("run a trained model on your data, paid through InferencePool (on the orchestrator, or on rented machines with --cluster)");
  addChainOptions(cmd, { defaultAccount: "requester" });
  addClusterOptions(addOrchestratorOption(cmd))
    .option("--job <id>", "training job whose model answers (its current model; the final one once finished)")
    .option("--input <path>", "samples: an MNIST IDX folder, a .csv of features, or a .csv with the label first (accuracy is reported; a regression job's targets first: R²)")
    .option(...SCALE_OPTION)
    .option("--max-payment <duck>", "DUCK to escrow; the orchestrator is paid for compute time out of it, the rest comes back", "5")
    .option("--out <file>", "where to write the predictions (JSON: class and probabilities per sample; a regression: its outputs)", "predictions.json")
    .option("--resume <inferenceJobId>", "send the input for an inference job escrowed earlier (after a failure) instead of paying again")
    .option("--reclaim <inferenceJobId>", "take back the whole escrow of an inference job nobody settled within 24 h")
    .addHelpText(
      "after",
      `
Checks first and spends nothing when a check fails: the orchestrator (reachable, same chain and
InferencePool), the job and its model, the input (read here, of the model's input size) and your
DUCK and ETH. Then --max-payment is approved and escrowed in InferencePool naming the
orchestrator, the input goes to the orchestrator (signed by your wallet), which runs the model
and answers the predictions with a signed usage statement: its price per second of compute
(at least a minimum fee, never above the escrow). The statement is checked, the predictions
written to --out, and the escrow settled on chain: the fee to the orchestrator's payout address,
the rest back to you. A retry (--resume) gets the same answer and is never paid twice.

A job that has not closed any round answers with its initial, untrained model: a warning says
so before anything is paid (--json: a "warning" event, and roundsClosed in "checked" and "done").
${SCALE_HELP} Use the scale the model was trained with: a model
trained on IDX images expects 0-1, so a CSV of 0-255 pixels needs --scale 255.

${CLUSTER_HELP}

Examples:
  $ quackmesh infer --job 1 --input ./mnist-test
  $ quackmesh infer --job 1 --input features.csv --max-payment 2 --out predictions.json --json
  $ quackmesh infer --job 1 --input pixels.csv --scale 255
  $ quackmesh infer --job 1 --input ./mnist-test --resume 4
  $ quackmesh infer --reclaim 4${CLUSTER_EXAMPLES}`,
    )
    .action(async (flags: InferFlags) => {
      const out = makeOutput(Boolean(flags.json));
      if (flags.reclaim !== undefined) {
        const id = parseJobId(flags.reclaim, "Inference job id");
        const chain = await openChain(flags, { defaultAccount: "requester" });
        try {
          const contracts = await chain.contracts();
          const r = await reclaimInference({ pool: contracts.inferencePool, signer: chain.signer, provider: chain.provider }, id);
          out.emit({ event: "reclaimed", ...r }, `Inference job ${id} reclaimed: ${formatAmount(r.refund)} DUCK back to ${r.requester} (tx ${r.txHash}).`);
        } finally {
          chain.close();
        }
        return;
      }
      for (const [key, flag] of [["job", "--job"], ["input", "--input"]] as const) {
        if (flags[key] === undefined) throw new QuackError("MISSING_OPTION", `${flag} is required.`, { fix: "See `quackmesh infer --help` for an example." });
      }
      if (wantsCluster(flags)) return inferOnCluster({ ...flags, job: flags.job!, input: flags.input! }, out);
      const plan = {
        jobId: parseJobId(flags.job!),
        input: flags.input!,
        maxPayment: parseAmount(flags.maxPayment, "--max-payment"),
        out: flags.out,
        resume: flags.resume === undefined ? undefined : parseJobId(flags.resume, "Inference job id"),
        scale: flags.scale === undefined ? undefined : parseScale(flags.scale),
      };
      if (plan.maxPayment === 0n) throw new QuackError("BAD_AMOUNT", "--max-payment must be above 0.", { fix: "Pass e.g. --max-payment 5." });
      const conn = await connectJob(flags, "requester");
      try {
        const deps = { signer: conn.chain.signer, provider: conn.chain.provider, contracts: conn.contracts, chainId: conn.chain.network.chainId, client: conn.client };
        const result = await runInference(plan, deps, { onEvent: (e) => (out.json ? out.emit({ ...e }) : out.info(describe(e))) });
        emitResult(out, result);
      } finally {
        conn.close();
      }
    });
  return cmd;
}
