/**
 * AWS failures as QuackErrors: what went wrong, in the operator's terms, and the fix. The SDK's
 * service errors carry the API's code as `name` (UnauthorizedOperation, InvalidAMIID.NotFound…);
 * credential and network failures come from the SDK's own providers and the HTTP handler.
 */
import { QuackError, isQuackError } from "../../../protocol/errors.js";
import type { AwsConnection } from "./connection.js";

export interface AwsCallContext {
  conn: AwsConnection;
  /** The API action, e.g. "ec2:RunInstances", named in messages and the IAM fix. */
  action: string;
  /** Every action the subcommand needs, for the IAM fix. */
  permissions?: readonly string[];
}

const NETWORK_CODES = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "ETIMEDOUT", "ECONNRESET", "EHOSTUNREACH", "ENETUNREACH", "EPIPE"]);
const DENIED = new Set(["UnauthorizedOperation", "AccessDenied", "AccessDeniedException", "Blocked"]);
const BAD_KEYS = new Set([
  "AuthFailure",
  "InvalidClientTokenId",
  "SignatureDoesNotMatch",
  "UnrecognizedClientException",
  "ExpiredToken",
  "ExpiredTokenException",
  "RequestExpired",
  "InvalidAccessKeyId",
]);

const CREDENTIALS_FIX =
  "Set AWS_PROFILE (or pass --profile) to a profile in ~/.aws/credentials or ~/.aws/config (run `aws configure` or `aws sso login`), " +
  "or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (plus AWS_SESSION_TOKEN for temporary keys).";

/** The API error code of an SDK error, or undefined for errors that did not come from the service. */
export function awsErrorCode(err: unknown): string | undefined {
  if (err === null || typeof err !== "object") return undefined;
  const e = err as { name?: unknown; Code?: unknown; $metadata?: unknown; $fault?: unknown };
  if (typeof e.Code === "string") return e.Code;
  if (e.$fault !== undefined && typeof e.name === "string") return e.name;
  return undefined;
}

function networkCode(err: unknown): string | undefined {
  const e = err as { code?: unknown; name?: unknown; errors?: unknown };
  if (typeof e.code === "string" && NETWORK_CODES.has(e.code)) return e.code;
  if (e.name === "TimeoutError") return "ETIMEDOUT";
  if (Array.isArray(e.errors)) for (const inner of e.errors) if (networkCode(inner)) return networkCode(inner);
  return undefined;
}

/** Turn any error thrown by an AWS call into a QuackError (QuackErrors pass through unchanged). */
export function toQuackError(err: unknown, ctx: AwsCallContext): QuackError {
  if (isQuackError(err)) return err;
  const message = err instanceof Error ? err.message : String(err);
  const name = err instanceof Error ? err.name : "";
  const where = ctx.conn.endpoint ?? `AWS (${ctx.conn.region})`;

  if (name === "CredentialsProviderError" || /could not load credentials|profile .* could not be found/i.test(message)) {
    const profile = ctx.conn.profile;
    return new QuackError(
      "AWS_NO_CREDENTIALS",
      `No usable AWS credentials${profile ? ` in profile '${profile}'` : ""} for ${ctx.action}: ${message.replace(/\.$/, "")}.`,
      { fix: profile ? `Check that profile '${profile}' exists in ~/.aws/config or ~/.aws/credentials and holds keys, SSO or a role; or drop --profile. ${CREDENTIALS_FIX}` : CREDENTIALS_FIX, cause: err },
    );
  }
  if (/^Region (is missing|not accepted)/i.test(message)) {
    return new QuackError("AWS_BAD_REGION", `AWS region '${ctx.conn.region}' was refused: ${message}.`, {
      fix: "Pass --region with a region code such as eu-west-1 (or set AWS_REGION).",
      cause: err,
    });
  }
  const net = networkCode(err);
  if (net !== undefined) {
    if (ctx.conn.endpoint !== undefined) {
      return new QuackError("AWS_UNREACHABLE", `Cannot reach the AWS endpoint ${ctx.conn.endpoint} (${net}) for ${ctx.action}.`, {
        fix: "Check --endpoint / QUACKMESH_AWS_ENDPOINT (scheme, host, port) and that the service there is running.",
        cause: err,
      });
    }
    const fix =
      net === "ENOTFOUND"
        ? `Check --region: '${ctx.conn.region}' has no endpoint (regions look like eu-west-1), and that DNS works on this machine.`
        : "Check this machine's internet connection and proxy settings (HTTPS_PROXY), then retry.";
    return new QuackError("AWS_UNREACHABLE", `Cannot reach ${where} (${net}) for ${ctx.action}.`, { fix, cause: err });
  }

  const code = awsErrorCode(err);
  if (code !== undefined && DENIED.has(code)) {
    const needed = ctx.permissions?.length ? ctx.permissions.join(", ") : ctx.action;
    return new QuackError("AWS_UNAUTHORIZED", `AWS refused ${ctx.action} for these credentials (${code}).`, {
      fix: `Use a profile or role whose IAM policy allows: ${needed}.`,
      details: { code, action: ctx.action },
      cause: err,
    });
  }
  if (code !== undefined && BAD_KEYS.has(code)) {
    return new QuackError("AWS_BAD_CREDENTIALS", `AWS did not accept the credentials (${code}): ${message}`, {
      fix: `Check the keys or refresh the session (\`aws sts get-caller-identity\` shows which identity is used). ${CREDENTIALS_FIX}`,
      details: { code },
      cause: err,
    });
  }
  if (code === "OptInRequired") {
    return new QuackError("AWS_REGION_DISABLED", `Region ${ctx.conn.region} is not enabled for this account: ${message}`, {
      fix: "Enable the region in the AWS console (Account → AWS Regions), or pick another --region.",
      cause: err,
    });
  }
  const specific = code === undefined ? undefined : SPECIFIC_FIXES[code] ?? prefixFix(code);
  return new QuackError("AWS_REQUEST_FAILED", `${ctx.action} failed${code ? ` (${code})` : ""}: ${message}`, {
    fix: specific ?? `Check the arguments and ${where}; run again with --json to see the details.`,
    details: code === undefined ? undefined : { code },
    cause: err,
  });
}

