/**
 * What `quackmesh aws up` creates, as data: the security group and its rules, the instance and
 * its start script, the tags. Pure, apart from `resolveImage` (one DescribeImages call).
 */
import { DescribeImagesCommand, type EC2Client, type IpPermission, type RunInstancesCommandInput } from "@aws-sdk/client-ec2";
import { QuackError } from "../../../protocol/errors.js";
import type { AwsConnection } from "./connection.js";
import { awsCall } from "./errors.js";
import { stackCost, type StackCost } from "./cost.js";
import { ROLE_TAG, PORT_TAG, STACK_TAG, stackTags, toTagList } from "./tags.js";
import { databasePlan, type DatabaseInput, type DatabasePlan } from "./database.js";
import { stackParam } from "./secrets.js";
import { renderUserData, type UserDataOptions } from "./userData.js";

export { PORT_TAG, ROLE_TAG, STACK_TAG, stackTags, toTagList } from "./tags.js";
export const DEFAULT_STACK = "quackmesh";

export interface PlanInput {
  stack: string;
  region: string;
  instanceType: string;
  /** AMI id; absent: the latest Amazon Linux 2023 for the instance type's architecture. */
  ami?: string;
  keyName?: string;
  subnet?: string;
  instanceProfile?: string;
  diskGb: number;
  /** Who may reach the orchestrator's port (contributors, requesters): default everyone. */
  allowCidr: string;
  /** Who may reach SSH (port 22); absent: no SSH rule. */
  sshCidr?: string;
  userData: Omit<UserDataOptions, "region" | "databaseSsmParam" | "dataVolume">;
  /** Size of the stack's data volume, mounted at the data dir and kept by `down`; absent or 0: none. */
  dataVolumeGb?: number;
  /** PostgreSQL on RDS for the orchestrator's state (`--database rds`); absent: SQLite on the instance. */
  database?: DatabaseInput;
  /** Keep the public address in an Elastic IP of the stack (default: with a database). */
  elasticIp?: boolean;
}

export interface Ingress {
  port: number;
  cidr: string;
  description: string;
}

export interface StackPlan {
  stack: string;
  region: string;
  instanceType: string;
  architecture: "x86_64" | "arm64";
  image: { id: string } | { latest: string };
  keyName?: string;
  subnet?: string;
  instanceProfile?: string;
  diskGb: number;
  securityGroup: { name: string; description: string; ingress: Ingress[] };
  tags: Record<string, string>;
  port: number;
  userData: string;
  userDataBytes: number;
  /** The RDS database `up` creates or takes, and where its URL is kept. */
  database?: DatabasePlan;
  /** SSM parameter of the evaluator key; `up` creates the key there when it is missing (with a database). */
  evaluatorParam?: string;
  elasticIp: boolean;
  /** GiB of the stack's data volume (made once, kept by `down`); absent: none. */
  dataVolumeGb?: number;
  cost: StackCost;
}

export interface ImageInfo {
  id: string;
  name?: string;
  architecture?: string;
  rootDeviceName?: string;
  creationDate?: string;
}

export function validateStackName(name: string): string {
  // It becomes part of the security group's name and of tag values; keep it DNS-like.
  if (!/^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$/.test(name)) {
    throw new QuackError("AWS_BAD_STACK", `Stack name '${name}' is not 1-32 lower-case letters, digits and inner dashes.`, {
      fix: "Pass --stack with a name like quackmesh or orch-eu-1.",
    });
  }
  return name;
}

export function validateCidr(cidr: string, flag: string): string {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(cidr.trim());
  if (!m || m.slice(1, 5).some((o) => Number(o) > 255) || Number(m[5]) > 32) {
    throw new QuackError("AWS_BAD_CIDR", `${flag} '${cidr}' is not an IPv4 CIDR block.`, { fix: `Pass ${flag} like 203.0.113.7/32 (one address) or 0.0.0.0/0 (everyone).` });
  }
  return cidr.trim();
}

