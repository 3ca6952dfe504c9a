/**
 * The orchestrators' PostgreSQL on RDS (`aws up --database rds`): one DB instance per stack,
 * quackmesh-<stack>, not publicly accessible, its own security group open on 5432 to the VPC
 * only, storage encrypted, 7 days of backups. Its master password is stored in SSM Parameter
 * Store before the DB instance is asked for, so no failure later loses it; once the DB instance
 * is available its URL goes there too, where the orchestrator instances read it at boot.
 */
import { randomBytes } from "node:crypto";
import { AuthorizeSecurityGroupIngressCommand, CreateSecurityGroupCommand, DescribeVpcsCommand, type EC2Client } from "@aws-sdk/client-ec2";
import { CreateDBInstanceCommand, DeleteDBInstanceCommand, DescribeDBInstancesCommand, type DBInstance, type RDSClient } from "@aws-sdk/client-rds";
import type { SSMClient } from "@aws-sdk/client-ssm";
import { QuackError } from "../../../protocol/errors.js";
import type { AwsConnection } from "./connection.js";
import { awsCall, awsErrorCode } from "./errors.js";
import { ROLE_TAG, stackTags, toTagList } from "./tags.js";
import { getSecret, putSecret, stackParam } from "./secrets.js";
import { findSecurityGroups, type EmitAwsEvent, type WaitOptions } from "./stack.js";

export const DB_NAME = "quackmesh";
export const DB_USER = "quackmesh";
export const DB_PORT = 5432;
/** The role tag of the database's security group: `down` keeps it while the database stays. */
export const DATABASE_ROLE = "database";

export interface DatabaseInput {
  instanceClass: string;
  storageGb: number;
  /** PostgreSQL major (or major.minor) version; RDS picks the newest minor. */
  engineVersion: string;
  /** DB subnet group; absent: the default VPC's default group. */
  subnetGroup?: string;
}

export interface DatabasePlan extends DatabaseInput {
  identifier: string;
  dbName: string;
  username: string;
  securityGroupName: string;
  passwordParam: string;
  urlParam: string;
}

export function databaseIdentifier(stack: string): string {
  return `quackmesh-${stack}`;
}

export function databaseGroupName(stack: string): string {
  return `quackmesh-${stack}-db`;
}

export function databasePlan(stack: string, input: DatabaseInput): DatabasePlan {
  if (!/^db\.[a-z0-9]+\.[a-z0-9]+$/.test(input.instanceClass)) {
    throw new QuackError("BAD_ARGUMENT", `--db-instance-class '${input.instanceClass}' is not an RDS instance class.`, { fix: "Pass --db-instance-class like db.t4g.micro or db.m7g.large." });
  }
  if (!Number.isInteger(input.storageGb) || input.storageGb < 20 || input.storageGb > 65536) {
    throw new QuackError("BAD_ARGUMENT", `--db-storage '${input.storageGb}' is not a size from 20 to 65536 GiB.`, { fix: "Pass --db-storage 20 (GiB)." });
  }
  if (!/^\d{2}(\.\d{1,2})?$/.test(input.engineVersion)) {
    throw new QuackError("BAD_ARGUMENT", `--db-engine-version '${input.engineVersion}' is not a PostgreSQL version.`, { fix: "Pass --db-engine-version 15 (or 16, 17)." });
  }
  if (input.subnetGroup !== undefined && !/^[A-Za-z0-9 ._-]{1,255}$/.test(input.subnetGroup)) {
    throw new QuackError("BAD_ARGUMENT", `--db-subnet-group '${input.subnetGroup}' is not a DB subnet group name.`, { fix: "Pass the name of an existing DB subnet group of the VPC." });
  }
  return {
    ...input,
    identifier: databaseIdentifier(stack),
    dbName: DB_NAME,
    username: DB_USER,
    securityGroupName: databaseGroupName(stack),
    passwordParam: stackParam(stack, "database-password"),
    urlParam: stackParam(stack, "database-url"),
  };
}

/** The URL the orchestrators connect with. TLS (RDS requires it) without checking the server's certificate: it is reached inside the VPC only. */
export function databaseUrl(host: string, port: number, password: string): string {
  return `postgres://${DB_USER}:${encodeURIComponent(password)}@${host}:${port}/${DB_NAME}?sslmode=no-verify`;
}

export interface DatabaseResult {
  identifier: string;
  instanceClass: string;
  created: boolean;
  host: string;
  port: number;
  securityGroupId?: string;
  /** SSM parameter holding the URL (with the password): the orchestrators read it at boot. */
  urlParam: string;
}

export interface DatabaseClients {
  ec2: EC2Client;
  rds: RDSClient;
  ssm: SSMClient;
}

/** The DB instance, or null when RDS has none of that name. */
export async function describeDatabase(rds: RDSClient, conn: AwsConnection, identifier: string): Promise<DBInstance | null> {
  try {
    const reply = await rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: identifier }));
    return reply.DBInstances?.[0] ?? null;
  } catch (err) {
    if (awsErrorCode(err) === "DBInstanceNotFound" || awsErrorCode(err) === "DBInstanceNotFoundFault") return null;
    return awsCall({ conn, action: "rds:DescribeDBInstances" }, () => Promise.reject(err));
  }
}

