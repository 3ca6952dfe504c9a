// `aws up --database rds` and `aws down [--delete-data]` against aws-sdk-client-mock: the exact
// EC2, RDS and SSM requests, in the order they are made, and what is kept or refused.
import t, { type Test } from "tap";
import { mockClient } from "aws-sdk-client-mock";
import {
  AllocateAddressCommand,
  AssociateAddressCommand,
  AttachVolumeCommand,
  AuthorizeSecurityGroupIngressCommand,
  CreateVolumeCommand,
  DeleteVolumeCommand,
  DescribeVolumesCommand,
  CreateSecurityGroupCommand,
  DeleteSecurityGroupCommand,
  DescribeAddressesCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeSecurityGroupsCommand,
  DescribeSubnetsCommand,
  DescribeVpcsCommand,
  EC2Client,
  ReleaseAddressCommand,
  RunInstancesCommand,
  TerminateInstancesCommand,
  type DescribeInstancesCommandInput,
  type Instance,
} from "@aws-sdk/client-ec2";
import { CreateDBInstanceCommand, DeleteDBInstanceCommand, DescribeDBInstancesCommand, RDSClient, type DBInstance } from "@aws-sdk/client-rds";
import { DeleteParametersCommand, GetParameterCommand, PutParameterCommand, SSMClient, type PutParameterCommandInput } from "@aws-sdk/client-ssm";
import { Wallet } from "ethers";
import { down } from "./down.js";
import { statusText } from "./render.js";
import { status } from "./status.js";
import { buildPlan, type PlanInput } from "./plan.js";
import type { AwsEvent } from "./stack.js";
import { up } from "./up.js";
import { CONN, fakeClock, instance, reservations, serviceError, useFakeCredentials } from "./testkit.js";

useFakeCredentials();

const input: PlanInput = {
  stack: "orch",
  region: "eu-west-1",
  instanceType: "t3.medium",
  diskGb: 20,
  allowCidr: "0.0.0.0/0",
  instanceProfile: "qm-orchestrator",
  userData: { packageSpec: "quackmesh@0.1.0", port: 8080, network: "duckchain-testnet", deployment: { name: "duckchain-testnet", json: "{}\n" } },
  database: { instanceClass: "db.t4g.micro", storageGb: 20, engineVersion: "15" },
  dataVolumeGb: 20,
};

const available = (over: Partial<DBInstance> = {}): DBInstance => ({
  DBInstanceIdentifier: "quackmesh-orch",
  DBInstanceStatus: "available",
  DBInstanceClass: "db.t4g.micro",
  Endpoint: { Address: "quackmesh-orch.abc123.eu-west-1.rds.amazonaws.com", Port: 5432 },
  VpcSecurityGroups: [{ VpcSecurityGroupId: "sg-db", Status: "active" }],
  ...over,
});

interface World {
  /** "Service:Command" in the order the calls were made, over all three clients. */
  log: string[];
  ec2: ReturnType<typeof mockClient>;
  rds: ReturnType<typeof mockClient>;
  ssm: ReturnType<typeof mockClient>;
  params: Map<string, string>;
}

/**
 * Three mocked services that keep a little state: the stack's instances, its security groups,
 * its Elastic IP, its database (going through `dbStates`, one per DescribeDBInstances after
 * CreateDBInstance) and SSM parameters.
 */
