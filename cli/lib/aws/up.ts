/**
 * `quackmesh aws up`: security group, instance, wait until running. Safe to repeat: a stack that
 * exists is refused (or replaced with `replace`), a leftover security group of the stack is
 * reused, and RunInstances carries a client token so an SDK retry never starts a second instance.
 * With a database in the plan, first the evaluator key in SSM (made when missing) and the RDS
 * database (made or taken, waited for, its URL put in SSM); with a data volume, the instance
 * starts in the kept volume's zone and gets it attached (made the first time); with an Elastic
 * IP, the stack's address (allocated once, kept by `down`) is moved to the new instance.
 */
import { randomUUID } from "node:crypto";
import {
  AuthorizeSecurityGroupIngressCommand,
  CreateSecurityGroupCommand,
  DeleteSecurityGroupCommand,
  DescribeSubnetsCommand,
  DescribeVpcsCommand,
  RunInstancesCommand,
  type EC2Client,
} from "@aws-sdk/client-ec2";
import type { RDSClient } from "@aws-sdk/client-rds";
import type { SSMClient } from "@aws-sdk/client-ssm";
import { QuackError } from "../../../protocol/errors.js";
import { associateAddress, ensureAddress } from "./address.js";
import type { AwsConnection } from "./connection.js";
import { ensureDatabase, type DatabaseResult } from "./database.js";
import { ensureEvaluatorKey, type EvaluatorKeyResult } from "./secrets.js";
import { attachDataVolume, createDataVolume, findDataVolume, waitForVolume, type DataVolume } from "./volume.js";
import { down } from "./down.js";
import { PERMISSIONS, awsCall, awsErrorCode, toQuackError, withPermissions } from "./errors.js";
import { STACK_TAG, ingressPermissions, resolveImage, runInstancesInput, toTagList, type ImageInfo, type StackPlan } from "./plan.js";
import { findInstances, findSecurityGroups, waitForState, type EmitAwsEvent, type StackInstance, type WaitOptions } from "./stack.js";

export interface UpOptions {
  replace?: boolean;
  wait: WaitOptions;
  /** Idempotency token for RunInstances; a fresh one per `up` by default. */
  clientToken?: string;
  /** The RDS and SSM clients a plan with a database needs. */
  rds?: RDSClient;
  ssm?: SSMClient;
  /** Waiting for the database (default: the instance's wait). */
  databaseWait?: WaitOptions;
}

export interface UpResult {
  stack: string;
  region: string;
  instanceId: string;
  instanceType: string;
  image: ImageInfo;
  securityGroupId: string;
  securityGroupCreated: boolean;
  vpcId: string;
  publicIp?: string;
  privateIp?: string;
  url?: string;
  replaced: string[];
  database?: DatabaseResult;
  /** Where the evaluator key is kept, and its address (with a database). */
  evaluator?: EvaluatorKeyResult;
  elasticIp?: { allocationId: string; publicIp: string; allocated: boolean };
  dataVolume?: DataVolume & { created: boolean };
}

export function up(ec2: EC2Client, conn: AwsConnection, plan: StackPlan, opts: UpOptions, emit: EmitAwsEvent = () => {}): Promise<UpResult> {
  return withPermissions(PERMISSIONS.up, () => upSteps(ec2, conn, plan, opts, emit));
}