const SPECIFIC_FIXES: Record<string, string> = {
  "InvalidKeyPair.NotFound": "Create the key pair (`aws ec2 create-key-pair`) or pass an existing one with --key-name.",
  InsufficientInstanceCapacity: "Try another --instance-type, or another availability zone with --subnet.",
  VcpuLimitExceeded: "Request a higher vCPU quota for this instance family, or pick a smaller --instance-type.",
  InstanceLimitExceeded: "Request a higher instance quota, or pick a smaller --instance-type.",
  Unsupported: "This instance type is not offered here: pick another --instance-type or --subnet.",
  "InvalidGroup.Duplicate": "A security group of that name already exists without QuackMesh's tag: delete it or choose another --stack.",
  "InvalidParameterValue.InstanceType": "Pass a valid --instance-type, e.g. t3.medium.",
  "InvalidIAMInstanceProfile.NotFound": "Pass --instance-profile with the name of an existing instance profile.",
  AddressLimitExceeded: "The region's Elastic IP quota is used up: release an unused one, request more, or pass --no-elastic-ip.",
  DBInstanceAlreadyExists: "A database of that name exists outside this stack's knowledge: delete it or choose another --stack.",
  StorageQuotaExceeded: "Request a higher RDS storage quota, or pass a smaller --db-storage.",
  InstanceQuotaExceeded: "Request a higher RDS instance quota, or remove an unused database.",
  InsufficientDBInstanceCapacity: "Try another --db-instance-class.",
  DBSubnetGroupNotFoundFault: "Pass --db-subnet-group with an existing DB subnet group of the VPC.",
  InvalidDBInstanceState: "The database is busy (being modified, backed up or deleted): wait a few minutes and retry.",
  ResourceLimitExceeded: "Request a higher SageMaker quota for this instance type, or pick another --instance-type.",
  ResourceInUse: "A processing job of that name exists: pass another --name.",
};

function prefixFix(code: string): string | undefined {
  if (code.startsWith("InvalidAMIID")) return "Pass an AMI id that exists in this region with --ami (or leave --ami out for the latest Amazon Linux 2023).";
  if (code.startsWith("InvalidSubnet")) return "Pass an existing subnet id of this region with --subnet.";
  if (code === "ValidationException") return "Check the SageMaker arguments (--role ARN, --image URI, --instance-type ml.*).";
  return undefined;
}

/** Run one AWS call, translating its failure. */
export async function awsCall<T>(ctx: AwsCallContext, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw toQuackError(err, ctx);
  }
}

/** The IAM actions each subcommand calls, named in the fix when AWS refuses one of them. */
export const PERMISSIONS = {
  plan: ["ec2:DescribeImages"],
  up: [
    "ec2:DescribeInstances",
    "ec2:DescribeImages",
    "ec2:DescribeVpcs",
    "ec2:DescribeSubnets",
    "ec2:DescribeSecurityGroups",
    "ec2:CreateSecurityGroup",
    "ec2:AuthorizeSecurityGroupIngress",
    "ec2:RunInstances",
    "ec2:CreateTags",
    "iam:PassRole (with --instance-profile)",
    "ec2:TerminateInstances and ec2:DeleteSecurityGroup (with --replace)",
    "ec2:DescribeAddresses, ec2:AllocateAddress, ec2:AssociateAddress (with an Elastic IP)",
    "ec2:DescribeVolumes, ec2:CreateVolume, ec2:AttachVolume (with a data volume)",
    "rds:DescribeDBInstances, rds:CreateDBInstance, rds:AddTagsToResource, ssm:GetParameter, ssm:PutParameter, ssm:AddTagsToResource, kms:Encrypt/Decrypt of the SSM key (with --database rds)",
  ],
  status: ["ec2:DescribeInstances", "ec2:DescribeVolumes, ec2:DescribeAddresses and rds:DescribeDBInstances to show a stack's data (listed as not checked without them)"],
  down: ["ec2:DescribeInstances", "ec2:DescribeSecurityGroups", "ec2:TerminateInstances", "ec2:DeleteSecurityGroup", "ec2:DescribeAddresses", "ec2:DescribeVolumes", "rds:DescribeDBInstances"],
  downData: [
    "ec2:DescribeInstances",
    "ec2:DescribeSecurityGroups",
    "ec2:TerminateInstances",
    "ec2:DeleteSecurityGroup",
    "ec2:DescribeAddresses",
    "ec2:ReleaseAddress",
    "ec2:DescribeVolumes",
    "ec2:DeleteVolume",
    "rds:DescribeDBInstances",
    "rds:DeleteDBInstance",
    "rds:CreateDBSnapshot",
    "ssm:DeleteParameters",
  ],
  sagemaker: ["sagemaker:CreateProcessingJob", "sagemaker:AddTags", "iam:PassRole (on --role)"],
} as const;

/** Run a subcommand's AWS work; a refusal names every permission the subcommand needs. */
export async function withPermissions<T>(needed: readonly string[], work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (isQuackError(err) && err.code === "AWS_UNAUTHORIZED") {
      throw new QuackError(err.code, err.message, {
        fix: `Use a profile or role whose IAM policy allows: ${needed.join(", ")}.`,
        details: err.details,
        cause: err.cause,
      });
    }
    throw err;
  }
}
