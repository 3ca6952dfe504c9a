/**
 * A stack is everything tagged quackmesh:stack=<name> in one region: its instances and its
 * security group. These helpers find it and wait for its instances to reach a state.
 */
import { DescribeInstancesCommand, DescribeSecurityGroupsCommand, type EC2Client, type Filter, type Instance } from "@aws-sdk/client-ec2";
import { QuackError } from "../../../protocol/errors.js";
import type { AwsConnection } from "./connection.js";
import { awsCall, awsErrorCode } from "./errors.js";
import { PORT_TAG, ROLE_TAG, STACK_TAG } from "./plan.js";

export interface StackInstance {
  stack: string;
  instanceId: string;
  role: string;
  state: string;
  instanceType?: string;
  publicIp?: string;
  privateIp?: string;
  port?: number;
  /** http://<public or private IP>:<port> of the orchestrator, once the instance has an address. */
  url?: string;
  launchTime?: string;
  availabilityZone?: string;
  stateReason?: string;
}

export interface StackGroup {
  stack: string;
  groupId: string;
  groupName: string;
  vpcId?: string;
}

/** Events that long AWS operations report while they wait (rendered by the command). */
export type AwsEvent =
  | { event: "step"; message: string }
  | { event: "waiting"; instanceIds: string[]; target: string; states: Record<string, string>; elapsedMs: number };

export type EmitAwsEvent = (e: AwsEvent) => void;

export interface WaitOptions {
  timeoutMs: number;
  pollMs: number;
  /** Injected so tests do not sleep. */
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
}

export const LIVE_STATES = ["pending", "running", "stopping", "stopped", "shutting-down"] as const;

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function tag(instance: { Tags?: { Key?: string; Value?: string }[] }, key: string): string | undefined {
  return instance.Tags?.find((t) => t.Key === key)?.Value;
}

export function toStackInstance(i: Instance): StackInstance {
  const portText = tag(i, PORT_TAG);
  const port = portText !== undefined && /^\d+$/.test(portText) ? Number(portText) : undefined;
  const host = i.PublicIpAddress ?? i.PrivateIpAddress;
  const alive = i.State?.Name === "running" || i.State?.Name === "pending";
  return {
    stack: tag(i, STACK_TAG) ?? "",
    instanceId: i.InstanceId ?? "",
    role: tag(i, ROLE_TAG) ?? "unknown",
    state: i.State?.Name ?? "unknown",
    instanceType: i.InstanceType,
    publicIp: i.PublicIpAddress,
    privateIp: i.PrivateIpAddress,
    port,
    url: alive && host !== undefined && port !== undefined ? `http://${host}:${port}` : undefined,
    launchTime: i.LaunchTime?.toISOString(),
    availabilityZone: i.Placement?.AvailabilityZone,
    stateReason: i.StateReason?.Message,
  };
}

/** Every page of a DescribeInstances query, flattened. */
export async function describeInstances(ec2: EC2Client, conn: AwsConnection, query: { filters?: Filter[]; instanceIds?: string[] }): Promise<StackInstance[]> {
  const out: StackInstance[] = [];
  let token: string | undefined;
  do {
    const reply = await awsCall({ conn, action: "ec2:DescribeInstances" }, () =>
      ec2.send(new DescribeInstancesCommand({ Filters: query.filters, InstanceIds: query.instanceIds, NextToken: token })),
    );
    for (const r of reply.Reservations ?? []) for (const i of r.Instances ?? []) out.push(toStackInstance(i));
    token = reply.NextToken;
  } while (token);
  return out;
}

/** The stack's instances that are not terminated (one stack, or every stack when `stack` is undefined). */
export function findInstances(ec2: EC2Client, conn: AwsConnection, stack: string | undefined): Promise<StackInstance[]> {
  const byStack: Filter = stack === undefined ? { Name: "tag-key", Values: [STACK_TAG] } : { Name: `tag:${STACK_TAG}`, Values: [stack] };
  return describeInstances(ec2, conn, { filters: [byStack, { Name: "instance-state-name", Values: [...LIVE_STATES] }] });
}

export async function findSecurityGroups(ec2: EC2Client, conn: AwsConnection, stack: string | undefined): Promise<StackGroup[]> {
  const byStack: Filter = stack === undefined ? { Name: "tag-key", Values: [STACK_TAG] } : { Name: `tag:${STACK_TAG}`, Values: [stack] };
  const out: StackGroup[] = [];
  let token: string | undefined;
  do {
    const reply = await awsCall({ conn, action: "ec2:DescribeSecurityGroups" }, () =>
      ec2.send(new DescribeSecurityGroupsCommand({ Filters: [byStack], NextToken: token })),
    );
    for (const g of reply.SecurityGroups ?? []) {
      if (g.GroupId === undefined) continue;
      out.push({ stack: tag(g, STACK_TAG) ?? "", groupId: g.GroupId, groupName: g.GroupName ?? "", vpcId: g.VpcId });
    }
    token = reply.NextToken;
  } while (token);
  return out;
}

/**
 * Poll until every instance is in `target` (running, terminated). An instance that ends in a
 * state it cannot leave (terminated while waiting for running) fails at once with AWS's reason.
 */
export async function waitForState(
  ec2: EC2Client,
  conn: AwsConnection,
  instanceIds: string[],
  target: "running" | "terminated",
  opts: WaitOptions,
  emit: EmitAwsEvent = () => {},
): Promise<StackInstance[]> {
  const sleep = opts.sleep ?? defaultSleep;
  const now = opts.now ?? Date.now;
  const start = now();
  for (;;) {
    let instances: StackInstance[] = [];
    try {
      instances = await describeInstances(ec2, conn, { instanceIds });
    } catch (err) {
      // Right after RunInstances, DescribeInstances may not know the id yet (eventual consistency).
      if (awsErrorCode((err as { cause?: unknown }).cause) !== "InvalidInstanceID.NotFound") throw err;
    }
    const states: Record<string, string> = Object.fromEntries(instanceIds.map((id) => [id, "pending"]));
    for (const i of instances) states[i.instanceId] = i.state;
    if (target === "running") {
      const dead = instances.find((i) => i.state === "terminated" || i.state === "shutting-down");
      if (dead) {
        throw new QuackError("AWS_INSTANCE_FAILED", `Instance ${dead.instanceId} is ${dead.state}${dead.stateReason ? `: ${dead.stateReason}` : ""}.`, {
          fix: "See the reason above; `quackmesh aws down` removes what is left of the stack.",
          details: { instanceId: dead.instanceId, state: dead.state },
        });
      }
    }
    if (instanceIds.every((id) => states[id] === target)) return instances;
    const elapsedMs = now() - start;
    if (elapsedMs >= opts.timeoutMs) {
      throw new QuackError("AWS_TIMEOUT", `Instances are not ${target} after ${Math.round(elapsedMs / 1000)} s (${describe(states)}).`, {
        fix: "Check again with `quackmesh aws status`; raise --timeout if the region is slow.",
        details: { states },
      });
    }
    emit({ event: "waiting", instanceIds, target, states, elapsedMs });
    await sleep(opts.pollMs);
  }
}

function describe(states: Record<string, string>): string {
  return Object.entries(states)
    .map(([id, s]) => `${id} ${s}`)
    .join(", ");
}