function world(
  t: Test,
  start: { instances?: Instance[]; db?: DBInstance; params?: Record<string, string>; address?: boolean; groups?: Array<{ GroupId: string; GroupName: string }>; dbStates?: string[]; volume?: string } = {},
): World {
  const log: string[] = [];
  const ec2 = mockClient(EC2Client);
  const rds = mockClient(RDSClient);
  const ssm = mockClient(SSMClient);
  t.teardown(() => {
    ec2.restore();
    rds.restore();
    ssm.restore();
  });
  const params = new Map(Object.entries(start.params ?? {}));
  let instances = start.instances ?? [];
  let groups = start.groups ?? [];
  let address = start.address ?? false;
  let db: DBInstance | undefined = start.db;
  const dbStates = [...(start.dbStates ?? ["creating", "backing-up", "available"])];
  const note = (name: string) => log.push(name);
  ec2.on(DescribeInstancesCommand).callsFake((q: DescribeInstancesCommandInput) => {
    note("EC2:DescribeInstances");
    if (q.InstanceIds?.includes("i-new")) return reservations({ ...instance("i-new", "running", { ip: "203.0.113.9", stack: "orch" }), Placement: { AvailabilityZone: "eu-west-1a" } });
    if (q.InstanceIds) {
      instances = [];
      return reservations(...q.InstanceIds.map((id) => instance(id, "terminated", { stack: "orch" })));
    }
    return reservations(...instances);
  });
  ec2.on(TerminateInstancesCommand).callsFake(() => (note("EC2:TerminateInstances"), {}));
  ec2.on(DescribeImagesCommand).callsFake(() => (note("EC2:DescribeImages"), { Images: [{ ImageId: "ami-0aaaaaaaaaaaaaaaa", Architecture: "x86_64", RootDeviceName: "/dev/xvda" }] }));
  ec2.on(DescribeVpcsCommand).callsFake(() => (note("EC2:DescribeVpcs"), { Vpcs: [{ VpcId: "vpc-1", IsDefault: true, CidrBlock: "172.31.0.0/16" }] }));
  ec2.on(DescribeSecurityGroupsCommand).callsFake(() => (note("EC2:DescribeSecurityGroups"), { SecurityGroups: groups.map((g) => ({ ...g, VpcId: "vpc-1" })) }));
  ec2.on(CreateSecurityGroupCommand).callsFake((q: { GroupName: string }) => {
    note(`EC2:CreateSecurityGroup ${q.GroupName}`);
    const id = q.GroupName.endsWith("-db") ? "sg-db" : "sg-orch";
    groups = [...groups, { GroupId: id, GroupName: q.GroupName }];
    return { GroupId: id };
  });
  ec2.on(AuthorizeSecurityGroupIngressCommand).callsFake(() => (note("EC2:AuthorizeSecurityGroupIngress"), {}));
  ec2.on(DeleteSecurityGroupCommand).callsFake((q: { GroupId: string }) => {
    note(`EC2:DeleteSecurityGroup ${q.GroupId}`);
    groups = groups.filter((g) => g.GroupId !== q.GroupId);
    return {};
  });
  ec2.on(RunInstancesCommand).callsFake(() => (note("EC2:RunInstances"), { Instances: [{ InstanceId: "i-new" }] }));
  ec2.on(DescribeAddressesCommand).callsFake(() => (note("EC2:DescribeAddresses"), { Addresses: address ? [{ AllocationId: "eipalloc-1", PublicIp: "198.51.100.7" }] : [] }));
  ec2.on(AllocateAddressCommand).callsFake(() => {
    note("EC2:AllocateAddress");
    address = true;
    return { AllocationId: "eipalloc-1", PublicIp: "198.51.100.7" };
  });
  ec2.on(AssociateAddressCommand).callsFake(() => (note("EC2:AssociateAddress"), {}));
  ec2.on(ReleaseAddressCommand).callsFake(() => {
    note("EC2:ReleaseAddress");
    address = false;
    return {};
  });
  // The data volume: "in-use" while an instance of the stack runs, "available" once it is terminated.
  let volume: { id: string; zone: string; attached: boolean } | null = start.volume ? { id: start.volume, zone: "eu-west-1b", attached: instances.length > 0 } : null;
  ec2.on(DescribeVolumesCommand).callsFake((q: { VolumeIds?: string[] }) => {
    note("EC2:DescribeVolumes");
    if (volume && instances.length === 0 && !q.VolumeIds?.length) volume.attached = false;
    if (!volume) return { Volumes: [] };
    return { Volumes: [{ VolumeId: volume.id, AvailabilityZone: volume.zone, Size: 20, State: volume.attached && instances.length > 0 ? "in-use" : "available" }] };
  });
  ec2.on(CreateVolumeCommand).callsFake((q: { AvailabilityZone: string }) => {
    note(`EC2:CreateVolume ${q.AvailabilityZone}`);
    volume = { id: "vol-new", zone: q.AvailabilityZone, attached: false };
    return { VolumeId: "vol-new", State: "creating" };
  });
  ec2.on(AttachVolumeCommand).callsFake(() => (note("EC2:AttachVolume"), {}));
  ec2.on(DescribeSubnetsCommand).callsFake(() => (note("EC2:DescribeSubnets"), { Subnets: [{ SubnetId: "subnet-a", VpcId: "vpc-1", AvailabilityZone: "eu-west-1a" }] }));
  ec2.on(DeleteVolumeCommand).callsFake(() => {
    note("EC2:DeleteVolume");
    volume = null;
    return {};
  });
  rds.on(DescribeDBInstancesCommand).callsFake(() => {
    note("RDS:DescribeDBInstances");
    if (!db) throw serviceError("DBInstanceNotFoundFault");
    if (db.DBInstanceStatus === "deleting") {
      db = undefined;
      return { DBInstances: [available({ DBInstanceStatus: "deleting" })] };
    }
    if (dbStates.length && db.DBInstanceStatus !== "available") db = { ...db, DBInstanceStatus: dbStates.shift()!, ...(dbStates.length === 0 ? { Endpoint: available().Endpoint } : {}) };
    return { DBInstances: [db] };
  });
  rds.on(CreateDBInstanceCommand).callsFake(() => {
    note("RDS:CreateDBInstance");
    db = { DBInstanceIdentifier: "quackmesh-orch", DBInstanceStatus: "creating", DBInstanceClass: "db.t4g.micro", VpcSecurityGroups: [{ VpcSecurityGroupId: "sg-db" }] };
    return { DBInstance: db };
  });
  rds.on(DeleteDBInstanceCommand).callsFake(() => {
    note("RDS:DeleteDBInstance");
    db = { ...db, DBInstanceStatus: "deleting" };
    return {};
  });
  ssm.on(GetParameterCommand).callsFake((q: { Name: string }) => {
    note(`SSM:GetParameter ${q.Name}`);
    const v = params.get(q.Name);
    if (v === undefined) throw serviceError("ParameterNotFound");
    return { Parameter: { Name: q.Name, Value: v } };
  });
  ssm.on(PutParameterCommand).callsFake((q: PutParameterCommandInput) => {
    note(`SSM:PutParameter ${q.Name}`);
    if (!q.Overwrite && params.has(q.Name!)) throw serviceError("ParameterAlreadyExists");
    params.set(q.Name!, q.Value!);
    return { Version: 1 };
  });
  ssm.on(DeleteParametersCommand).callsFake((q: { Names: string[] }) => {
    note(`SSM:DeleteParameters ${q.Names.join(",")}`);
    const deleted = q.Names.filter((n) => params.delete(n));
    return { DeletedParameters: deleted, InvalidParameters: q.Names.filter((n) => !deleted.includes(n)) };
  });
  return { log, ec2, rds, ssm, params };
}

