import t from "tap";
import { mockClient } from "aws-sdk-client-mock";
import {
  AuthorizeSecurityGroupIngressCommand,
  CreateSecurityGroupCommand,
  DeleteSecurityGroupCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeSecurityGroupsCommand,
  DescribeSubnetsCommand,
  DescribeVpcsCommand,
  EC2Client,
  RunInstancesCommand,
  TerminateInstancesCommand,
  type DescribeInstancesCommandInput,
  type Instance,
} from "@aws-sdk/client-ec2";
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
  sshCidr: "198.51.100.0/24",
  userData: {
    packageSpec: "https://example.com/quackmesh-0.1.0.tgz",
    port: 8080,
    network: "duckchain-testnet",
    evaluatorSsmParam: "/qm/key",
    deployment: { name: "duckchain-testnet", json: "{}\n" },
  },
};

/**
 * A mocked EC2: `existing` answers the stack lookup; `byId` answers each poll of the new
 * instance in turn (the last answer repeats).
 */
function mockEc2(opts: { existing?: Instance[]; byId?: Array<Instance | Error>; groups?: { GroupId: string; VpcId: string }[] } = {}) {
  const ec2 = mockClient(EC2Client);
  const polls = [...(opts.byId ?? [instance("i-new", "pending"), instance("i-new", "running", { ip: "203.0.113.9" })])];
  let existing = opts.existing ?? [];
  ec2.on(DescribeInstancesCommand).callsFake((q: DescribeInstancesCommandInput) => {
    if (q.InstanceIds) {
      if (q.InstanceIds.includes("i-new")) {
        const next = polls.length > 1 ? polls.shift()! : polls[0];
        if (next instanceof Error) throw next;
        return reservations(next);
      }
      // Termination of the old stack (--replace) completes at the first poll.
      const gone = existing.map((i) => ({ ...i, State: { Name: "terminated" as const } }));
      existing = [];
      return reservations(...gone);
    }
    return reservations(...existing);
  });
  ec2.on(DescribeImagesCommand).resolves({ Images: [{ ImageId: "ami-0aaaaaaaaaaaaaaaa", Architecture: "x86_64", RootDeviceName: "/dev/xvda", CreationDate: "2025-01-01" }] });
  ec2.on(DescribeVpcsCommand).resolves({ Vpcs: [{ VpcId: "vpc-1", IsDefault: true }] });
  ec2.on(DescribeSecurityGroupsCommand).resolves({ SecurityGroups: opts.groups ?? [] });
  ec2.on(CreateSecurityGroupCommand).resolves({ GroupId: "sg-new" });
  ec2.on(AuthorizeSecurityGroupIngressCommand).resolves({});
  ec2.on(RunInstancesCommand).resolves({ Instances: [{ InstanceId: "i-new" }] });
  ec2.on(TerminateInstancesCommand).resolves({});
  ec2.on(DeleteSecurityGroupCommand).resolves({});
  return ec2;
}

function names(ec2: ReturnType<typeof mockClient>): string[] {
  return ec2.calls().map((c) => (c.args[0] as { constructor: { name: string } }).constructor.name.replace(/Command$/, ""));
}

const client = () => new EC2Client({ region: "eu-west-1" });

