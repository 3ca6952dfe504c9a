import { Command } from "commander";
import { makeOutput, type Output } from "../lib/output.js";
import { QuackError } from "../../protocol/errors.js";
import { ec2Client, rdsClient, sageMakerClient, ssmClient, type AwsConnection } from "../lib/aws/connection.js";
import { down } from "../lib/aws/down.js";
import { PERMISSIONS, withPermissions } from "../lib/aws/errors.js";
import { parseDevice, parseWhole } from "../lib/flags.js";
import { addAwsOptions, addStackOption, addStackPlanOptions, connectionFrom, planInputFrom, stackFlag, type CommonFlags, type StackFlags } from "../lib/aws/flags.js";
import { DEFAULT_STACK, buildPlan, resolveImage } from "../lib/aws/plan.js";
import { downText, eventText, planText, sageMakerText, statusText, upText } from "../lib/aws/render.js";
import { createEvalJob, processingJobRequest } from "../lib/aws/sagemaker.js";
import type { AwsEvent, WaitOptions } from "../lib/aws/stack.js";
import { status } from "../lib/aws/status.js";
import { up } from "../lib/aws/up.js";

/** What the aws commands write to and read from; tests pass their own. */
export interface AwsCommandIo {
  stdout?: NodeJS.WritableStream;
  stderr?: NodeJS.WritableStream;
  env?: NodeJS.ProcessEnv;
  /** Poll interval while waiting for instances (ms). */
  pollMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

export function awsCommand(io: AwsCommandIo = {}): Command {
  return new Command("aws")
    .description("run the orchestrator on AWS EC2, and heavy evaluation on SageMaker")
    .addHelpText(
      "after",
      `
Credentials come from the AWS SDK's default chain: AWS_PROFILE or --profile, AWS_ACCESS_KEY_ID /
AWS_SECRET_ACCESS_KEY, SSO, or an instance role. Everything a stack creates is tagged
quackmesh:stack=<name>; \`down\` removes exactly that, keeping the state (the RDS database, the
Elastic IP) unless --delete-data. --endpoint (QUACKMESH_AWS_ENDPOINT) points the clients at any
EC2/RDS/SSM/SageMaker-compatible API.

Examples:
  $ quackmesh aws plan --region eu-west-1 --package https://example.com/quackmesh-0.1.0.tgz
  $ quackmesh aws up --region eu-west-1 --package https://example.com/quackmesh-0.1.0.tgz --key-name ops --ssh-cidr 203.0.113.7/32
  $ quackmesh aws up --region eu-west-1 --package quackmesh@0.1.0 --database rds --instance-profile quackmesh-orchestrator
  $ quackmesh aws status --region eu-west-1
  $ quackmesh aws down --region eu-west-1
  $ quackmesh aws sagemaker-eval --region eu-west-1 --job 1 --image 123456789012.dkr.ecr.eu-west-1.amazonaws.com/quackmesh --role arn:aws:iam::123456789012:role/SageMakerProcessing --dry-run`,
    )
    .addCommand(planCommand(io))
    .addCommand(upCommand(io))
    .addCommand(statusCommand(io))
    .addCommand(downCommand(io))
    .addCommand(sageMakerEvalCommand(io))
    .addCommand(evaluateCommand(io));
}

function output(io: AwsCommandIo, flags: CommonFlags): Output {
  return makeOutput(Boolean(flags.json), io.stdout, io.stderr);
}

/** Progress: one JSON line per event with --json, a line on stderr otherwise. */
function progress(out: Output): (e: AwsEvent) => void {
  return (e) => (out.json ? out.emit({ ...e }) : out.info(eventText(e)));
}

function waitOptions(io: AwsCommandIo, timeoutText: string): WaitOptions {
  return { timeoutMs: parseWhole(timeoutText, "--timeout", 10, 3600) * 1000, pollMs: io.pollMs ?? 5000, sleep: io.sleep };
}

function planCommand(io: AwsCommandIo): Command {
  const cmd = new Command("plan").description("show what `aws up` would create, start script included (no changes)");
  addStackPlanOptions(cmd);
  return addAwsOptions(cmd)
    .option("--resolve-ami", "look up the AMI now (one DescribeImages call; needs credentials)")
    .addHelpText(
      "after",
      `
Makes no AWS call unless --resolve-ami is given. The start script (cloud-init user data) installs
Node.js 20 and the --package, writes the contracts' deployment file, reads the evaluator key from
--evaluator-ssm-param (else \`serve\` generates one on the instance) and, with --database rds, the
database URL from SSM, and runs \`quackmesh serve --host 0.0.0.0\` as the systemd unit
quackmesh-orchestrator. Ends with what the stack costs per hour at list prices.

Examples:
  $ quackmesh aws plan --region eu-west-1 --package https://example.com/quackmesh-0.1.0.tgz
  $ quackmesh aws plan --region eu-west-1 --package quackmesh@0.1.0 --database rds --instance-profile quackmesh-orchestrator
  $ quackmesh aws plan --region eu-west-1 --instance-type t4g.medium --package git+https://github.com/org/quackmesh.git --json`,
    )
    .action(async (flags: StackFlags & { resolveAmi?: boolean }) => {
      const env = io.env ?? process.env;
      const out = output(io, flags);
      const conn = connectionFrom(flags, env);
      const plan = buildPlan(planInputFrom(flags, conn, env));
      const image = flags.resolveAmi ? await withPermissions(PERMISSIONS.plan, () => resolveImage(ec2Client(conn), conn, plan)) : undefined;
      out.emit({ event: "plan", ...plan, ...(image ? { resolvedImage: image } : {}), endpoint: conn.endpoint ?? null }, planText(plan, image));
    });
}

function upCommand(io: AwsCommandIo): Command {
  const cmd = new Command("up").description("start the orchestrator on EC2: security group, instance, wait until it runs");
  addStackPlanOptions(cmd);
  return addAwsOptions(cmd)
    .option("--replace", "terminate a stack of the same name first")
    .option("--timeout <seconds>", "how long to wait for the instance to run", "300")
    .option("--db-timeout <seconds>", "how long to wait for the RDS database to be available (with --database rds)", "1800")
    .addHelpText(
      "after",
      `
Refuses when the stack already has instances (use --replace, or \`aws down\` first). A security
group left by an earlier attempt is reused. When the instance runs, prints its id, public IP and
the orchestrator's URL; the orchestrator answers once its start script has finished.

With --database rds (needs --instance-profile whose role may read /quackmesh/<stack>/* in SSM):
the evaluator key is kept in SSM Parameter Store as a SecureString (made there when missing,
/quackmesh/<stack>/evaluator-key unless --evaluator-ssm-param); the RDS PostgreSQL instance
quackmesh-<stack> is made (or the existing one taken), waited for, and its URL stored in SSM
(/quackmesh/<stack>/database-url), where the instance reads it at boot: no secret is in the user
data. The stack's EBS data volume (--data-volume, 20 GiB) is mounted at the data dir for the model
and update files, and an Elastic IP of the stack carries the public address: both stay across
--replace (the new instance starts in the volume's availability zone).
RDS takes 5-15 minutes to make a database; if the wait runs out, run the same command again.

Examples:
  $ quackmesh aws up --region eu-west-1 --package https://example.com/quackmesh-0.1.0.tgz
  $ quackmesh aws up --region eu-west-1 --package quackmesh@0.1.0 --database rds --instance-profile quackmesh-orchestrator
  $ quackmesh aws up --region eu-west-1 --package quackmesh@0.1.0 --database rds --instance-profile quackmesh-orchestrator --replace --json
  $ quackmesh aws up --region eu-west-1 --stack orch-eu --network duckchain --package quackmesh@0.1.0 \\
      --evaluator-ssm-param /quackmesh/evaluator-key --instance-profile quackmesh-orchestrator --json`,
    )
    .action(async (flags: StackFlags & { replace?: boolean; timeout: string; dbTimeout: string }) => {
      const env = io.env ?? process.env;
      const out = output(io, flags);
      const conn = connectionFrom(flags, env);
      const plan = buildPlan(planInputFrom(flags, conn, env));
      const databaseWait = { ...waitOptions(io, flags.dbTimeout), pollMs: io.pollMs ?? 15_000 };
      const services = plan.database ? { rds: rdsClient(conn), ssm: ssmClient(conn), databaseWait } : {};
      const r = await up(ec2Client(conn), conn, plan, { replace: Boolean(flags.replace), wait: waitOptions(io, flags.timeout), ...services }, progress(out));
      out.emit({ event: "up", ...r, endpoint: conn.endpoint ?? null }, upText(r));
    });
}

function statusCommand(io: AwsCommandIo): Command {
  const cmd = new Command("status").description("stacks in a region: instances, state, public IP, orchestrator URL, what it answers at /healthz and /api/info, and its database, data volume and Elastic IP");
  addStackOption(cmd);
  cmd.option("--no-probe", "do not ask the running orchestrators (/healthz, /api/info)");
  return addAwsOptions(cmd)
    .addHelpText(
      "after",
      `
Each running orchestrator is asked for /healthz and /api/info (5 s at most each): healthy or why
not (e.g. CHAIN_RESET with its fix), its version, evaluator address and chain id.

Examples:
  $ quackmesh aws status --region eu-west-1
  $ quackmesh aws status --region eu-west-1 --stack orch-eu --json
  $ quackmesh aws status --no-probe          # instances only, no request to the orchestrators`,
    )
    .action(async (flags: CommonFlags & { stack?: string; probe: boolean }) => {
      const out = output(io, flags);
      const conn = connectionFrom(flags, io.env ?? process.env);
      const stack = stackFlag(flags.stack);
      const r = await status(ec2Client(conn), conn, stack, { probe: flags.probe, rds: rdsClient(conn) });
      out.emit({ event: "status", ...r }, statusText(r, stack));
    });
}

function downCommand(io: AwsCommandIo): Command {
  const cmd = new Command("down").description("terminate a stack's instances and delete its security group");
  addStackOption(cmd, DEFAULT_STACK);
  return addAwsOptions(cmd)
    .option("--timeout <seconds>", "how long to wait for termination", "600")
    .option("--delete-data", "also delete the RDS database (after a final snapshot), its SSM parameters, the data volume and the Elastic IP")
    .addHelpText(
      "after",
      `
Removes only what carries the tag quackmesh:stack=<name>. Nothing left is not an error. The
orchestrator's state and address stay for the next \`up\`: the RDS database with its security
group and SSM parameters, the data volume and the Elastic IP (listed as kept). --delete-data
removes them too,
keeping a final snapshot of the database (quackmesh-<stack>-final-<time>). The evaluator key in
SSM is never deleted here: jobs on chain name it (\`aws ssm delete-parameter\` once none does).

Examples:
  $ quackmesh aws down --region eu-west-1
  $ quackmesh aws down --region eu-west-1 --stack orch-eu --json
  $ quackmesh aws down --region eu-west-1 --delete-data`,
    )
    .action(async (flags: CommonFlags & { stack: string; timeout: string; deleteData?: boolean }) => {
      const out = output(io, flags);
      const conn = connectionFrom(flags, io.env ?? process.env);
      const data = { rds: rdsClient(conn), ssm: ssmClient(conn), deleteData: Boolean(flags.deleteData), databaseWait: { ...waitOptions(io, "3600"), pollMs: io.pollMs ?? 15_000 } };
      const r = await down(ec2Client(conn), conn, stackFlag(flags.stack)!, { wait: waitOptions(io, flags.timeout), data }, progress(out));
      out.emit({ event: "down", ...r }, downText(r));
    });
}

interface SageMakerFlags extends CommonFlags {
  job?: string;
  image?: string;
  role?: string;
  instanceType: string;
  instanceCount: string;
  volume: string;
  maxRuntime: string;
  orchestrator?: string;
  stack?: string;
  dataS3?: string;
  outputS3?: string;
  name?: string;
  dryRun?: boolean;
}

function required(value: string | undefined, flag: string, example: string): string {
  if (value === undefined || value.trim() === "") throw new QuackError("MISSING_OPTION", `${flag} is required.`, { fix: `Pass ${flag} ${example}.` });
  return value.trim();
}

/** The orchestrator URL: --orchestrator, else the running orchestrator of --stack. */
async function orchestratorFor(flags: SageMakerFlags, conn: AwsConnection): Promise<string> {
  if (flags.orchestrator !== undefined) return flags.orchestrator;
  if (flags.stack === undefined) {
    throw new QuackError("MISSING_OPTION", "Name the orchestrator the job reads the model from.", { fix: "Pass --orchestrator http://HOST:PORT, or --stack NAME of a stack started with `quackmesh aws up`." });
  }
  const stack = stackFlag(flags.stack)!;
  const found = (await status(ec2Client(conn), conn, stack)).stacks.find((s) => s.stack === stack);
  if (found?.url === undefined) {
    throw new QuackError("AWS_NO_ORCHESTRATOR", `Stack ${stack} has no running orchestrator in ${conn.region}.`, { fix: "Start it with `quackmesh aws up`, or pass --orchestrator URL." });
  }
  return found.url;
}

function sageMakerEvalCommand(io: AwsCommandIo): Command {
  const cmd = new Command("sagemaker-eval").description("evaluate a job's final model on SageMaker Processing (test set in S3, several instances)");
  return addAwsOptions(cmd)
    .option("--job <id>", "training job id")
    .option("--image <uri>", "container image with quackmesh installed (ECR URI)")
    .option("--role <arn>", "IAM role SageMaker runs the job as")
    .option("--instance-type <type>", "SageMaker instance type", "ml.m5.large")
    .option("--instance-count <n>", "instances; each evaluates its share of the CSV shard files under --data-s3", "1")
    .option("--volume <GiB>", "storage per instance", "30")
    .option("--max-runtime <seconds>", "stop the job after this long", "3600")
    .option("--orchestrator <url>", "orchestrator URL reachable from SageMaker")
    .option("--stack <name>", "take the orchestrator URL from this `aws up` stack")
    .option("--data-s3 <uri>", "s3:// prefix of the test set (IDX pair or CSV); default: the MNIST test set in the image")
    .option("--output-s3 <uri>", "s3:// prefix for evaluation-<host>.json reports")
    .option("--name <name>", "processing job name (default quackmesh-eval-<job>-<time>)")
    .option("--dry-run", "print the CreateProcessingJob request, call nothing")
    .addHelpText(
      "after",
      `
The container runs \`quackmesh aws evaluate --job ID --orchestrator URL --data … --out …\`:
it downloads the job's model and spec from the orchestrator and evaluates it with the native engine.
With --instance-count N > 1, SageMaker gives each instance whole files of --data-s3 (sharded by S3 key):
put the test set there as N or more CSV files (label first, same columns; an IDX pair cannot be split),
and each instance writes evaluation-<host>.json for its files.

Examples:
  $ quackmesh aws sagemaker-eval --region eu-west-1 --job 1 --stack quackmesh \\
      --image 123456789012.dkr.ecr.eu-west-1.amazonaws.com/quackmesh:0.1.0 \\
      --role arn:aws:iam::123456789012:role/SageMakerProcessing \\
      --data-s3 s3://my-bucket/mnist-test/ --output-s3 s3://my-bucket/evals/ --instance-count 4
  $ quackmesh aws sagemaker-eval --region eu-west-1 --job 1 --orchestrator http://203.0.113.7:8080 --image IMAGE --role ARN --dry-run --json`,
    )
    .action(async (flags: SageMakerFlags) => {
      const out = output(io, flags);
      const conn = connectionFrom(flags, io.env ?? process.env);
      const jobId = parseWhole(required(flags.job, "--job", "1"), "--job", 0, Number.MAX_SAFE_INTEGER);
      const image = required(flags.image, "--image", "123456789012.dkr.ecr.eu-west-1.amazonaws.com/quackmesh:latest");
      const roleArn = required(flags.role, "--role", "arn:aws:iam::123456789012:role/SageMakerProcessing");
      const request = processingJobRequest({
        jobId,
        image,
        roleArn,
        instanceType: flags.instanceType,
        instanceCount: parseWhole(flags.instanceCount, "--instance-count", 1, 100),
        volumeGb: parseWhole(flags.volume, "--volume", 1, 16384),
        maxRuntimeS: parseWhole(flags.maxRuntime, "--max-runtime", 1, 777_600),
        orchestrator: await orchestratorFor(flags, conn),
        dataS3: flags.dataS3,
        outputS3: flags.outputS3,
        name: flags.name,
        stack: flags.stack,
      });
      if (flags.dryRun) {
        out.emit({ event: "sagemaker-eval", dryRun: true, region: conn.region, request }, sageMakerText(request));
        return;
      }
      const r = await createEvalJob(sageMakerClient(conn), conn, request);
      out.emit({ event: "sagemaker-eval", dryRun: false, ...r, request }, sageMakerText(request, r));
    });
}

function evaluateCommand(io: AwsCommandIo): Command {
  return new Command("evaluate")
    .description("evaluate a job's model on a test set (what the SageMaker container runs)")
    .option("--job <id>", "training job id")
    .option("--orchestrator <url>", "orchestrator URL (env QUACKMESH_ORCHESTRATOR)")
    .option("--data <dir|file|mnist-test>", "test set: a folder with an IDX pair or CSV files (shards, loaded in name order), a .csv file, or mnist-test", "mnist-test")
    .option("--out <path>", "report file (.json), or a folder for evaluation-<host>.json", ".")
    .option("--device <device>", "cpu | cuda | auto", "auto")
    .option("--json", "machine-readable output: one JSON object")
    .addHelpText(
      "after",
      `
Examples:
  $ quackmesh aws evaluate --job 1 --orchestrator http://203.0.113.7:8080 --data ./mnist-test --out report.json`,
    )
    .action(async (flags: { job?: string; orchestrator?: string; data: string; out: string; device: string; json?: boolean }) => {
      const out = makeOutput(Boolean(flags.json), io.stdout, io.stderr);
      const jobId = parseWhole(required(flags.job, "--job", "1"), "--job", 0, Number.MAX_SAFE_INTEGER);
      const device = parseDevice(flags.device);
      // The native engine loads only for this subcommand.
      const { evaluateJobModel, currentHost, reportPath, writeReport } = await import("../lib/aws/evaluate.js");
      const { loadDataset, loadMnist } = await import("../../native/data.js");
      const { OrchestratorClient } = await import("../../orchestrator/client.js");
      const { resolveSettings } = await import("../../protocol/config.js");
      const url = resolveSettings({ orchestrator: flags.orchestrator }, io.env ?? process.env).orchestrator;
      const data = flags.data === "mnist-test" ? await loadMnist("test") : await loadDataset(flags.data);
      const host = currentHost();
      const report = await evaluateJobModel(new OrchestratorClient(url), jobId, data, { device, host });
      const file = reportPath(flags.out, host);
      await writeReport(file, report);
      const { evaluationText } = await import("../lib/aws/render.js");
      out.emit({ event: "evaluation", ...report, file }, evaluationText(report, file));
    });
}
