/**
 * `quackmesh aws sagemaker-eval`: a SageMaker Processing job that evaluates a job's final model
 * on a test set in S3, on as many ml.* instances as asked. With one instance the prefix may hold an
 * IDX pair or CSV files; with several, SageMaker hands each instance whole S3 objects
 * (ShardedByS3Key), so the prefix must hold CSV shards (an IDX pair cannot be split between hosts),
 * at least one per instance; each instance reports on its shards. The container runs
 * `quackmesh aws evaluate`, which reads the model and its spec from the orchestrator; the image
 * must have quackmesh installed.
 */
import { CreateProcessingJobCommand, type CreateProcessingJobCommandInput, type SageMakerClient } from "@aws-sdk/client-sagemaker";
import { QuackError } from "../../../protocol/errors.js";
import type { AwsConnection } from "./connection.js";
import { PERMISSIONS, awsCall, withPermissions } from "./errors.js";

export const INPUT_DIR = "/opt/ml/processing/input/data";
export const OUTPUT_DIR = "/opt/ml/processing/output";

export interface EvalJobInput {
  jobId: number;
  image: string;
  roleArn: string;
  instanceType: string;
  instanceCount: number;
  volumeGb: number;
  maxRuntimeS: number;
  /** Orchestrator URL the container fetches the model from (must be reachable from SageMaker). */
  orchestrator: string;
  /** s3:// prefix of the test set (IDX pair or CSV); absent: the MNIST test set shipped with quackmesh. */
  dataS3?: string;
  /** s3:// prefix for evaluation-<host>.json; absent: results go to the job's CloudWatch log only. */
  outputS3?: string;
  name?: string;
  stack?: string;
}

const NAME_RE = /^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$/;
const ROLE_RE = /^arn:aws[a-z-]*:iam::\d{12}:role\/?[a-zA-Z_0-9+=,.@\-/]+$/;
const S3_RE = /^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/.*)?$/;

function bad(what: string, value: string, fix: string): QuackError {
  return new QuackError("BAD_ARGUMENT", `${what} '${value}' is not valid for SageMaker.`, { fix });
}

/** Processing job names: 1-63 letters, digits and dashes. */
export function defaultJobName(jobId: number, now: Date): string {
  const stamp = now.toISOString().replace(/[-:T]/g, "").slice(0, 14);
  return `quackmesh-eval-${jobId}-${stamp}`;
}

/** The orchestrator URL must be one SageMaker can reach: not loopback. */
export function checkOrchestratorUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw bad("--orchestrator", url, "Pass the orchestrator's public URL, e.g. http://203.0.113.7:8080 (see `quackmesh aws status`).");
  }
  if ((u.protocol !== "http:" && u.protocol !== "https:") || /^(localhost|127\.|\[::1\]|0\.0\.0\.0)/.test(u.hostname)) {
    throw bad("--orchestrator", url, "SageMaker cannot reach this machine's loopback: pass the orchestrator's public URL, or --stack NAME of a stack started with `quackmesh aws up`.");
  }
  return url.replace(/\/+$/, "");
}