t.test("up creates a tagged security group and instance with the user data, and waits until it runs", async (t) => {
  const ec2 = mockEc2();
  t.teardown(() => ec2.restore());
  const clock = fakeClock();
  const events: AwsEvent[] = [];
  const plan = buildPlan(input);
  const r = await up(client(), CONN, plan, { wait: { timeoutMs: 60_000, pollMs: 5000, ...clock } }, (e) => events.push(e));

  t.same(names(ec2), [
    "DescribeInstances",
    "DescribeImages",
    "DescribeVpcs",
    "DescribeSecurityGroups",
    "CreateSecurityGroup",
    "AuthorizeSecurityGroupIngress",
    "AuthorizeSecurityGroupIngress",
    "RunInstances",
    "DescribeInstances",
    "DescribeInstances",
  ]);
  const lookup = ec2.commandCalls(DescribeInstancesCommand)[0].args[0].input;
  t.same(lookup.Filters?.[0], { Name: "tag:quackmesh:stack", Values: ["orch"] });

  const sg = ec2.commandCalls(CreateSecurityGroupCommand)[0].args[0].input;
  t.equal(sg.GroupName, "quackmesh-orch");
  t.equal(sg.VpcId, "vpc-1");
  t.same(sg.TagSpecifications?.[0].ResourceType, "security-group");
  t.ok(sg.TagSpecifications?.[0].Tags?.some((x) => x.Key === "quackmesh:stack" && x.Value === "orch"));
  const rules = ec2.commandCalls(AuthorizeSecurityGroupIngressCommand).map((c) => c.args[0].input.IpPermissions?.[0]);
  t.same(
    rules.map((p) => [p?.FromPort, p?.ToPort, p?.IpRanges?.[0].CidrIp]),
    [
      [8080, 8080, "0.0.0.0/0"],
      [22, 22, "198.51.100.0/24"],
    ],
  );

  const run = ec2.commandCalls(RunInstancesCommand)[0].args[0].input;
  t.equal(run.ImageId, "ami-0aaaaaaaaaaaaaaaa");
  t.same(run.SecurityGroupIds, ["sg-new"]);
  t.match(run.ClientToken, /^orch-[0-9a-f-]{36}$/);
  const tags = Object.fromEntries(run.TagSpecifications![0].Tags!.map((x) => [x.Key, x.Value]));
  t.same(tags, { Name: "quackmesh-orch", "quackmesh:stack": "orch", "quackmesh:role": "orchestrator", "quackmesh:port": "8080" });
  const script = Buffer.from(run.UserData!, "base64").toString("utf8");
  t.ok(script.startsWith("#!/bin/bash\n"));
  t.match(script, "npm install -g 'https://example.com/quackmesh-0.1.0.tgz'");
  t.match(script, "serve --host 0.0.0.0 --port 8080 --network duckchain-testnet --data-dir /var/lib/quackmesh");
  t.match(script, "--name '/qm/key' --with-decryption");

  t.same(
    events.filter((e) => e.event === "waiting").map((e) => (e as { states: Record<string, string> }).states["i-new"]),
    ["pending"],
  );
  t.same(clock.slept, [5000]);
  t.match(r, { stack: "orch", instanceId: "i-new", publicIp: "203.0.113.9", url: "http://203.0.113.9:8080", securityGroupId: "sg-new", securityGroupCreated: true, replaced: [] });
});

t.test("a stack that exists is refused and nothing is created", async (t) => {
  const ec2 = mockEc2({ existing: [instance("i-old", "running", { stack: "orch", ip: "203.0.113.1" })] });
  t.teardown(() => ec2.restore());
  await t.rejects(up(client(), CONN, buildPlan(input), { wait: { timeoutMs: 1000, pollMs: 10, ...fakeClock() } }), {
    code: "AWS_STACK_EXISTS",
    message: /i-old/,
    fix: /--replace/,
  });
  t.same(names(ec2), ["DescribeInstances"]);
});

t.test("--replace removes the old stack first, then creates the new one", async (t) => {
  const ec2 = mockEc2({ existing: [instance("i-old", "running", { stack: "orch" })], groups: [{ GroupId: "sg-old", VpcId: "vpc-1" }] });
  t.teardown(() => ec2.restore());
  // After `down` deleted sg-old, the lookup in `up` finds no group.
  ec2.on(DescribeSecurityGroupsCommand).resolvesOnce({ SecurityGroups: [{ GroupId: "sg-old", VpcId: "vpc-1" }] }).resolves({ SecurityGroups: [] });
  const r = await up(client(), CONN, buildPlan(input), { replace: true, wait: { timeoutMs: 60_000, pollMs: 10, ...fakeClock() } });
  const order = names(ec2);
  t.ok(order.indexOf("TerminateInstances") < order.indexOf("DeleteSecurityGroup"));
  t.ok(order.indexOf("DeleteSecurityGroup") < order.indexOf("CreateSecurityGroup"));
  t.ok(order.indexOf("CreateSecurityGroup") < order.indexOf("RunInstances"));
  t.same(ec2.commandCalls(TerminateInstancesCommand)[0].args[0].input.InstanceIds, ["i-old"]);
  t.same(r.replaced, ["i-old"]);
  t.equal(r.instanceId, "i-new");
});

t.test("a security group left by an earlier attempt is reused; rules it has are not an error", async (t) => {
  const ec2 = mockEc2({ groups: [{ GroupId: "sg-left", VpcId: "vpc-1" }] });
  t.teardown(() => ec2.restore());
  ec2.on(AuthorizeSecurityGroupIngressCommand).rejects(serviceError("InvalidPermission.Duplicate"));
  const r = await up(client(), CONN, buildPlan(input), { wait: { timeoutMs: 60_000, pollMs: 10, ...fakeClock() } });
  t.equal(ec2.commandCalls(CreateSecurityGroupCommand).length, 0);
  t.same(ec2.commandCalls(RunInstancesCommand)[0].args[0].input.SecurityGroupIds, ["sg-left"]);
  t.equal(r.securityGroupCreated, false);
});