/** Create the stack's database (or take the one it has), wait until it is available, put its URL in SSM. */
export async function ensureDatabase(c: DatabaseClients, conn: AwsConnection, stack: string, plan: DatabasePlan, vpcId: string, wait: WaitOptions, emit: EmitAwsEvent): Promise<DatabaseResult> {
  emit({ event: "step", message: `Looking for database ${plan.identifier}` });
  const existing = await describeDatabase(c.rds, conn, plan.identifier);
  let password: string;
  let securityGroupId: string | undefined;
  if (existing) {
    const stored = await getSecret(c.ssm, conn, plan.passwordParam);
    if (stored === null) {
      throw new QuackError("AWS_DATABASE_NO_PASSWORD", `Database ${plan.identifier} exists but its password is not in SSM parameter ${plan.passwordParam}.`, {
        fix: `Reset it and store it there: \`aws rds modify-db-instance --db-instance-identifier ${plan.identifier} --master-user-password NEW --apply-immediately\`, then \`aws ssm put-parameter --type SecureString --name ${plan.passwordParam} --value NEW\`; run up again.`,
      });
    }
    password = stored;
    securityGroupId = existing.VpcSecurityGroups?.[0]?.VpcSecurityGroupId;
    emit({ event: "step", message: `Using database ${plan.identifier} (${existing.DBInstanceStatus ?? "unknown"})` });
  } else {
    // Stored first: a wait that fails later, or a crash, never loses the only copy.
    password = (await getSecret(c.ssm, conn, plan.passwordParam)) ?? randomBytes(24).toString("hex");
    await putSecret(c.ssm, conn, plan.passwordParam, password, { stack, description: `QuackMesh database password of stack ${stack}`, overwrite: true });
    const groupId = await ensureDatabaseGroup(c.ec2, conn, stack, plan, vpcId, emit);
    securityGroupId = groupId;
    emit({ event: "step", message: `Creating database ${plan.identifier} (${plan.instanceClass}, PostgreSQL ${plan.engineVersion}, ${plan.storageGb} GiB)` });
    await awsCall({ conn, action: "rds:CreateDBInstance" }, () =>
      c.rds.send(
        new CreateDBInstanceCommand({
          DBInstanceIdentifier: plan.identifier,
          DBInstanceClass: plan.instanceClass,
          Engine: "postgres",
          EngineVersion: plan.engineVersion,
          AllocatedStorage: plan.storageGb,
          StorageType: "gp3",
          StorageEncrypted: true,
          DBName: plan.dbName,
          MasterUsername: plan.username,
          MasterUserPassword: password,
          Port: DB_PORT,
          VpcSecurityGroupIds: [groupId],
          ...(plan.subnetGroup === undefined ? {} : { DBSubnetGroupName: plan.subnetGroup }),
          PubliclyAccessible: false,
          BackupRetentionPeriod: 7,
          CopyTagsToSnapshot: true,
          Tags: toTagList(stackTags(stack, { [ROLE_TAG]: DATABASE_ROLE })),
        }),
      ),
    );
  }
  const db = await waitForDatabase(c.rds, conn, plan.identifier, wait, emit);
  const host = db.Endpoint!.Address!;
  const port = db.Endpoint!.Port ?? DB_PORT;
  await putSecret(c.ssm, conn, plan.urlParam, databaseUrl(host, port, password), { stack, description: `QuackMesh database URL of stack ${stack}`, overwrite: true });
  return { identifier: plan.identifier, instanceClass: db.DBInstanceClass ?? plan.instanceClass, created: !existing, host, port, securityGroupId, urlParam: plan.urlParam };
}

