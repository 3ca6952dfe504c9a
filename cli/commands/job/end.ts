import { Command } from "commander";
import { OrchestratorClient } from "../../../orchestrator/client.js";
import { QuackError } from "../../../protocol/errors.js";
import { makeOutput } from "../../lib/output.js";
import { addChainOptions, openChain, type ChainOptions } from "../../lib/chain/options.js";
import { formatAmount } from "../../../protocol/chain/units.js";
import { parseJobId } from "../../lib/job/chainJob.js";
import { addOrchestratorOption, connectJob, orchestratorUrl, type OrchestratorFlags } from "../../lib/job/connect.js";
import { cancelJob, exportModel, finishJob, type FinishedJob } from "../../lib/job/finish.js";

export function jobExportCommand(): Command {
  const cmd = new Command("export").argument("<id>", "job id").description("save the job's global model (the final one once finished) as safetensors");
  return addOrchestratorOption(cmd)
    .option("--out <file>", "where to write the safetensors file")
    .option("--json", "machine-readable output: one JSON object")
    .addHelpText(
      "after",
      `
Tensor names are PyTorch nn.Sequential's (0.weight, 0.bias, 2.weight, …), so in Python:
  model.load_state_dict(safetensors.torch.load_file("model.safetensors"))

Examples:
  $ quackmesh job export 1 --out model.safetensors`,
    )
    .action(async (id: string, flags: OrchestratorFlags & { out?: string; json?: boolean }) => {
      const jobId = parseJobId(id);
      if (!flags.out) throw new QuackError("MISSING_OPTION", "--out is required.", { fix: "Pass --out model.safetensors." });
      const out = makeOutput(Boolean(flags.json));
      const r = await exportModel(new OrchestratorClient(orchestratorUrl(flags)), jobId, flags.out);
      if (r.status !== "finished") out.info(`Job ${jobId} is still running (round ${r.round + 1}); this is the current global model.`);
      out.emit({ ...r }, `Wrote ${r.out} (${r.bytes} bytes, model ${r.modelHash}): ${r.tensors.map((t) => `${t.name} [${t.shape.join("×")}]`).join(", ")}`);
    });
}

function emitFinished(json: boolean, r: FinishedJob): void {
  makeOutput(json).emit(
    { ...r },
    `Job ${r.jobId} finished${r.how === "deadline" ? " after its deadline" : ""}: ${formatAmount(r.refund)} DUCK refunded to ${r.requester} (tx ${r.txHash}).`,
  );
}

export function jobFinishCommand(): Command {
  const cmd = new Command("finish").argument("<id>", "job id").description("close a job whose last round is done and refund the unspent pool to the requester");
  addChainOptions(cmd, { defaultAccount: "requester" });
  return addOrchestratorOption(cmd)
    .addHelpText(
      "after",
      "\nFetches the evaluator's JobFinished signature from the orchestrator and calls TrainingPool.finishJob;\nanyone may send it, the refund always goes to the requester.\n\nExamples:\n  $ quackmesh job finish 1\n  $ quackmesh job finish 1 --key ./requester.key --network duckchain --json",
    )
    .action(async (id: string, flags: ChainOptions & OrchestratorFlags) => {
      const jobId = parseJobId(id);
      const conn = await connectJob(flags, "requester");
      try {
        emitFinished(Boolean(flags.json), await finishJob({ client: conn.client, pool: conn.contracts.trainingPool }, jobId));
      } finally {
        conn.close();
      }
    });
}

export function jobCancelCommand(): Command {
  const cmd = new Command("cancel").argument("<id>", "job id").description("requester only, after the deadline: take back what is left of the pool");
  return addChainOptions(cmd, { defaultAccount: "requester" })
    .addHelpText("after", "\nExamples:\n  $ quackmesh job cancel 1\n  $ quackmesh job cancel 1 --key ./requester.key --json")
    .action(async (id: string, flags: ChainOptions) => {
      const jobId = parseJobId(id);
      const chain = await openChain(flags, { defaultAccount: "requester" });
      try {
        const contracts = await chain.contracts();
        emitFinished(Boolean(flags.json), await cancelJob({ pool: contracts.trainingPool, signer: chain.signer, provider: chain.provider }, jobId));
      } finally {
        chain.close();
      }
    });
}
