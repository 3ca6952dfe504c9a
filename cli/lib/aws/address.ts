/**
 * The stack's Elastic IP: one public address tagged with the stack, associated with whichever
 * instance runs the orchestrator, so the URL contributors configured stays valid across
 * `up --replace`. `down` keeps it unless told to delete the stack's data.
 */
import { AllocateAddressCommand, AssociateAddressCommand, DescribeAddressesCommand, ReleaseAddressCommand, type EC2Client } from "@aws-sdk/client-ec2";
import { QuackError } from "../../../protocol/errors.js";
import type { AwsConnection } from "./connection.js";
import { awsCall } from "./errors.js";
import { STACK_TAG, stackTags, toTagList } from "./tags.js";

export interface StackAddress {
  allocationId: string;
  publicIp: string;
  /** The instance it is associated with, if any. */
  instanceId?: string;
}

export async function findAddress(ec2: EC2Client, conn: AwsConnection, stack: string): Promise<StackAddress | null> {
  const reply = await awsCall({ conn, action: "ec2:DescribeAddresses" }, () =>
    ec2.send(new DescribeAddressesCommand({ Filters: [{ Name: `tag:${STACK_TAG}`, Values: [stack] }] })),
  );
  const a = (reply.Addresses ?? []).find((x) => x.AllocationId !== undefined && x.PublicIp !== undefined);
  return a ? { allocationId: a.AllocationId!, publicIp: a.PublicIp!, instanceId: a.InstanceId } : null;
}

/** The stack's address, allocated (and tagged) when it has none yet. */
export async function ensureAddress(ec2: EC2Client, conn: AwsConnection, stack: string): Promise<StackAddress & { allocated: boolean }> {
  const found = await findAddress(ec2, conn, stack);
  if (found) return { ...found, allocated: false };
  const reply = await awsCall({ conn, action: "ec2:AllocateAddress" }, () =>
    ec2.send(new AllocateAddressCommand({ Domain: "vpc", TagSpecifications: [{ ResourceType: "elastic-ip", Tags: toTagList(stackTags(stack)) }] })),
  );
  if (reply.AllocationId === undefined || reply.PublicIp === undefined) {
    throw new QuackError("AWS_REQUEST_FAILED", "ec2:AllocateAddress answered without an address.", { fix: "Check the Elastic IPs in the EC2 console, then retry." });
  }
  return { allocationId: reply.AllocationId, publicIp: reply.PublicIp, allocated: true };
}

/** Point the address at `instanceId` (taking it from the instance it served before). */
export async function associateAddress(ec2: EC2Client, conn: AwsConnection, allocationId: string, instanceId: string): Promise<void> {
  await awsCall({ conn, action: "ec2:AssociateAddress" }, () => ec2.send(new AssociateAddressCommand({ AllocationId: allocationId, InstanceId: instanceId, AllowReassociation: true })));
}

export async function releaseAddress(ec2: EC2Client, conn: AwsConnection, allocationId: string): Promise<void> {
  await awsCall({ conn, action: "ec2:ReleaseAddress" }, () => ec2.send(new ReleaseAddressCommand({ AllocationId: allocationId })));
}