export function validateInstanceType(type: string, flag = "--instance-type"): string {
  if (!/^[a-z][a-z0-9-]*\.[a-z0-9]+$/.test(type)) {
    throw new QuackError("BAD_ARGUMENT", `${flag} '${type}' is not an EC2 instance type.`, { fix: `Pass ${flag} like t3.medium or m7g.large.` });
  }
  return type;
}

/** Graviton families (t4g, m7g, c7gn, r8g…, and a1) run arm64 images. */
export function architectureOf(instanceType: string): "x86_64" | "arm64" {
  const family = instanceType.split(".")[0];
  return family === "a1" || /^[a-z]+\d+g[a-z]*$/.test(family) ? "arm64" : "x86_64";
}

export function securityGroupName(stack: string): string {
  return `quackmesh-${stack}`;
}

export function buildPlan(input: PlanInput): StackPlan {
  const stack = validateStackName(input.stack);
  validateInstanceType(input.instanceType);
  if (input.ami !== undefined && !/^ami-[0-9a-f]{8,17}$/.test(input.ami)) {
    throw new QuackError("BAD_ARGUMENT", `--ami '${input.ami}' is not an AMI id.`, { fix: "Pass --ami ami-0123456789abcdef0, or leave it out for the latest Amazon Linux 2023." });
  }
  if (!Number.isInteger(input.diskGb) || input.diskGb < 8 || input.diskGb > 16384) {
    throw new QuackError("BAD_ARGUMENT", `--disk '${input.diskGb}' is not a size from 8 to 16384 GiB.`, { fix: "Pass --disk 20 (GiB)." });
  }
  const architecture = architectureOf(input.instanceType);
  const port = input.userData.port;
  const ingress: Ingress[] = [{ port, cidr: validateCidr(input.allowCidr, "--allow-cidr"), description: "QuackMesh orchestrator API" }];
  if (input.sshCidr !== undefined) ingress.push({ port: 22, cidr: validateCidr(input.sshCidr, "--ssh-cidr"), description: "SSH" });
  const database = input.database === undefined ? undefined : databasePlan(stack, input.database);
  // With a database the state outlives the instance, so the key and the address must too.
  const evaluatorParam = input.userData.evaluatorSsmParam ?? (database ? stackParam(stack, "evaluator-key") : undefined);
  if (database && input.instanceProfile === undefined) {
    throw new QuackError("BAD_ARGUMENT", "--database rds needs --instance-profile: the instance reads the database URL and the evaluator key from SSM Parameter Store with its own role.", {
      fix: "Pass --instance-profile NAME of a profile whose role allows ssm:GetParameter on /quackmesh/<stack>/* (and kms:Decrypt on their key).",
    });
  }
  const elasticIp = input.elasticIp ?? database !== undefined;
  const dataVolumeGb = input.dataVolumeGb || undefined;
  if (dataVolumeGb !== undefined && (!Number.isInteger(dataVolumeGb) || dataVolumeGb < 1 || dataVolumeGb > 16384)) {
    throw new QuackError("BAD_ARGUMENT", `--data-volume '${dataVolumeGb}' is not a size from 1 to 16384 GiB.`, { fix: "Pass --data-volume 20 (GiB), or 0 for none." });
  }
  const userData = renderUserData({ ...input.userData, evaluatorSsmParam: evaluatorParam, databaseSsmParam: database?.urlParam, dataVolume: dataVolumeGb !== undefined, region: input.region });
  return {
    stack,
    region: input.region,
    instanceType: input.instanceType,
    architecture,
    image: input.ami !== undefined ? { id: input.ami } : { latest: `Amazon Linux 2023 (${architecture})` },
    keyName: input.keyName,
    subnet: input.subnet,
    instanceProfile: input.instanceProfile,
    diskGb: input.diskGb,
    securityGroup: { name: securityGroupName(stack), description: `QuackMesh stack ${stack}: orchestrator API${input.sshCidr ? " and SSH" : ""}`, ingress },
    tags: stackTags(stack, { [ROLE_TAG]: "orchestrator", [PORT_TAG]: String(port) }),
    port,
    userData,
    userDataBytes: Buffer.byteLength(userData, "utf8"),
    ...(database ? { database } : {}),
    ...(evaluatorParam ? { evaluatorParam } : {}),
    elasticIp,
    ...(dataVolumeGb !== undefined ? { dataVolumeGb } : {}),
    cost: stackCost({ instanceType: input.instanceType, diskGb: input.diskGb, elasticIp, database, dataVolumeGb }),
  };
}

