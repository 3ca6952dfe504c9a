/**
 * The stack's data volume: an EBS volume mounted at the orchestrator's data dir, holding what
 * the instance's root volume would lose at termination (the SQLite store, or with a database the
 * model and update files, the known hosts). Made once in the instance's availability zone,
 * tagged with the stack, attached to each new instance (which `up` then starts in the volume's
 * zone); `down` keeps it unless told to delete the stack's data.
 */
import { AttachVolumeCommand, CreateVolumeCommand, DeleteVolumeCommand, DescribeVolumesCommand, type EC2Client } from "@aws-sdk/client-ec2";
import { QuackError } from "../../../protocol/errors.js";
import type { AwsConnection } from "./connection.js";
import { awsCall, awsErrorCode } from "./errors.js";
import type { EmitAwsEvent, WaitOptions } from "./stack.js";
import { ROLE_TAG, STACK_TAG, stackTags, toTagList } from "./tags.js";

export const DATA_ROLE = "data";
/** Where `up` attaches it; the start script mounts it by its file system label (userData.ts), whatever the kernel names it. */
export const DATA_DEVICE = "/dev/sdf";

export interface DataVolume {
  volumeId: string;
  availabilityZone: string;
  sizeGb: number;
  state: string;
  /** The instance it is attached to, if any. */
  instanceId?: string;
}

export async function findDataVolume(ec2: EC2Client, conn: AwsConnection, stack: string): Promise<DataVolume | null> {
  const reply = await awsCall({ conn, action: "ec2:DescribeVolumes" }, () =>
    ec2.send(
      new DescribeVolumesCommand({
        Filters: [
          { Name: `tag:${STACK_TAG}`, Values: [stack] },
          { Name: `tag:${ROLE_TAG}`, Values: [DATA_ROLE] },
          { Name: "status", Values: ["creating", "available", "in-use"] },
        ],
      }),
    ),
  );
  const v = (reply.Volumes ?? []).find((x) => x.VolumeId !== undefined && x.AvailabilityZone !== undefined);
  if (!v) return null;
  return { volumeId: v.VolumeId!, availabilityZone: v.AvailabilityZone!, sizeGb: v.Size ?? 0, state: v.State ?? "unknown", instanceId: v.Attachments?.find((a) => a.State === "attached" || a.State === "attaching")?.InstanceId };
}

export async function createDataVolume(ec2: EC2Client, conn: AwsConnection, stack: string, availabilityZone: string, sizeGb: number): Promise<DataVolume> {
  const reply = await awsCall({ conn, action: "ec2:CreateVolume" }, () =>
    ec2.send(
      new CreateVolumeCommand({
        AvailabilityZone: availabilityZone,
        Size: sizeGb,
        VolumeType: "gp3",
        Encrypted: true,
        TagSpecifications: [{ ResourceType: "volume", Tags: toTagList(stackTags(stack, { Name: `quackmesh-${stack}-data`, [ROLE_TAG]: DATA_ROLE })) }],
      }),
    ),
  );
  if (reply.VolumeId === undefined) throw new QuackError("AWS_REQUEST_FAILED", "ec2:CreateVolume answered without a volume id.", { fix: "Check the volumes in the EC2 console, then retry." });
  return { volumeId: reply.VolumeId, availabilityZone, sizeGb, state: reply.State ?? "creating" };
}

/** Poll until the volume is available (made, or let go by a terminated instance). */
export async function waitForVolume(ec2: EC2Client, conn: AwsConnection, volumeId: string, opts: WaitOptions, emit: EmitAwsEvent): Promise<void> {
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const now = opts.now ?? Date.now;
  const start = now();
  for (;;) {
    let state = "creating";
    try {
      const reply = await ec2.send(new DescribeVolumesCommand({ VolumeIds: [volumeId] }));
      state = reply.Volumes?.[0]?.State ?? state;
    } catch (err) {
      // Right after CreateVolume the id may not be known yet (eventual consistency).
      if (awsErrorCode(err) !== "InvalidVolume.NotFound") return awsCall({ conn, action: "ec2:DescribeVolumes" }, () => Promise.reject(err));
    }
    if (state === "available") return;
    if (state === "error" || state === "deleting" || state === "deleted") {
      throw new QuackError("AWS_REQUEST_FAILED", `Data volume ${volumeId} is ${state}.`, { fix: "See the volume in the EC2 console; `quackmesh aws down --delete-data` removes what is left." });
    }
    const elapsedMs = now() - start;
    if (elapsedMs >= opts.timeoutMs) {
      throw new QuackError("AWS_TIMEOUT", `Data volume ${volumeId} is not available after ${Math.round(elapsedMs / 1000)} s (${state}).`, {
        fix: "Run the same `aws up` again later: it takes the volume as it is.",
      });
    }
    emit({ event: "waiting", instanceIds: [volumeId], target: "available", states: { [volumeId]: state }, elapsedMs });
    await sleep(opts.pollMs);
  }
}

export async function attachDataVolume(ec2: EC2Client, conn: AwsConnection, volumeId: string, instanceId: string): Promise<void> {
  await awsCall({ conn, action: "ec2:AttachVolume" }, () => ec2.send(new AttachVolumeCommand({ VolumeId: volumeId, InstanceId: instanceId, Device: DATA_DEVICE })));
}

export async function deleteDataVolume(ec2: EC2Client, conn: AwsConnection, volumeId: string): Promise<void> {
  await awsCall({ conn, action: "ec2:DeleteVolume" }, () => ec2.send(new DeleteVolumeCommand({ VolumeId: volumeId })));
}