/** The database's security group: PostgreSQL from inside the VPC only. Reused when the stack has one. */
async function ensureDatabaseGroup(ec2: EC2Client, conn: AwsConnection, stack: string, plan: DatabasePlan, vpcId: string, emit: EmitAwsEvent): Promise<string> {
  const found = (await findSecurityGroups(ec2, conn, stack)).find((g) => g.groupName === plan.securityGroupName && (g.vpcId === undefined || g.vpcId === vpcId));
  if (found) return found.groupId;
  const vpcs = await awsCall({ conn, action: "ec2:DescribeVpcs" }, () => ec2.send(new DescribeVpcsCommand({ VpcIds: [vpcId] })));
  const cidr = vpcs.Vpcs?.[0]?.CidrBlock;
  if (cidr === undefined) throw new QuackError("AWS_REQUEST_FAILED", `ec2:DescribeVpcs did not give the address range of ${vpcId}.`, { fix: "Check the VPC in the EC2 console, then retry." });
  emit({ event: "step", message: `Creating security group ${plan.securityGroupName}: PostgreSQL from ${cidr}` });
  const reply = await awsCall({ conn, action: "ec2:CreateSecurityGroup" }, () =>
    ec2.send(
      new CreateSecurityGroupCommand({
        GroupName: plan.securityGroupName,
        Description: `QuackMesh stack ${stack}: PostgreSQL from inside the VPC`,
        VpcId: vpcId,
        TagSpecifications: [{ ResourceType: "security-group", Tags: toTagList(stackTags(stack, { Name: plan.securityGroupName, [ROLE_TAG]: DATABASE_ROLE })) }],
      }),
    ),
  );
  const groupId = reply.GroupId;
  if (groupId === undefined) throw new QuackError("AWS_REQUEST_FAILED", "ec2:CreateSecurityGroup answered without a group id.", { fix: "Retry." });
  await awsCall({ conn, action: "ec2:AuthorizeSecurityGroupIngress" }, () =>
    ec2.send(
      new AuthorizeSecurityGroupIngressCommand({
        GroupId: groupId,
        IpPermissions: [{ IpProtocol: "tcp", FromPort: DB_PORT, ToPort: DB_PORT, IpRanges: [{ CidrIp: cidr, Description: "QuackMesh orchestrators in the VPC" }] }],
      }),
    ),
  );
  return groupId;
}

/** States a database passes through on its way to available; any other stops the wait. */
const ON_THE_WAY = new Set(["creating", "backing-up", "modifying", "configuring-enhanced-monitoring", "configuring-log-exports", "rebooting", "starting", "upgrading", "maintenance", "renaming", "resetting-master-credentials"]);

export async function waitForDatabase(rds: RDSClient, conn: AwsConnection, identifier: string, opts: WaitOptions, emit: EmitAwsEvent): Promise<DBInstance> {
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const now = opts.now ?? Date.now;
  const start = now();
  for (;;) {
    const db = await describeDatabase(rds, conn, identifier);
    const state = db?.DBInstanceStatus ?? "creating";
    if (db && state === "available" && db.Endpoint?.Address) return db;
    if (db && state !== "available" && !ON_THE_WAY.has(state)) {
      throw new QuackError("AWS_DATABASE_FAILED", `Database ${identifier} is ${state}.`, {
        fix: state === "stopped" ? `Start it (\`aws rds start-db-instance --db-instance-identifier ${identifier}\`), then run up again.` : "See the database's events in the RDS console; `quackmesh aws down --delete-data` removes it.",
        details: { identifier, state },
      });
    }
    const elapsedMs = now() - start;
    if (elapsedMs >= opts.timeoutMs) {
      throw new QuackError("AWS_TIMEOUT", `Database ${identifier} is not available after ${Math.round(elapsedMs / 1000)} s (${state}).`, {
        fix: "RDS often takes 5-15 minutes: run the same `aws up` again later (it takes the database as it is), or raise --db-timeout.",
        details: { identifier, state },
      });
    }
    emit({ event: "waiting", instanceIds: [identifier], target: "available", states: { [identifier]: state }, elapsedMs });
    await sleep(opts.pollMs);
  }
}

/**
 * Delete the stack's database, keeping a final snapshot (quackmesh-<stack>-final-<time>), and
 * wait until it is gone so its security group can go too. Nothing there: null.
 */
export async function deleteDatabase(rds: RDSClient, conn: AwsConnection, identifier: string, wait: WaitOptions, emit: EmitAwsEvent, now: () => Date = () => new Date()): Promise<{ snapshot: string } | null> {
  const db = await describeDatabase(rds, conn, identifier);
  if (!db) return null;
  const snapshot = `${identifier}-final-${now().toISOString().replace(/[^0-9]/g, "").slice(0, 14)}`;
  if (db.DBInstanceStatus !== "deleting") {
    emit({ event: "step", message: `Deleting database ${identifier} (final snapshot ${snapshot})` });
    await awsCall({ conn, action: "rds:DeleteDBInstance" }, () =>
      rds.send(new DeleteDBInstanceCommand({ DBInstanceIdentifier: identifier, SkipFinalSnapshot: false, FinalDBSnapshotIdentifier: snapshot, DeleteAutomatedBackups: false })),
    );
  }
  const sleep = wait.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const clock = wait.now ?? Date.now;
  const start = clock();
  for (;;) {
    const left = await describeDatabase(rds, conn, identifier);
    if (!left) return { snapshot };
    const elapsedMs = clock() - start;
    if (elapsedMs >= wait.timeoutMs) {
      throw new QuackError("AWS_TIMEOUT", `Database ${identifier} is still ${left.DBInstanceStatus} after ${Math.round(elapsedMs / 1000)} s.`, {
        fix: "Run `quackmesh aws down --delete-data` again later: it waits for the deletion and then removes the database's security group.",
      });
    }
    emit({ event: "waiting", instanceIds: [identifier], target: "deleted", states: { [identifier]: left.DBInstanceStatus ?? "deleting" }, elapsedMs });
    await sleep(wait.pollMs);
  }
}