async function upSteps(ec2: EC2Client, conn: AwsConnection, plan: StackPlan, opts: UpOptions, emit: EmitAwsEvent): Promise<UpResult> {
  emit({ event: "step", message: `Looking for stack ${plan.stack} in ${conn.region}` });
  const existing = await findInstances(ec2, conn, plan.stack);
  let replaced: string[] = [];
  if (existing.length > 0) {
    if (!opts.replace) {
      throw new QuackError("AWS_STACK_EXISTS", `Stack ${plan.stack} already runs in ${conn.region}: ${existing.map((i) => `${i.instanceId} (${i.state})`).join(", ")}.`, {
        fix: `Use it as it is (\`quackmesh aws status --stack ${plan.stack}\`), remove it first (\`quackmesh aws down --stack ${plan.stack}\`), or pass --replace.`,
        details: { instances: existing.map((i) => i.instanceId) },
      });
    }
    emit({ event: "step", message: `Replacing stack ${plan.stack}: removing ${existing.map((i) => i.instanceId).join(", ")}` });
    replaced = (await down(ec2, conn, plan.stack, { wait: opts.wait }, emit)).terminated;
  }

  const image = await resolveImage(ec2, conn, plan);
  if (image.architecture !== undefined && image.architecture !== plan.architecture) {
    throw new QuackError("BAD_ARGUMENT", `AMI ${image.id} is ${image.architecture} but ${plan.instanceType} runs ${plan.architecture}.`, {
      fix: `Pass an ${plan.architecture} AMI with --ami, or an instance type of the AMI's architecture.`,
    });
  }
  const { vpcId, availabilityZone: subnetZone } = await targetVpc(ec2, conn, plan.subnet);
  // A kept data volume decides the zone: EBS attaches only within one.
  const kept = plan.dataVolumeGb ? await findDataVolume(ec2, conn, plan.stack) : null;
  if (kept && subnetZone !== undefined && kept.availabilityZone !== subnetZone) {
    throw new QuackError("BAD_ARGUMENT", `The stack's data volume ${kept.volumeId} is in ${kept.availabilityZone}; subnet ${plan.subnet} is in ${subnetZone}.`, {
      fix: `Pass --subnet with a subnet in ${kept.availabilityZone}, or leave --subnet out.`,
    });
  }
  const { groupId, created } = await ensureSecurityGroup(ec2, conn, plan, vpcId, emit);
  let evaluator: EvaluatorKeyResult | undefined;
  let database: DatabaseResult | undefined;
  if (plan.database) {
    const { rds, ssm } = opts;
    if (!rds || !ssm || !plan.evaluatorParam) throw new QuackError("INTERNAL", "aws up with a database needs the RDS and SSM clients.");
    evaluator = await ensureEvaluatorKey(ssm, conn, plan.evaluatorParam, plan.stack);
    emit({ event: "step", message: `Evaluator ${evaluator.address}: key ${evaluator.created ? "made and stored" : "kept"} in SSM parameter ${evaluator.param}` });
    database = await ensureDatabase({ ec2, rds, ssm }, conn, plan.stack, plan.database, vpcId, opts.databaseWait ?? opts.wait, emit);
  }

  emit({ event: "step", message: `Starting ${plan.instanceType} from ${image.id}${image.name ? ` (${image.name})` : ""}` });
  let instanceId: string;
  try {
    const input = runInstancesInput(plan, image, groupId, opts.clientToken ?? `${plan.stack}-${randomUUID()}`, kept?.availabilityZone);
    const reply = await awsCall({ conn, action: "ec2:RunInstances" }, () => ec2.send(new RunInstancesCommand(input)));
    const id = reply.Instances?.[0]?.InstanceId;
    if (id === undefined) throw new QuackError("AWS_REQUEST_FAILED", "ec2:RunInstances answered without an instance id.", { fix: "Check the EC2 console, then retry." });
    instanceId = id;
  } catch (err) {
    // Leave nothing behind that this run created: the stack stays as it was.
    if (created) await deleteGroupQuietly(ec2, groupId);
    throw err;
  }

  emit({ event: "step", message: `Waiting for ${instanceId} to run` });
  const [instance] = await waitForState(ec2, conn, [instanceId], "running", opts.wait, emit);
  const r = result(plan, conn, image, groupId, created, vpcId, instance, replaced);
  if (plan.dataVolumeGb) r.dataVolume = await dataVolumeFor(ec2, conn, plan, kept, instance, opts.wait, emit);
  if (plan.elasticIp) {
    const address = await ensureAddress(ec2, conn, plan.stack);
    emit({ event: "step", message: `${address.allocated ? "Allocated" : "Moving"} Elastic IP ${address.publicIp} to ${instanceId}` });
    await associateAddress(ec2, conn, address.allocationId, instanceId);
    r.elasticIp = address;
    r.publicIp = address.publicIp;
    r.url = `http://${address.publicIp}:${plan.port}`;
  }
  return { ...r, ...(database ? { database } : {}), ...(evaluator ? { evaluator } : {}) };
}

function result(plan: StackPlan, conn: AwsConnection, image: ImageInfo, groupId: string, created: boolean, vpcId: string, i: StackInstance, replaced: string[]): UpResult {
  return {
    stack: plan.stack,
    region: conn.region,
    instanceId: i.instanceId,
    instanceType: plan.instanceType,
    image,
    securityGroupId: groupId,
    securityGroupCreated: created,
    vpcId,
    publicIp: i.publicIp,
    privateIp: i.privateIp,
    url: i.url,
    replaced,
  };
}