t.test("when RunInstances fails, the group this run created is deleted again", async (t) => {
  const ec2 = mockEc2();
  t.teardown(() => ec2.restore());
  ec2.on(RunInstancesCommand).rejects(serviceError("InsufficientInstanceCapacity"));
  await t.rejects(up(client(), CONN, buildPlan(input), { wait: { timeoutMs: 1000, pollMs: 10, ...fakeClock() } }), {
    code: "AWS_REQUEST_FAILED",
    message: /InsufficientInstanceCapacity/,
    fix: /--instance-type/,
  });
  t.same(ec2.commandCalls(DeleteSecurityGroupCommand)[0].args[0].input, { GroupId: "sg-new" });
});

t.test("RunInstances refused for lack of permission names every permission up needs", async (t) => {
  const ec2 = mockEc2();
  t.teardown(() => ec2.restore());
  ec2.on(RunInstancesCommand).rejects(serviceError("UnauthorizedOperation"));
  await t.rejects(up(client(), CONN, buildPlan(input), { wait: { timeoutMs: 1000, pollMs: 10, ...fakeClock() } }), {
    code: "AWS_UNAUTHORIZED",
    message: /ec2:RunInstances/,
    fix: /ec2:CreateSecurityGroup.*ec2:RunInstances/,
  });
});

t.test("an instance id DescribeInstances does not know yet counts as pending", async (t) => {
  const ec2 = mockEc2({ byId: [serviceError("InvalidInstanceID.NotFound"), instance("i-new", "running", { ip: "203.0.113.9" })] });
  t.teardown(() => ec2.restore());
  const r = await up(client(), CONN, buildPlan(input), { wait: { timeoutMs: 60_000, pollMs: 10, ...fakeClock() } });
  t.equal(r.url, "http://203.0.113.9:8080");
});

t.test("an instance still pending at the timeout is AWS_TIMEOUT", async (t) => {
  const ec2 = mockEc2({ byId: [instance("i-new", "pending")] });
  t.teardown(() => ec2.restore());
  const clock = fakeClock();
  await t.rejects(up(client(), CONN, buildPlan(input), { wait: { timeoutMs: 30_000, pollMs: 10_000, ...clock } }), {
    code: "AWS_TIMEOUT",
    message: /i-new pending/,
    fix: /aws status/,
  });
  t.same(clock.slept, [10_000, 10_000, 10_000]);
});

t.test("an instance that terminates while starting fails with AWS's reason", async (t) => {
  const ec2 = mockEc2({ byId: [instance("i-new", "pending"), instance("i-new", "terminated", { reason: "Client.InternalError: volume limit" })] });
  t.teardown(() => ec2.restore());
  await t.rejects(up(client(), CONN, buildPlan(input), { wait: { timeoutMs: 60_000, pollMs: 10, ...fakeClock() } }), {
    code: "AWS_INSTANCE_FAILED",
    message: /volume limit/,
  });
});

t.test("--subnet puts the group in the subnet's VPC and the instance in the subnet", async (t) => {
  const ec2 = mockEc2();
  t.teardown(() => ec2.restore());
  ec2.on(DescribeSubnetsCommand).resolves({ Subnets: [{ SubnetId: "subnet-1", VpcId: "vpc-9" }] });
  await up(client(), CONN, buildPlan({ ...input, subnet: "subnet-1" }), { wait: { timeoutMs: 60_000, pollMs: 10, ...fakeClock() } });
  t.equal(ec2.commandCalls(DescribeVpcsCommand).length, 0);
  t.equal(ec2.commandCalls(CreateSecurityGroupCommand)[0].args[0].input.VpcId, "vpc-9");
  t.equal(ec2.commandCalls(RunInstancesCommand)[0].args[0].input.SubnetId, "subnet-1");
});

t.test("an AMI of the wrong architecture is refused before anything is created", async (t) => {
  const ec2 = mockEc2();
  t.teardown(() => ec2.restore());
  ec2.on(DescribeImagesCommand).resolves({ Images: [{ ImageId: "ami-0bbbbbbbbbbbbbbbb", Architecture: "arm64" }] });
  await t.rejects(up(client(), CONN, buildPlan({ ...input, ami: "ami-0bbbbbbbbbbbbbbbb" }), { wait: { timeoutMs: 1000, pollMs: 10, ...fakeClock() } }), {
    code: "BAD_ARGUMENT",
    message: /arm64/,
  });
  t.equal(ec2.commandCalls(CreateSecurityGroupCommand).length, 0);
  t.equal(ec2.commandCalls(RunInstancesCommand).length, 0);
});