const clients = () => ({ ec2: new EC2Client({ region: "eu-west-1" }), rds: new RDSClient({ region: "eu-west-1" }), ssm: new SSMClient({ region: "eu-west-1" }) });
const wait = () => ({ timeoutMs: 60_000, pollMs: 1000, ...fakeClock() });

t.test("up --database rds on a new stack: key and password in SSM first, then the database, its URL, the instance, the Elastic IP", async (t) => {
  const w = world(t);
  const c = clients();
  const events: AwsEvent[] = [];
  const plan = buildPlan(input);
  const r = await up(c.ec2, CONN, plan, { wait: wait(), rds: c.rds, ssm: c.ssm }, (e) => events.push(e));

  t.same(w.log, [
    "EC2:DescribeInstances",
    "EC2:DescribeImages",
    "EC2:DescribeVpcs",
    "EC2:DescribeVolumes",
    "EC2:DescribeSecurityGroups",
    "EC2:CreateSecurityGroup quackmesh-orch",
    "EC2:AuthorizeSecurityGroupIngress",
    "SSM:GetParameter /quackmesh/orch/evaluator-key",
    "SSM:PutParameter /quackmesh/orch/evaluator-key",
    "RDS:DescribeDBInstances",
    "SSM:GetParameter /quackmesh/orch/database-password",
    "SSM:PutParameter /quackmesh/orch/database-password",
    "EC2:DescribeSecurityGroups",
    "EC2:DescribeVpcs",
    "EC2:CreateSecurityGroup quackmesh-orch-db",
    "EC2:AuthorizeSecurityGroupIngress",
    "RDS:CreateDBInstance",
    "RDS:DescribeDBInstances",
    "RDS:DescribeDBInstances",
    "RDS:DescribeDBInstances",
    "SSM:PutParameter /quackmesh/orch/database-url",
    "EC2:RunInstances",
    "EC2:DescribeInstances",
    "EC2:CreateVolume eu-west-1a",
    "EC2:DescribeVolumes",
    "EC2:AttachVolume",
    "EC2:DescribeAddresses",
    "EC2:AllocateAddress",
    "EC2:AssociateAddress",
  ]);

  const key = w.ssm.commandCalls(PutParameterCommand)[0].args[0].input;
  t.match(key, { Name: "/quackmesh/orch/evaluator-key", Type: "SecureString", Overwrite: false, Tags: [{ Key: "quackmesh:stack", Value: "orch" }] });
  t.match(key.Value, /^0x[0-9a-f]{64}$/, "a fresh private key");
  t.equal(r.evaluator?.address, new Wallet(key.Value!).address, "its address is the one printed");
  t.equal(r.evaluator?.created, true);

  const password = w.params.get("/quackmesh/orch/database-password")!;
  t.match(password, /^[0-9a-f]{48}$/);
  const dbGroup = w.ec2.commandCalls(CreateSecurityGroupCommand)[1].args[0].input;
  t.match(dbGroup, { GroupName: "quackmesh-orch-db", VpcId: "vpc-1" });
  t.same(
    dbGroup.TagSpecifications?.[0].Tags?.find((x) => x.Key === "quackmesh:role"),
    { Key: "quackmesh:role", Value: "database" },
  );
  t.same(w.ec2.commandCalls(AuthorizeSecurityGroupIngressCommand)[1].args[0].input, {
    GroupId: "sg-db",
    IpPermissions: [{ IpProtocol: "tcp", FromPort: 5432, ToPort: 5432, IpRanges: [{ CidrIp: "172.31.0.0/16", Description: "QuackMesh orchestrators in the VPC" }] }],
  });
  t.same(w.rds.commandCalls(CreateDBInstanceCommand)[0].args[0].input, {
    DBInstanceIdentifier: "quackmesh-orch",
    DBInstanceClass: "db.t4g.micro",
    Engine: "postgres",
    EngineVersion: "15",
    AllocatedStorage: 20,
    StorageType: "gp3",
    StorageEncrypted: true,
    DBName: "quackmesh",
    MasterUsername: "quackmesh",
    MasterUserPassword: password,
    Port: 5432,
    VpcSecurityGroupIds: ["sg-db"],
    PubliclyAccessible: false,
    BackupRetentionPeriod: 7,
    CopyTagsToSnapshot: true,
    Tags: [
      { Key: "Name", Value: "quackmesh-orch" },
      { Key: "quackmesh:stack", Value: "orch" },
      { Key: "quackmesh:role", Value: "database" },
    ],
  });
  t.equal(
    w.params.get("/quackmesh/orch/database-url"),
    `postgres://quackmesh:${password}@quackmesh-orch.abc123.eu-west-1.rds.amazonaws.com:5432/quackmesh?sslmode=no-verify`,
  );
  t.same(
    events.filter((e) => e.event === "waiting").map((e) => (e as { states: Record<string, string> }).states["quackmesh-orch"]),
    ["creating", "backing-up"],
    "waited while RDS made it",
  );

  const run = w.ec2.commandCalls(RunInstancesCommand)[0].args[0].input;
  t.same(run.IamInstanceProfile, { Name: "qm-orchestrator" });
  t.equal(run.Placement, undefined, "no zone asked for: the volume is made where the instance runs");
  t.same(w.ec2.commandCalls(CreateVolumeCommand)[0].args[0].input, {
    AvailabilityZone: "eu-west-1a",
    Size: 20,
    VolumeType: "gp3",
    Encrypted: true,
    TagSpecifications: [{ ResourceType: "volume", Tags: [{ Key: "Name", Value: "quackmesh-orch-data" }, { Key: "quackmesh:stack", Value: "orch" }, { Key: "quackmesh:role", Value: "data" }] }],
  });
  t.same(w.ec2.commandCalls(AttachVolumeCommand)[0].args[0].input, { VolumeId: "vol-new", InstanceId: "i-new", Device: "/dev/sdf" });
  const script = Buffer.from(run.UserData!, "base64").toString("utf8");
  t.match(script, "--name '/quackmesh/orch/evaluator-key' --with-decryption");
  t.match(script, "--name '/quackmesh/orch/database-url' --with-decryption");
  t.notMatch(script, password, "no password in the user data");
  t.notMatch(script, key.Value!.slice(2), "no key in the user data");
  t.match(script, "mkfs.ext4 -q -L quackmesh-data", "the start script mounts the data volume");

  t.same(w.ec2.commandCalls(AllocateAddressCommand)[0].args[0].input, {
    Domain: "vpc",
    TagSpecifications: [{ ResourceType: "elastic-ip", Tags: [{ Key: "Name", Value: "quackmesh-orch" }, { Key: "quackmesh:stack", Value: "orch" }] }],
  });
  t.same(w.ec2.commandCalls(AssociateAddressCommand)[0].args[0].input, { AllocationId: "eipalloc-1", InstanceId: "i-new", AllowReassociation: true });
  t.match(r, {
    instanceId: "i-new",
    publicIp: "198.51.100.7",
    url: "http://198.51.100.7:8080",
    elasticIp: { allocationId: "eipalloc-1", publicIp: "198.51.100.7", allocated: true },
    database: { identifier: "quackmesh-orch", created: true, host: "quackmesh-orch.abc123.eu-west-1.rds.amazonaws.com", port: 5432, urlParam: "/quackmesh/orch/database-url" },
  });
});

