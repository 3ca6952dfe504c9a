/**
 * `quackmesh aws down`: terminate the stack's instances, wait until they are gone, delete its
 * security groups. Safe to repeat: a stack with nothing left is a no-op.
 */
import { DeleteSecurityGroupCommand, TerminateInstancesCommand, type EC2Client } from "@aws-sdk/client-ec2";
import { QuackError } from "../../../protocol/errors.js";
import type { AwsConnection } from "./connection.js";
import { PERMISSIONS, awsCall, awsErrorCode, withPermissions } from "./errors.js";
import { findInstances, findSecurityGroups, waitForState, type EmitAwsEvent, type WaitOptions } from "./stack.js";

export interface DownResult {
  stack: string;
  region: string;
  terminated: string[];
  deletedSecurityGroups: string[];
}

export function down(ec2: EC2Client, conn: AwsConnection, stack: string, opts: { wait: WaitOptions }, emit: EmitAwsEvent = () => {}): Promise<DownResult> {
  return withPermissions(PERMISSIONS.down, () => downSteps(ec2, conn, stack, opts.wait, emit));
}

async function downSteps(ec2: EC2Client, conn: AwsConnection, stack: string, wait: WaitOptions, emit: EmitAwsEvent): Promise<DownResult> {
  const instances = await findInstances(ec2, conn, stack);
  const ids = instances.map((i) => i.instanceId);
  if (ids.length > 0) {
    emit({ event: "step", message: `Terminating ${ids.join(", ")}` });
    await awsCall({ conn, action: "ec2:TerminateInstances" }, () => ec2.send(new TerminateInstancesCommand({ InstanceIds: ids })));
    await waitForState(ec2, conn, ids, "terminated", wait, emit);
  }
  const groups = await findSecurityGroups(ec2, conn, stack);
  const deleted: string[] = [];
  for (const g of groups) {
    emit({ event: "step", message: `Deleting security group ${g.groupId} (${g.groupName})` });
    await deleteGroup(ec2, conn, g.groupId, wait);
    deleted.push(g.groupId);
  }
  return { stack, region: conn.region, terminated: ids, deletedSecurityGroups: deleted };
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
