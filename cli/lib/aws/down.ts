/**
 * `quackmesh aws down`: terminate the stack's instances, wait until they are gone, delete its
 * security groups. Safe to repeat: a stack with nothing left is a no-op. What holds the
 * orchestrator's state and identity outlives it (the RDS database with its security group and
 * its SSM parameters, the Elastic IP, the data volume) unless `deleteData`; the evaluator key in SSM is never
 * deleted here, because jobs on chain keep naming it.
 */
import { DeleteSecurityGroupCommand, TerminateInstancesCommand, type EC2Client } from "@aws-sdk/client-ec2";
import type { RDSClient } from "@aws-sdk/client-rds";
import type { SSMClient } from "@aws-sdk/client-ssm";
import { findAddress, releaseAddress } from "./address.js";
import { databaseGroupName, databaseIdentifier, deleteDatabase, describeDatabase } from "./database.js";
import { deleteSecrets, stackParam } from "./secrets.js";
import { deleteDataVolume, findDataVolume, waitForVolume } from "./volume.js";
import { QuackError, isQuackError } from "../../../protocol/errors.js";
import type { AwsConnection } from "./connection.js";
import { PERMISSIONS, awsCall, awsErrorCode, withPermissions } from "./errors.js";
import { findInstances, findSecurityGroups, waitForState, type EmitAwsEvent, type WaitOptions } from "./stack.js";

export interface DownResult {
  stack: string;
  region: string;
  terminated: string[];
  deletedSecurityGroups: string[];
  /** What stays for the next `up` (with `data`): the database, its security group, the Elastic IP, the data volume. */
  kept?: string[];
  /** With `deleteData`: what went. */
  deleted?: { database?: { identifier: string; snapshot: string }; elasticIp?: string; dataVolume?: string; parameters: string[] };
}

export interface DownData {
  rds: RDSClient;
  ssm: SSMClient;
  /** Delete the database (after a final snapshot), its parameters, the Elastic IP and the data volume too. */
  deleteData: boolean;
  /** Waiting for the database to be deleted (default: the instances' wait). */
  databaseWait?: WaitOptions;
}

export function down(ec2: EC2Client, conn: AwsConnection, stack: string, opts: { wait: WaitOptions; data?: DownData }, emit: EmitAwsEvent = () => {}): Promise<DownResult> {
  return withPermissions(opts.data?.deleteData ? PERMISSIONS.downData : PERMISSIONS.down, () => downSteps(ec2, conn, stack, opts.wait, opts.data, emit));
}

async function downSteps(ec2: EC2Client, conn: AwsConnection, stack: string, wait: WaitOptions, data: DownData | undefined, emit: EmitAwsEvent): Promise<DownResult> {
  const instances = await findInstances(ec2, conn, stack);
  const ids = instances.map((i) => i.instanceId);
  if (ids.length > 0) {
    emit({ event: "step", message: `Terminating ${ids.join(", ")}` });
    await awsCall({ conn, action: "ec2:TerminateInstances" }, () => ec2.send(new TerminateInstancesCommand({ InstanceIds: ids })));
    await waitForState(ec2, conn, ids, "terminated", wait, emit);
  }
  const groups = await findSecurityGroups(ec2, conn, stack);
  const deleted: string[] = [];
  const dbGroups = groups.filter((g) => g.groupName === databaseGroupName(stack));
  // The database's group goes only with the database.
  for (const g of groups.filter((x) => !dbGroups.includes(x))) {
    emit({ event: "step", message: `Deleting security group ${g.groupId} (${g.groupName})` });
    await deleteGroup(ec2, conn, g.groupId, wait);
    deleted.push(g.groupId);
  }
  const result: DownResult = { stack, region: conn.region, terminated: ids, deletedSecurityGroups: deleted };
  if (!data) return result;
  if (!data.deleteData) {
    // Only to say what stays: credentials that may not look (a stack without RDS) still get their instances removed.
    const look = async <T>(what: string, fn: () => Promise<T>): Promise<T | string> => {
      try {
        return await fn();
      } catch (err) {
        if (isQuackError(err) && err.code === "AWS_UNAUTHORIZED") return `${what}: not checked (${err.message})`;
        throw err;
      }
    };
    const db = await look("database", () => describeDatabase(data.rds, conn, databaseIdentifier(stack)));
    const kept = await look("Elastic IP", () => findAddress(ec2, conn, stack));
    const volume = await look("data volume", () => findDataVolume(ec2, conn, stack));
    result.kept = [
      ...(typeof db === "string" ? [db] : db ? [`database ${databaseIdentifier(stack)} (${db.DBInstanceStatus ?? "unknown"})`] : []),
      ...dbGroups.map((g) => `security group ${g.groupId} (${g.groupName})`),
      ...(typeof kept === "string" ? [kept] : kept ? [`Elastic IP ${kept.publicIp}`] : []),
      ...(typeof volume === "string" ? [volume] : volume ? [`data volume ${volume.volumeId} (${volume.sizeGb} GiB, ${volume.availabilityZone})`] : []),
    ];
    return result;
  }
  const volume = await findDataVolume(ec2, conn, stack);
  if (volume) {
    // Let go by the terminated instance first.
    await waitForVolume(ec2, conn, volume.volumeId, wait, emit);
    emit({ event: "step", message: `Deleting data volume ${volume.volumeId}` });
    await deleteDataVolume(ec2, conn, volume.volumeId);
  }
  const address = await findAddress(ec2, conn, stack);
  const database = await deleteDatabase(data.rds, conn, databaseIdentifier(stack), data.databaseWait ?? wait, emit);
  for (const g of dbGroups) {
    emit({ event: "step", message: `Deleting security group ${g.groupId} (${g.groupName})` });
    await deleteGroup(ec2, conn, g.groupId, wait);
    deleted.push(g.groupId);
  }
  if (address) {
    emit({ event: "step", message: `Releasing Elastic IP ${address.publicIp}` });
    await releaseAddress(ec2, conn, address.allocationId);
  }
  const parameters = await deleteSecrets(data.ssm, conn, [stackParam(stack, "database-url"), stackParam(stack, "database-password")]);
  result.deleted = {
    ...(database ? { database: { identifier: databaseIdentifier(stack), ...database } } : {}),
    ...(address ? { elasticIp: address.publicIp } : {}),
    ...(volume ? { dataVolume: volume.volumeId } : {}),
    parameters,
  };
  return result;
}

/**
 * A terminated instance's network interface lets go of its group a little after the instance
 * is gone; until then DeleteSecurityGroup answers DependencyViolation, so retry for a while.
 */
async function deleteGroup(ec2: EC2Client, conn: AwsConnection, groupId: string, wait: WaitOptions): Promise<void> {
  const sleep = wait.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const now = wait.now ?? Date.now;
  const start = now();
  for (;;) {
    try {
      await ec2.send(new DeleteSecurityGroupCommand({ GroupId: groupId }));
      return;
    } catch (err) {
      const code = awsErrorCode(err);
      if (code === "InvalidGroup.NotFound") return;
      if (code !== "DependencyViolation") return awsCall({ conn, action: "ec2:DeleteSecurityGroup" }, () => Promise.reject(err));
      if (now() - start >= wait.timeoutMs) {
        throw new QuackError("AWS_TIMEOUT", `Security group ${groupId} is still in use after ${Math.round((now() - start) / 1000)} s.`, {
          fix: "Something outside the stack uses it (another instance, a load balancer): detach it, then run `quackmesh aws down` again.",
          cause: err,
        });
      }
      await sleep(wait.pollMs);
    }
  }
}
