import t from "tap";
import { mockClient } from "aws-sdk-client-mock";
import {
  DeleteSecurityGroupCommand,
  DescribeInstancesCommand,
  DescribeSecurityGroupsCommand,
  EC2Client,
  TerminateInstancesCommand,
  type DescribeInstancesCommandInput,
} from "@aws-sdk/client-ec2";
import { down } from "./down.js";
import type { AwsEvent } from "./stack.js";
import { CONN, fakeClock, instance, reservations, serviceError, useFakeCredentials } from "./testkit.js";

useFakeCredentials();

function names(ec2: ReturnType<typeof mockClient>): string[] {
  return ec2.calls().map((c) => (c.args[0] as { constructor: { name: string } }).constructor.name.replace(/Command$/, ""));
}

t.test("down terminates, waits until terminated, then deletes the group (retrying while it is still in use)", async (t) => {
  const ec2 = mockClient(EC2Client);
  t.teardown(() => ec2.restore());
  let polls = 0;
  ec2.on(DescribeInstancesCommand).callsFake((q: DescribeInstancesCommandInput) => {
    if (!q.InstanceIds) return reservations(instance("i-1", "running", { stack: "orch" }), instance("i-2", "stopped", { stack: "orch" }));
    polls++;
    const state = polls === 1 ? "shutting-down" : "terminated";
    return reservations(instance("i-1", state), instance("i-2", "terminated"));
  });
  ec2.on(TerminateInstancesCommand).resolves({});
  ec2.on(DescribeSecurityGroupsCommand).resolves({ SecurityGroups: [{ GroupId: "sg-1", GroupName: "quackmesh-orch", VpcId: "vpc-1" }] });
  ec2.on(DeleteSecurityGroupCommand).rejectsOnce(serviceError("DependencyViolation")).resolves({});
  const events: AwsEvent[] = [];
  const r = await down(new EC2Client({ region: "eu-west-1" }), CONN, "orch", { wait: { timeoutMs: 60_000, pollMs: 1000, ...fakeClock() } }, (e) => events.push(e));

  t.same(names(ec2), [
    "DescribeInstances",
    "TerminateInstances",
    "DescribeInstances",
    "DescribeInstances",
    "DescribeSecurityGroups",
    "DeleteSecurityGroup",
    "DeleteSecurityGroup",
  ]);
  const lookup = ec2.commandCalls(DescribeInstancesCommand)[0].args[0].input;
  t.same(lookup.Filters?.[0], { Name: "tag:quackmesh:stack", Values: ["orch"] });
  t.ok(lookup.Filters?.[1].Values?.includes("stopped") && !lookup.Filters?.[1].Values?.includes("terminated"));
  t.same(ec2.commandCalls(TerminateInstancesCommand)[0].args[0].input.InstanceIds, ["i-1", "i-2"]);
  t.same(ec2.commandCalls(DescribeSecurityGroupsCommand)[0].args[0].input.Filters, [{ Name: "tag:quackmesh:stack", Values: ["orch"] }]);
  t.same(r, { stack: "orch", region: "eu-west-1", terminated: ["i-1", "i-2"], deletedSecurityGroups: ["sg-1"] });
  t.ok(events.some((e) => e.event === "waiting" && e.target === "terminated"));
});

t.test("down of a stack with nothing left calls no delete and says so", async (t) => {
  const ec2 = mockClient(EC2Client);
  t.teardown(() => ec2.restore());
  ec2.on(DescribeInstancesCommand).resolves(reservations());
  ec2.on(DescribeSecurityGroupsCommand).resolves({ SecurityGroups: [] });
  const r = await down(new EC2Client({ region: "eu-west-1" }), CONN, "gone", { wait: { timeoutMs: 1000, pollMs: 10, ...fakeClock() } });
  t.same(names(ec2), ["DescribeInstances", "DescribeSecurityGroups"]);
  t.same(r.terminated, []);
  t.same(r.deletedSecurityGroups, []);
});

t.test("a group that stays in use ends in AWS_TIMEOUT with a fix", async (t) => {
  const ec2 = mockClient(EC2Client);
  t.teardown(() => ec2.restore());
  ec2.on(DescribeInstancesCommand).resolves(reservations());
  ec2.on(DescribeSecurityGroupsCommand).resolves({ SecurityGroups: [{ GroupId: "sg-1", GroupName: "quackmesh-orch" }] });
  ec2.on(DeleteSecurityGroupCommand).rejects(serviceError("DependencyViolation"));
  await t.rejects(down(new EC2Client({ region: "eu-west-1" }), CONN, "orch", { wait: { timeoutMs: 3000, pollMs: 1000, ...fakeClock() } }), {
    code: "AWS_TIMEOUT",
    message: /sg-1/,
    fix: /detach/,
  });
});

t.test("TerminateInstances refused: AWS_UNAUTHORIZED listing what down needs", async (t) => {
  const ec2 = mockClient(EC2Client);
  t.teardown(() => ec2.restore());
  ec2.on(DescribeInstancesCommand).resolves(reservations(instance("i-1", "running")));
  ec2.on(TerminateInstancesCommand).rejects(serviceError("UnauthorizedOperation"));
  await t.rejects(down(new EC2Client({ region: "eu-west-1" }), CONN, "quackmesh", { wait: { timeoutMs: 1000, pollMs: 10, ...fakeClock() } }), {
    code: "AWS_UNAUTHORIZED",
    message: /ec2:TerminateInstances/,
    fix: /ec2:DeleteSecurityGroup/,
  });
  t.equal(ec2.commandCalls(DeleteSecurityGroupCommand).length, 0);
});
