/**
 * `quackmesh aws evaluate`: what a SageMaker Processing container runs. It fetches the job's
 * global model (the final one once the job has finished) and its spec from the orchestrator,
 * evaluates it on a test set with the native engine, and writes one JSON report.
 */
import { readFileSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { Network, validateSpec } from "../../../native/index.js";
import { decodeSafetensors } from "../../../native/safetensors.js";
import type { Dataset, Device, ModelSpec } from "../../../native/types.js";
import type { OrchestratorClient } from "../../../orchestrator/client.js";
import { specFromTensors } from "../contribute/spec.js";
import { QuackError } from "../../../protocol/errors.js";

export interface EvaluationReport {
  jobId: number;
  modelHash: string;
  round: number;
  status: "active" | "finished";
  samples: number;
  accuracy: number;
  loss: number;
  device: string;
  host?: string;
  evaluatedAt: string;
}

export async function evaluateJobModel(
  client: Pick<OrchestratorClient, "getModel" | "getJob">,
  jobId: number,
  data: Dataset,
  opts: { device?: Device; host?: string; now?: () => Date } = {},
): Promise<EvaluationReport> {
  const model = await client.getModel(jobId);
  if (model.notModified) throw new QuackError("INTERNAL", "The orchestrator answered 304 to an unconditional request.");
  const { tensors } = decodeSafetensors(model.bytes);
  const job = (await client.getJob(jobId)) as { spec?: unknown };
  // The published spec carries what the weights do not (input standardization).
  const spec: ModelSpec = job.spec === undefined ? specFromTensors(tensors) : validateSpec(job.spec);
  const net = Network.fromWeights(spec, tensors, { device: opts.device });
  const r = await net.evaluate(data);
  return {
    jobId,
    modelHash: model.modelHash,
    round: model.round,
    status: model.status,
    samples: r.samples,
    accuracy: r.accuracy,
    loss: r.loss,
    device: net.device,
    ...(opts.host === undefined ? {} : { host: opts.host }),
    evaluatedAt: (opts.now ?? (() => new Date()))().toISOString(),
  };
}

/** The SageMaker host name (algo-1, algo-2…) from the container's resource config, when there is one. */
export function currentHost(configFile = "/opt/ml/config/resourceconfig.json"): string | undefined {
  try {
    const host = (JSON.parse(readFileSync(configFile, "utf8")) as { current_host?: unknown }).current_host;
    return typeof host === "string" && /^[A-Za-z0-9_.-]+$/.test(host) ? host : undefined;
  } catch {
    return undefined;
  }
}

/** `out` naming a .json file is used as is; a folder gets evaluation-<host>.json, so instances never collide. */
export function reportPath(out: string, host: string | undefined): string {
  return /\.json$/i.test(out) ? out : join(out, `evaluation-${host ?? "local"}.json`);
}

export async function writeReport(file: string, report: EvaluationReport): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, JSON.stringify(report, null, 2) + "\n");
}
