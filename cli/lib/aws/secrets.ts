/**
 * The stack's secrets in SSM Parameter Store (SecureString): the evaluator key, which running
 * jobs name on chain and which must outlive every instance, and the database's password and
 * URL. They never travel in user data (readable by anyone allowed ec2:DescribeInstanceAttribute):
 * the instance reads them at boot with its own role.
 */
import { DeleteParametersCommand, GetParameterCommand, PutParameterCommand, type SSMClient } from "@aws-sdk/client-ssm";
import { Wallet } from "ethers";
import { QuackError } from "../../../protocol/errors.js";
import type { AwsConnection } from "./connection.js";
import { awsCall, awsErrorCode } from "./errors.js";
import { STACK_TAG, toTagList } from "./tags.js";

/** Where a stack's secrets live unless told otherwise. */
export function stackParam(stack: string, what: "evaluator-key" | "database-password" | "database-url"): string {
  return `/quackmesh/${stack}/${what}`;
}

/** The decrypted value, or null when there is no such parameter. */
export async function getSecret(ssm: SSMClient, conn: AwsConnection, name: string): Promise<string | null> {
  try {
    const reply = await ssm.send(new GetParameterCommand({ Name: name, WithDecryption: true }));
    return reply.Parameter?.Value ?? null;
  } catch (err) {
    if (awsErrorCode(err) === "ParameterNotFound") return null;
    return awsCall({ conn, action: "ssm:GetParameter" }, () => Promise.reject(err));
  }
}

/**
 * Write a SecureString. `overwrite: false` never replaces a value (AWS answers
 * ParameterAlreadyExists, returned here as false); a new parameter is tagged with the stack.
 */
export async function putSecret(ssm: SSMClient, conn: AwsConnection, name: string, value: string, opts: { stack: string; description: string; overwrite: boolean }): Promise<boolean> {
  try {
    await ssm.send(
      new PutParameterCommand({
        Name: name,
        Value: value,
        Type: "SecureString",
        Description: opts.description,
        Overwrite: opts.overwrite,
        // AWS refuses tags together with Overwrite.
        ...(opts.overwrite ? {} : { Tags: toTagList({ [STACK_TAG]: opts.stack }) }),
      }),
    );
    return true;
  } catch (err) {
    if (!opts.overwrite && awsErrorCode(err) === "ParameterAlreadyExists") return false;
    return awsCall({ conn, action: "ssm:PutParameter" }, () => Promise.reject(err));
  }
}

export async function deleteSecrets(ssm: SSMClient, conn: AwsConnection, names: string[]): Promise<string[]> {
  const reply = await awsCall({ conn, action: "ssm:DeleteParameters" }, () => ssm.send(new DeleteParametersCommand({ Names: names })));
  return reply.DeletedParameters ?? [];
}

export interface EvaluatorKeyResult {
  param: string;
  /** The evaluator's address, as jobs name it on chain. */
  address: string;
  created: boolean;
}

/** The evaluator key in `param`: kept when there, else a new one made here and stored (never printed). */
export async function ensureEvaluatorKey(ssm: SSMClient, conn: AwsConnection, param: string, stack: string): Promise<EvaluatorKeyResult> {
  const existing = await getSecret(ssm, conn, param);
  if (existing !== null) return { param, address: evaluatorAddress(existing, param), created: false };
  const key = Wallet.createRandom().privateKey;
  const created = await putSecret(ssm, conn, param, key, { stack, description: `QuackMesh evaluator key of stack ${stack}`, overwrite: false });
  if (created) return { param, address: new Wallet(key).address, created: true };
  // Another `up` stored one between our read and write: that one is the key.
  const now = await getSecret(ssm, conn, param);
  if (now === null) throw new QuackError("AWS_BAD_SECRET", `SSM parameter ${param} exists but cannot be read back.`, { fix: "Check ssm:GetParameter and kms:Decrypt for these credentials, then retry." });
  return { param, address: evaluatorAddress(now, param), created: false };
}

function evaluatorAddress(value: string, param: string): string {
  const hex = value.trim().replace(/^0[xX]/, "");
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) {
    throw new QuackError("AWS_BAD_SECRET", `SSM parameter ${param} does not hold an evaluator key (64 hex digits).`, {
      fix: `Put the evaluator's private key there (\`aws ssm put-parameter --type SecureString --overwrite --name ${param} --value 0x…\`), or name another parameter with --evaluator-ssm-param.`,
    });
  }
  return new Wallet("0x" + hex).address;
}