/** The CreateProcessingJob request; checked against the API's constraints before any call. */
export function processingJobRequest(input: EvalJobInput, now: Date = new Date()): CreateProcessingJobCommandInput {
  if (!Number.isSafeInteger(input.jobId) || input.jobId < 0) throw bad("--job", String(input.jobId), "Pass the job's numeric id.");
  const name = input.name ?? defaultJobName(input.jobId, now);
  if (!NAME_RE.test(name)) throw bad("--name", name, "Use 1-63 letters, digits and dashes, starting with a letter or digit.");
  if (!ROLE_RE.test(input.roleArn)) throw bad("--role", input.roleArn, "Pass an IAM role ARN, e.g. arn:aws:iam::123456789012:role/SageMakerProcessing.");
  if (input.image.length === 0 || input.image.length > 255 || /\s/.test(input.image)) throw bad("--image", input.image, "Pass an ECR image URI, e.g. 123456789012.dkr.ecr.eu-west-1.amazonaws.com/quackmesh:latest.");
  if (!/^ml\.[a-z0-9]+\.[a-z0-9]+$/.test(input.instanceType)) throw bad("--instance-type", input.instanceType, "Pass a SageMaker instance type, e.g. ml.m5.large.");
  if (!Number.isInteger(input.instanceCount) || input.instanceCount < 1 || input.instanceCount > 100) throw bad("--instance-count", String(input.instanceCount), "Pass 1-100.");
  if (!Number.isInteger(input.volumeGb) || input.volumeGb < 1 || input.volumeGb > 16384) throw bad("--volume", String(input.volumeGb), "Pass 1-16384 (GiB).");
  if (!Number.isInteger(input.maxRuntimeS) || input.maxRuntimeS < 1 || input.maxRuntimeS > 777_600) throw bad("--max-runtime", String(input.maxRuntimeS), "Pass 1-777600 seconds.");
  for (const [flag, uri] of [["--data-s3", input.dataS3], ["--output-s3", input.outputS3]] as const) {
    if (uri !== undefined && !S3_RE.test(uri)) throw bad(flag, uri, `Pass an S3 prefix, e.g. ${flag} s3://my-bucket/quackmesh/.`);
  }
  const orchestrator = checkOrchestratorUrl(input.orchestrator);
  if (input.instanceCount > 1 && input.dataS3 === undefined) {
    throw bad("--instance-count", String(input.instanceCount), "Several instances split an S3 test set: pass --data-s3 too, or use one instance for the bundled MNIST test set.");
  }
  if (input.instanceCount > 1 && input.dataS3 !== undefined && /(\.csv|\.gz|idx\d-ubyte)$/i.test(input.dataS3)) {
    throw bad("--data-s3", input.dataS3, "Several instances need a prefix of CSV shard files (s3://bucket/test/part-000.csv …, at least one per instance), not one file.");
  }

  const args = ["--job", String(input.jobId), "--orchestrator", orchestrator, "--data", input.dataS3 ? INPUT_DIR : "mnist-test", "--out", OUTPUT_DIR, "--json"];
  const tags = [
    { Key: "quackmesh:job", Value: String(input.jobId) },
    ...(input.stack === undefined ? [] : [{ Key: "quackmesh:stack", Value: input.stack }]),
  ];
  return {
    ProcessingJobName: name,
    RoleArn: input.roleArn,
    AppSpecification: { ImageUri: input.image, ContainerEntrypoint: ["quackmesh", "aws", "evaluate"], ContainerArguments: args },
    ProcessingResources: { ClusterConfig: { InstanceCount: input.instanceCount, InstanceType: input.instanceType as never, VolumeSizeInGB: input.volumeGb } },
    StoppingCondition: { MaxRuntimeInSeconds: input.maxRuntimeS },
    Environment: { QUACKMESH_ORCHESTRATOR: orchestrator, QUACKMESH_JOB_ID: String(input.jobId) },
    ...(input.dataS3 === undefined
      ? {}
      : {
          ProcessingInputs: [
            {
              InputName: "testset",
              S3Input: {
                S3Uri: input.dataS3,
                LocalPath: INPUT_DIR,
                S3DataType: "S3Prefix",
                S3InputMode: "File",
                S3DataDistributionType: input.instanceCount > 1 ? "ShardedByS3Key" : "FullyReplicated",
              },
            },
          ],
        }),
    ...(input.outputS3 === undefined
      ? {}
      : { ProcessingOutputConfig: { Outputs: [{ OutputName: "evaluation", S3Output: { S3Uri: input.outputS3, LocalPath: OUTPUT_DIR, S3UploadMode: "EndOfJob" } }] } }),
    Tags: tags,
  };
}

export interface EvalJobResult {
  name: string;
  arn: string;
  region: string;
  consoleUrl: string;
}

export function createEvalJob(sm: SageMakerClient, conn: AwsConnection, request: CreateProcessingJobCommandInput): Promise<EvalJobResult> {
  return withPermissions(PERMISSIONS.sagemaker, async () => {
    const reply = await awsCall({ conn, action: "sagemaker:CreateProcessingJob" }, () => sm.send(new CreateProcessingJobCommand(request)));
    const name = request.ProcessingJobName!;
    return {
      name,
      arn: reply.ProcessingJobArn ?? "",
      region: conn.region,
      consoleUrl: `https://${conn.region}.console.aws.amazon.com/sagemaker/home?region=${conn.region}#/processing-jobs/${name}`,
    };
  });
}
