import t from "tap";
import { mockClient } from "aws-sdk-client-mock";
import { DescribeInstancesCommand, EC2Client } from "@aws-sdk/client-ec2";
import { status } from "./status.js";
import { statusText } from "./render.js";
import { CONN, instance, reservations, useFakeCredentials } from "./testkit.js";

useFakeCredentials();

t.test("status groups instances by stack, with the running orchestrator's URL; pages are followed", async (t) => {
  const ec2 = mockClient(EC2Client);
  t.teardown(() => ec2.restore());
  ec2
    .on(DescribeInstancesCommand)
    .resolvesOnce({ ...reservations(instance("i-b", "running", { stack: "b", ip: "203.0.113.2", port: 9000 })), NextToken: "page2" })
    .resolvesOnce(reservations(instance("i-a", "pending", { stack: "a" }), instance("i-a2", "stopped", { stack: "a", ip: "203.0.113.3" })));
  const r = await status(new EC2Client({ region: "eu-west-1" }), CONN);
  const calls = ec2.commandCalls(DescribeInstancesCommand).map((c) => c.args[0].input);
  t.same(calls[0].Filters?.[0], { Name: "tag-key", Values: ["quackmesh:stack"] });
  t.equal(calls[1].NextToken, "page2");
  t.same(
    r.stacks.map((s) => [s.stack, s.url, s.instances.map((i) => `${i.instanceId}:${i.state}`)]),
    [
      ["a", undefined, ["i-a:pending", "i-a2:stopped"]],
      ["b", "http://203.0.113.2:9000", ["i-b:running"]],
    ],
  );
  t.equal(r.stacks[0].instances[1].url, undefined, "a stopped instance has no URL");
  t.equal(r.region, "eu-west-1");
});

t.test("status of one stack filters by its tag; an empty answer is no stacks", async (t) => {
  const ec2 = mockClient(EC2Client);
  t.teardown(() => ec2.restore());
  ec2.on(DescribeInstancesCommand).resolves(reservations());
  const r = await status(new EC2Client({ region: "eu-west-1" }), CONN, "orch");
  t.same(ec2.commandCalls(DescribeInstancesCommand)[0].args[0].input.Filters?.[0], { Name: "tag:quackmesh:stack", Values: ["orch"] });
  t.same(r.stacks, []);
});

t.test("with probe, status asks each running orchestrator's /healthz and /api/info; one that does not answer says why", async (t) => {
  const { startServer } = await import("../../../orchestrator/index.js");
  const { mkdtemp, rm } = await import("node:fs/promises");
  const { tmpdir } = await import("node:os");
  const { join } = await import("node:path");
  const { freePort } = await import("../../../orchestrator/testing/postgres.js");
  const dataDir = await mkdtemp(join(tmpdir(), "qm-aws-status-"));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const server = await startServer({ dataDir, port: 0, chain: { chainId: 202105, trainingPool: "0x" + "11".repeat(20) } });
  t.teardown(() => server.close());
  const closed = await freePort();
  const ec2 = mockClient(EC2Client);
  t.teardown(() => ec2.restore());
  ec2.on(DescribeInstancesCommand).resolves(
    reservations(
      instance("i-up", "running", { stack: "up", ip: "127.0.0.1", port: server.port }),
      instance("i-down", "running", { stack: "down", ip: "127.0.0.1", port: closed }),
      instance("i-off", "stopped", { stack: "off", ip: "127.0.0.1", port: closed }),
    ),
  );
  const r = await status(new EC2Client({ region: "eu-west-1" }), CONN, undefined, { probe: true, timeoutMs: 3000 });
  const by = Object.fromEntries(r.stacks.map((s) => [s.stack, s.orchestrator]));
  t.match(by.up, { healthz: 200, healthy: true, info: { evaluator: server.app.evaluator.address, chainId: 202105 } });
  t.match(by.down, { healthz: null, healthy: false, error: "ECONNREFUSED" });
  t.equal(by.off, undefined, "a stopped instance is not asked");
  const text = statusText(r);
  t.match(text, `up: orchestrator healthy; version `);
  t.match(text, `evaluator ${server.app.evaluator.address}, chain 202105`);
  t.match(text, "down: orchestrator not answering (ECONNREFUSED)");
});