export function ingressPermissions(ingress: readonly Ingress[]): IpPermission[] {
  return ingress.map((r) => ({ IpProtocol: "tcp", FromPort: r.port, ToPort: r.port, IpRanges: [{ CidrIp: r.cidr, Description: r.description }] }));
}

/** The given AMI (checked to exist), or the newest Amazon Linux 2023 for the plan's architecture. */
export async function resolveImage(ec2: EC2Client, conn: AwsConnection, plan: Pick<StackPlan, "image" | "architecture">): Promise<ImageInfo> {
  const ctx = { conn, action: "ec2:DescribeImages" };
  const input =
    "id" in plan.image
      ? { ImageIds: [plan.image.id] }
      : {
          Owners: ["amazon"],
          Filters: [
            { Name: "name", Values: [`al2023-ami-2023.*-${plan.architecture}`] },
            { Name: "architecture", Values: [plan.architecture] },
            { Name: "state", Values: ["available"] },
            { Name: "root-device-type", Values: ["ebs"] },
          ],
        };
  const reply = await awsCall(ctx, () => ec2.send(new DescribeImagesCommand(input)));
  const images = (reply.Images ?? []).filter((i) => i.ImageId !== undefined);
  if (images.length === 0) {
    throw "id" in plan.image
      ? new QuackError("AWS_AMI_NOT_FOUND", `AMI ${plan.image.id} does not exist in ${conn.region} (or is not shared with this account).`, {
          fix: "Pass an AMI id of this region with --ami, or leave --ami out for the latest Amazon Linux 2023.",
        })
      : new QuackError("AWS_AMI_NOT_FOUND", `No Amazon Linux 2023 image (${plan.architecture}) found in ${conn.region}.`, { fix: "Pass --ami with an Amazon Linux 2023, Debian or Ubuntu AMI id." });
  }
  const newest = images.reduce((a, b) => ((b.CreationDate ?? "") > (a.CreationDate ?? "") ? b : a));
  return { id: newest.ImageId!, name: newest.Name, architecture: newest.Architecture, rootDeviceName: newest.RootDeviceName, creationDate: newest.CreationDate };
}

/** The RunInstances request for a plan, once the image and the security group are known. */
export function runInstancesInput(plan: StackPlan, image: ImageInfo, securityGroupId: string, clientToken: string, availabilityZone?: string): RunInstancesCommandInput {
  const tags = toTagList(plan.tags);
  return {
    ImageId: image.id,
    InstanceType: plan.instanceType as RunInstancesCommandInput["InstanceType"],
    MinCount: 1,
    MaxCount: 1,
    ...(plan.keyName === undefined ? {} : { KeyName: plan.keyName }),
    ...(plan.subnet === undefined ? {} : { SubnetId: plan.subnet }),
    // Where the stack's data volume is: EBS attaches only within one zone.
    ...(availabilityZone === undefined || plan.subnet !== undefined ? {} : { Placement: { AvailabilityZone: availabilityZone } }),
    ...(plan.instanceProfile === undefined ? {} : { IamInstanceProfile: { Name: plan.instanceProfile } }),
    SecurityGroupIds: [securityGroupId],
    UserData: Buffer.from(plan.userData, "utf8").toString("base64"),
    ClientToken: clientToken,
    // IMDSv2 only: the instance's credentials are not reachable through a plain GET.
    MetadataOptions: { HttpTokens: "required", HttpEndpoint: "enabled" },
    ...(image.rootDeviceName === undefined
      ? {}
      : { BlockDeviceMappings: [{ DeviceName: image.rootDeviceName, Ebs: { VolumeSize: plan.diskGb, VolumeType: "gp3", DeleteOnTermination: true } }] }),
    TagSpecifications: [
      { ResourceType: "instance", Tags: tags },
      { ResourceType: "volume", Tags: tags },
    ],
  };
}