t.test("up --replace on a stack with a database: the old instance goes; database, key, password and Elastic IP stay and serve the new one", async (t) => {
  const key = Wallet.createRandom().privateKey;
  const w = world(t, {
    instances: [instance("i-old", "running", { stack: "orch", ip: "198.51.100.7" })],
    db: available(),
    params: { "/quackmesh/orch/evaluator-key": key, "/quackmesh/orch/database-password": "f".repeat(48), "/quackmesh/orch/database-url": "old" },
    address: true,
    groups: [
      { GroupId: "sg-orch", GroupName: "quackmesh-orch" },
      { GroupId: "sg-db", GroupName: "quackmesh-orch-db" },
    ],
    volume: "vol-kept",
  });
  const c = clients();
  const r = await up(c.ec2, CONN, buildPlan(input), { replace: true, wait: wait(), rds: c.rds, ssm: c.ssm });
  t.same(w.ec2.commandCalls(RunInstancesCommand)[0].args[0].input.Placement, { AvailabilityZone: "eu-west-1b" }, "started where the kept volume is");
  t.same(w.ec2.commandCalls(AttachVolumeCommand)[0].args[0].input, { VolumeId: "vol-kept", InstanceId: "i-new", Device: "/dev/sdf" });
  t.equal(w.ec2.commandCalls(CreateVolumeCommand).length, 0, "no new volume");
  t.ok(w.log.includes("EC2:DeleteSecurityGroup sg-orch"), "the orchestrator's group is made again");
  t.notOk(w.log.includes("EC2:DeleteSecurityGroup sg-db"), "the database's group stays");
  for (const never of ["RDS:CreateDBInstance", "RDS:DeleteDBInstance", "EC2:AllocateAddress", "EC2:ReleaseAddress", "EC2:DeleteVolume", "SSM:PutParameter /quackmesh/orch/evaluator-key", "SSM:PutParameter /quackmesh/orch/database-password"]) {
    t.notOk(w.log.includes(never), `no ${never}`);
  }
  t.equal(w.params.get("/quackmesh/orch/evaluator-key"), key, "the same evaluator key");
  t.equal(w.params.get("/quackmesh/orch/database-url"), `postgres://quackmesh:${"f".repeat(48)}@quackmesh-orch.abc123.eu-west-1.rds.amazonaws.com:5432/quackmesh?sslmode=no-verify`);
  t.same(w.ec2.commandCalls(AssociateAddressCommand)[0].args[0].input, { AllocationId: "eipalloc-1", InstanceId: "i-new", AllowReassociation: true });
  t.match(r, {
    replaced: ["i-old"],
    url: "http://198.51.100.7:8080",
    evaluator: { address: new Wallet(key).address, created: false },
    database: { created: false },
    elasticIp: { allocated: false },
    dataVolume: { volumeId: "vol-kept", created: false },
  });
});

