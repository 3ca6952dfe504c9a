/** `quackmesh aws status`: the stacks of a region (or one), their instances, state and URL. */
import type { EC2Client } from "@aws-sdk/client-ec2";
import type { AwsConnection } from "./connection.js";
import { PERMISSIONS, withPermissions } from "./errors.js";
import { findInstances, type StackInstance } from "./stack.js";

export interface StackStatus {
  stack: string;
  /** The orchestrator's URL when its instance runs. */
  url?: string;
  instances: StackInstance[];
}

export interface StatusResult {
  region: string;
  stacks: StackStatus[];
}

export function status(ec2: EC2Client, conn: AwsConnection, stack?: string): Promise<StatusResult> {
  return withPermissions(PERMISSIONS.status, async () => {
    const instances = await findInstances(ec2, conn, stack);
    const byStack = new Map<string, StackInstance[]>();
    for (const i of instances) byStack.set(i.stack, [...(byStack.get(i.stack) ?? []), i]);
    const stacks = [...byStack.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([name, list]) => ({
        stack: name,
        url: list.find((i) => i.role === "orchestrator" && i.state === "running")?.url,
        instances: list,
      }));
    return { region: conn.region, stacks };
  });
}