/** The stack's data volume, made in the instance's zone when it has none, attached to the instance (its start script waits for it). */
async function dataVolumeFor(ec2: EC2Client, conn: AwsConnection, plan: StackPlan, kept: DataVolume | null, instance: StackInstance, wait: WaitOptions, emit: EmitAwsEvent): Promise<DataVolume & { created: boolean }> {
  let volume = kept;
  if (!volume) {
    const zone = instance.availabilityZone;
    if (zone === undefined) throw new QuackError("AWS_REQUEST_FAILED", `ec2:DescribeInstances did not say where ${instance.instanceId} runs.`, { fix: "Run the same `aws up` again." });
    emit({ event: "step", message: `Creating the ${plan.dataVolumeGb} GiB data volume in ${zone}` });
    volume = await createDataVolume(ec2, conn, plan.stack, zone, plan.dataVolumeGb!);
  }
  // A new volume is being made; a kept one may still be let go by the instance it served.
  await waitForVolume(ec2, conn, volume.volumeId, wait, emit);
  emit({ event: "step", message: `Attaching data volume ${volume.volumeId} to ${instance.instanceId}` });
  await attachDataVolume(ec2, conn, volume.volumeId, instance.instanceId);
  return { ...volume, state: "in-use", instanceId: instance.instanceId, created: !kept };
}

/** The subnet's VPC (and zone), or the region's default VPC. */
async function targetVpc(ec2: EC2Client, conn: AwsConnection, subnet: string | undefined): Promise<{ vpcId: string; availabilityZone?: string }> {
  if (subnet !== undefined) {
    const reply = await awsCall({ conn, action: "ec2:DescribeSubnets" }, () => ec2.send(new DescribeSubnetsCommand({ SubnetIds: [subnet] })));
    const vpc = reply.Subnets?.[0]?.VpcId;
    if (vpc === undefined) throw new QuackError("BAD_ARGUMENT", `Subnet ${subnet} was not found in ${conn.region}.`, { fix: "Pass an existing subnet id with --subnet." });
    return { vpcId: vpc, availabilityZone: reply.Subnets?.[0]?.AvailabilityZone };
  }
  const reply = await awsCall({ conn, action: "ec2:DescribeVpcs" }, () =>
    ec2.send(new DescribeVpcsCommand({ Filters: [{ Name: "is-default", Values: ["true"] }] })),
  );
  const vpc = reply.Vpcs?.[0]?.VpcId;
  if (vpc === undefined) {
    throw new QuackError("AWS_NO_DEFAULT_VPC", `Region ${conn.region} has no default VPC.`, { fix: "Pass --subnet with a public subnet of the VPC to use." });
  }
  return { vpcId: vpc };
}

async function ensureSecurityGroup(ec2: EC2Client, conn: AwsConnection, plan: StackPlan, vpcId: string, emit: EmitAwsEvent): Promise<{ groupId: string; created: boolean }> {
  const groups = (await findSecurityGroups(ec2, conn, plan.stack)).filter((g) => g.vpcId === undefined || g.vpcId === vpcId);
  let groupId: string | undefined = groups[0]?.groupId;
  const created = groupId === undefined;
  if (groupId === undefined) {
    emit({ event: "step", message: `Creating security group ${plan.securityGroup.name} in ${vpcId}` });
    const reply = await awsCall({ conn, action: "ec2:CreateSecurityGroup" }, () =>
      ec2.send(
        new CreateSecurityGroupCommand({
          GroupName: plan.securityGroup.name,
          Description: plan.securityGroup.description,
          VpcId: vpcId,
          TagSpecifications: [{ ResourceType: "security-group", Tags: toTagList({ Name: plan.securityGroup.name, [STACK_TAG]: plan.stack }) }],
        }),
      ),
    );
    if (reply.GroupId === undefined) throw new QuackError("AWS_REQUEST_FAILED", "ec2:CreateSecurityGroup answered without a group id.", { fix: "Retry." });
    groupId = reply.GroupId;
  } else {
    emit({ event: "step", message: `Reusing security group ${groupId} of stack ${plan.stack}` });
  }
  const id = groupId;
  try {
    // One call per rule: a rule the group already has is refused alone, the others still land.
    for (const permission of ingressPermissions(plan.securityGroup.ingress)) {
      try {
        await ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: id, IpPermissions: [permission] }));
      } catch (err) {
        if (awsErrorCode(err) !== "InvalidPermission.Duplicate") throw err;
      }
    }
  } catch (err) {
    if (created) await deleteGroupQuietly(ec2, id);
    throw toQuackError(err, { conn, action: "ec2:AuthorizeSecurityGroupIngress" });
  }
  return { groupId: id, created };
}

async function deleteGroupQuietly(ec2: EC2Client, groupId: string): Promise<void> {
  try {
    await ec2.send(new DeleteSecurityGroupCommand({ GroupId: groupId }));
  } catch {
    // Best effort: the original error matters more; `aws down` removes a leftover group.
  }
}