t.test("status shows what outlives the instances: database, data volume, Elastic IP; or that it could not look", async (t) => {
  const w = world(t, { instances: [instance("i-1", "running", { stack: "orch", ip: "198.51.100.7" })], db: available(), address: true, volume: "vol-kept" });
  const c = clients();
  const r = await status(c.ec2, CONN, "orch", { rds: c.rds });
  t.same(r.stacks[0].data, {
    database: { identifier: "quackmesh-orch", state: "available", endpoint: "quackmesh-orch.abc123.eu-west-1.rds.amazonaws.com:5432" },
    dataVolume: { volumeId: "vol-kept", state: "in-use", availabilityZone: "eu-west-1b", sizeGb: 20 },
    elasticIp: { publicIp: "198.51.100.7" },
    unchecked: [],
  });
  t.match(statusText(r, "orch"), /orch: database quackmesh-orch available at .*; data volume vol-kept \(20 GiB, eu-west-1b, in-use\); Elastic IP 198\.51\.100\.7/);
  w.rds.on(DescribeDBInstancesCommand).rejects(serviceError("AccessDenied"));
  const blind = await status(c.ec2, CONN, "orch", { rds: c.rds });
  t.match(blind.stacks[0].data, { unchecked: [/^database: AWS refused rds:DescribeDBInstances/], dataVolume: { volumeId: "vol-kept" } }, "the rest is still shown");
  // Its instances gone, a stack asked for by name still shows what it kept.
  w.ec2.on(DescribeInstancesCommand).resolves(reservations());
  w.rds.on(DescribeDBInstancesCommand).resolves({ DBInstances: [available()] });
  const idle = await status(c.ec2, CONN, "orch", { rds: c.rds });
  t.match(idle.stacks, [{ stack: "orch", instances: [], data: { database: { state: "available" } } }]);
  t.match(statusText(idle, "orch"), /orch: database quackmesh-orch available/);
});

t.test("refusals before any instance starts", async (t) => {
  t.test("a database without its password in SSM", async (t) => {
    const w = world(t, { db: available(), params: { "/quackmesh/orch/evaluator-key": Wallet.createRandom().privateKey } });
    const c = clients();
    await t.rejects(up(c.ec2, CONN, buildPlan(input), { wait: wait(), rds: c.rds, ssm: c.ssm }), {
      code: "AWS_DATABASE_NO_PASSWORD",
      message: /quackmesh-orch.*\/quackmesh\/orch\/database-password/,
      fix: /modify-db-instance.*put-parameter/,
    });
    t.notOk(w.log.includes("EC2:RunInstances"));
  });
  t.test("an evaluator parameter that holds no key", async (t) => {
    const w = world(t, { params: { "/quackmesh/orch/evaluator-key": "not a key" } });
    const c = clients();
    await t.rejects(up(c.ec2, CONN, buildPlan(input), { wait: wait(), rds: c.rds, ssm: c.ssm }), { code: "AWS_BAD_SECRET", fix: /--evaluator-ssm-param/ });
    t.notOk(w.log.some((l) => l.startsWith("RDS:Create") || l === "EC2:RunInstances"), "no database, no instance");
    t.equal(w.params.get("/quackmesh/orch/evaluator-key"), "not a key", "left as it was");
  });
  t.test("a database that fails while being made", async (t) => {
    const w = world(t, { dbStates: ["creating", "failed"] });
    const c = clients();
    await t.rejects(up(c.ec2, CONN, buildPlan(input), { wait: wait(), rds: c.rds, ssm: c.ssm }), { code: "AWS_DATABASE_FAILED", message: /quackmesh-orch is failed/ });
    t.notOk(w.log.includes("EC2:RunInstances"));
    t.ok(w.params.has("/quackmesh/orch/database-password"), "its password was kept before the database was asked for");
  });
  t.test("a database slower than --db-timeout: run up again later", async (t) => {
    const w = world(t, { dbStates: Array(100).fill("creating") });
    const c = clients();
    await t.rejects(up(c.ec2, CONN, buildPlan(input), { wait: wait(), databaseWait: { timeoutMs: 3000, pollMs: 1000, ...fakeClock() }, rds: c.rds, ssm: c.ssm }), {
      code: "AWS_TIMEOUT",
      fix: /run the same `aws up` again/,
    });
    t.notOk(w.log.includes("EC2:RunInstances"));
  });
  t.test("a subnet in another zone than the kept data volume", async (t) => {
    const w = world(t, { db: available(), params: { "/quackmesh/orch/evaluator-key": Wallet.createRandom().privateKey, "/quackmesh/orch/database-password": "p" }, volume: "vol-kept" });
    const c = clients();
    await t.rejects(up(c.ec2, CONN, buildPlan({ ...input, subnet: "subnet-a" }), { wait: wait(), rds: c.rds, ssm: c.ssm }), {
      code: "BAD_ARGUMENT",
      message: /vol-kept is in eu-west-1b; subnet subnet-a is in eu-west-1a/,
      fix: /subnet in eu-west-1b/,
    });
    t.notOk(w.log.includes("EC2:RunInstances"));
  });
  t.test("--database rds without an instance profile, a bad class or size", async (t) => {
    t.throws(() => buildPlan({ ...input, instanceProfile: undefined }), { code: "BAD_ARGUMENT", message: /--instance-profile/, fix: /ssm:GetParameter/ });
    t.throws(() => buildPlan({ ...input, database: { ...input.database!, instanceClass: "t3.micro" } }), { code: "BAD_ARGUMENT", message: /--db-instance-class/ });
    t.throws(() => buildPlan({ ...input, database: { ...input.database!, storageGb: 5 } }), { code: "BAD_ARGUMENT", message: /--db-storage/ });
    t.throws(() => buildPlan({ ...input, database: { ...input.database!, engineVersion: "15; drop" } }), { code: "BAD_ARGUMENT", message: /--db-engine-version/ });
    t.throws(() => buildPlan({ ...input, dataVolumeGb: 20_000 }), { code: "BAD_ARGUMENT", message: /--data-volume/ });
  });
});

t.test("down keeps the state; down --delete-data removes it after a final snapshot, the evaluator key excepted", async (t) => {
  const key = Wallet.createRandom().privateKey;
  const w = world(t, {
    instances: [instance("i-1", "running", { stack: "orch" })],
    db: available(),
    params: { "/quackmesh/orch/evaluator-key": key, "/quackmesh/orch/database-password": "p", "/quackmesh/orch/database-url": "u" },
    address: true,
    groups: [
      { GroupId: "sg-orch", GroupName: "quackmesh-orch" },
      { GroupId: "sg-db", GroupName: "quackmesh-orch-db" },
    ],
    volume: "vol-kept",
  });
  const c = clients();
  const kept = await down(c.ec2, CONN, "orch", { wait: wait(), data: { rds: c.rds, ssm: c.ssm, deleteData: false } });
  t.same(kept, {
    stack: "orch",
    region: "eu-west-1",
    terminated: ["i-1"],
    deletedSecurityGroups: ["sg-orch"],
    kept: ["database quackmesh-orch (available)", "security group sg-db (quackmesh-orch-db)", "Elastic IP 198.51.100.7", "data volume vol-kept (20 GiB, eu-west-1b)"],
  });
  t.notOk(w.log.some((l) => /Delete(DBInstance|Parameters|Volume)|ReleaseAddress/.test(l)), "nothing of the data deleted");

  const gone = await down(c.ec2, CONN, "orch", { wait: wait(), data: { rds: c.rds, ssm: c.ssm, deleteData: true } }, () => {}, );
  const del = w.rds.commandCalls(DeleteDBInstanceCommand)[0].args[0].input;
  t.match(del, { DBInstanceIdentifier: "quackmesh-orch", SkipFinalSnapshot: false, DeleteAutomatedBackups: false });
  t.match(del.FinalDBSnapshotIdentifier, /^quackmesh-orch-final-\d{14}$/);
  const order = w.log;
  t.ok(order.indexOf("RDS:DeleteDBInstance") < order.indexOf("EC2:DeleteSecurityGroup sg-db"), "its group goes once the database is gone");
  t.same(w.ec2.commandCalls(ReleaseAddressCommand)[0].args[0].input, { AllocationId: "eipalloc-1" });
  t.same(w.ec2.commandCalls(DeleteVolumeCommand)[0].args[0].input, { VolumeId: "vol-kept" });
  t.same(w.ssm.commandCalls(DeleteParametersCommand)[0].args[0].input.Names, ["/quackmesh/orch/database-url", "/quackmesh/orch/database-password"]);
  t.equal(w.params.get("/quackmesh/orch/evaluator-key"), key, "the evaluator key stays: jobs on chain name it");
  t.match(gone, {
    terminated: [],
    deletedSecurityGroups: ["sg-db"],
    deleted: { database: { identifier: "quackmesh-orch" }, elasticIp: "198.51.100.7", dataVolume: "vol-kept", parameters: ["/quackmesh/orch/database-url", "/quackmesh/orch/database-password"] },
  });

  // Credentials without RDS rights still take a stack down; what could not be looked at is said.
  w.rds.on(DescribeDBInstancesCommand).rejects(serviceError("AccessDenied"));
  const blind = await down(c.ec2, CONN, "orch", { wait: wait(), data: { rds: c.rds, ssm: c.ssm, deleteData: false } });
  t.match(blind.kept, [/^database: not checked \(AWS refused rds:DescribeDBInstances/]);
  w.rds.on(DescribeDBInstancesCommand).rejects(serviceError("DBInstanceNotFoundFault"));

  const again = await down(c.ec2, CONN, "orch", { wait: wait(), data: { rds: c.rds, ssm: c.ssm, deleteData: true } });
  t.match(again, { terminated: [], deletedSecurityGroups: [], deleted: { parameters: [] } }, "a second run finds nothing and is no error");
  t.equal(w.rds.commandCalls(DeleteDBInstanceCommand).length, 1);
});
