import t from "tap";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { mockClient } from "aws-sdk-client-mock";
import type { Command } from "commander";
import {
  AllocateAddressCommand,
  AssociateAddressCommand,
  AuthorizeSecurityGroupIngressCommand,
  CreateSecurityGroupCommand,
  AttachVolumeCommand,
  CreateVolumeCommand,
  DescribeAddressesCommand,
  DescribeVolumesCommand,
  DeleteSecurityGroupCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeSecurityGroupsCommand,
  DescribeVpcsCommand,
  EC2Client,
  RunInstancesCommand,
  TerminateInstancesCommand,
  type DescribeInstancesCommandInput,
} from "@aws-sdk/client-ec2";
import { CreateDBInstanceCommand, DescribeDBInstancesCommand, RDSClient } from "@aws-sdk/client-rds";
import { CreateProcessingJobCommand, SageMakerClient } from "@aws-sdk/client-sagemaker";
import { GetParameterCommand, PutParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { awsCommand } from "./aws.js";
import { deploymentJson, instance, reservations, serviceError, useFakeCredentials } from "../lib/aws/testkit.js";

// The commands in-process, as a user runs them, with every AWS client replaced by
// aws-sdk-client-mock (it patches the client classes, so the commands' own clients are mocked).
useFakeCredentials();
const dir = mkdtempSync(join(tmpdir(), "qm-aws-cmd-"));
const deployments = join(dir, "deployments");
const deploymentFile = join(deployments, "duckchain-testnet.json");
mkdirSync(deployments);
writeFileSync(deploymentFile, JSON.stringify(deploymentJson()));
const env = { ...process.env, QUACKMESH_HOME: join(dir, "home"), QUACKMESH_DEPLOYMENTS: deployments, AWS_REGION: "eu-west-1" };

async function run(args: string[], extraEnv: Record<string, string> = {}): Promise<{ lines: Array<Record<string, unknown>>; stdout: string; stderr: string; error?: unknown }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = "";
  let err = "";
  stdout.on("data", (d: Buffer) => (out += d));
  stderr.on("data", (d: Buffer) => (err += d));
  const cmd = awsCommand({ stdout, stderr, env: { ...env, ...extraEnv }, pollMs: 1, sleep: async () => {} });
  quiet(cmd, (s) => (out += s));
  let error: unknown;
  try {
    await cmd.parseAsync(args, { from: "user" });
  } catch (e) {
    error = e;
  }
  const lines = out
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { lines, stdout: out, stderr: err, error };
}

function quiet(cmd: Command, write: (s: string) => void): void {
  cmd.exitOverride().configureOutput({ writeOut: write, writeErr: write });
  for (const sub of cmd.commands) quiet(sub, write);
}

const PKG = ["--package", "https://example.com/quackmesh-0.1.0.tgz"];

t.test("plan and up refuse a deployment file of another chain before calling anything", async (t) => {
  const ec2 = mockClient(EC2Client);
  t.teardown(() => ec2.restore());
  const wrong = join(dir, "local-by-mistake.json");
  writeFileSync(wrong, JSON.stringify(deploymentJson("local", 31337)));
  for (const sub of ["plan", "up"]) {
    const r = await run([sub, ...PKG, "--network", "duckchain-testnet", "--deployment", wrong, "--json"]);
    t.match(r.error, { code: "WRONG_CHAIN", message: /chain 31337; duckchain-testnet is chain 202105/, fix: /deployments\/duckchain-testnet\.json/ }, sub);
  }
  t.equal(ec2.calls().length, 0, "nothing was asked of AWS");
});

t.test("plan prints the plan and its start script and calls nothing", async (t) => {
  const ec2 = mockClient(EC2Client);
  t.teardown(() => ec2.restore());
  const r = await run(["plan", ...PKG, "--ssh-cidr", "203.0.113.7/32", "--json"]);
  t.equal(r.error, undefined);
  t.equal(ec2.calls().length, 0);
  t.equal(r.lines.length, 1);
  const plan = r.lines[0];
  t.match(plan, { event: "plan", stack: "quackmesh", region: "eu-west-1", instanceType: "t3.medium", endpoint: null });
  const script = plan.userData as string;
  t.match(script, "serve --host 0.0.0.0 --port 8080 --network duckchain-testnet");
  const b64 = /echo '([A-Za-z0-9+/=]+)' \| base64 -d/.exec(script)![1];
  t.same(JSON.parse(Buffer.from(b64, "base64").toString()), deploymentJson(), "the deployment file travels to the instance");
  const human = await run(["plan", ...PKG]);
  t.match(human.stdout, /security group quackmesh-quackmesh/);
  t.match(human.stdout, /#!\/bin\/bash/);
});

t.test("plan and up refuse clearly, changing nothing", async (t) => {
  const ec2 = mockClient(EC2Client);
  t.teardown(() => ec2.restore());
  t.match((await run(["plan", "--json"])).error, { code: "AWS_NO_PACKAGE", fix: /--package/ });
  t.match((await run(["up", ...PKG, "--network", "local"])).error, { code: "BAD_ARGUMENT", message: /local chain/ });
  t.match((await run(["up", ...PKG, "--network", "duckchain"])).error, { code: "NO_DEPLOYMENT", fix: /quackmesh deploy --network duckchain/ });
  t.match((await run(["plan", ...PKG], { AWS_REGION: "" })).error, { code: "AWS_NO_REGION" });
  t.match((await run(["up", ...PKG, "--evaluator-ssm-param", "/k"])).error, { code: "BAD_ARGUMENT", fix: /--instance-profile/ });
  t.equal(ec2.calls().length, 0);
});

t.test("up --json: progress events, then the instance, its IP and URL; --endpoint reaches the client", async (t) => {
  const ec2 = mockClient(EC2Client);
  t.teardown(() => ec2.restore());
  let polls = 0;
  ec2.on(DescribeInstancesCommand).callsFake((q: DescribeInstancesCommandInput) => {
    if (!q.InstanceIds) return reservations();
    return reservations(polls++ === 0 ? instance("i-9", "pending") : instance("i-9", "running", { ip: "203.0.113.9", port: 9000 }));
  });
  ec2.on(DescribeImagesCommand).resolves({ Images: [{ ImageId: "ami-0aaaaaaaaaaaaaaaa", Architecture: "x86_64", RootDeviceName: "/dev/xvda" }] });
  ec2.on(DescribeVpcsCommand).resolves({ Vpcs: [{ VpcId: "vpc-1" }] });
  ec2.on(DescribeSecurityGroupsCommand).resolves({ SecurityGroups: [] });
  ec2.on(CreateSecurityGroupCommand).resolves({ GroupId: "sg-9" });
  ec2.on(AuthorizeSecurityGroupIngressCommand).resolves({});
  ec2.on(RunInstancesCommand).resolves({ Instances: [{ InstanceId: "i-9" }] });
  const r = await run(["up", ...PKG, "--port", "9000", "--endpoint", "http://127.0.0.1:4566", "--json"]);
  t.equal(r.error, undefined);
  t.same(
    r.lines.map((l) => l.event),
    ["step", "step", "step", "step", "waiting", "up"],
  );
  t.match(r.lines.at(-1), { event: "up", instanceId: "i-9", publicIp: "203.0.113.9", url: "http://203.0.113.9:9000", endpoint: "http://127.0.0.1:4566" });
  const client = ec2.call(0).thisValue as EC2Client;
  t.match(await client.config.endpoint!(), { hostname: "127.0.0.1", port: 4566, protocol: "http:" });
  const run0 = ec2.commandCalls(RunInstancesCommand)[0].args[0].input;
  t.match(Buffer.from(run0.UserData!, "base64").toString(), "--port 9000");
});

t.test("status and down", async (t) => {
  const ec2 = mockClient(EC2Client);
  const rds = mockClient(RDSClient);
  t.teardown(() => {
    ec2.restore();
    rds.restore();
  });
  // A stack without a database or an Elastic IP: down has nothing of its data to keep.
  rds.on(DescribeDBInstancesCommand).rejects(serviceError("DBInstanceNotFoundFault"));
  ec2.on(DescribeAddressesCommand).resolves({ Addresses: [] });
  ec2.on(DescribeVolumesCommand).resolves({ Volumes: [] });
  let terminated = false;
  ec2.on(DescribeInstancesCommand).callsFake((q: DescribeInstancesCommandInput) => {
    if (q.InstanceIds) {
      terminated = true;
      return reservations(instance("i-1", "terminated"));
    }
    return terminated ? reservations() : reservations(instance("i-1", "running", { ip: "203.0.113.5" }));
  });
  ec2.on(TerminateInstancesCommand).resolves({});
  let groups = [{ GroupId: "sg-1", GroupName: "quackmesh-quackmesh" }];
  ec2.on(DescribeSecurityGroupsCommand).callsFake(() => ({ SecurityGroups: groups }));
  ec2.on(DeleteSecurityGroupCommand).callsFake(() => {
    groups = [];
    return {};
  });

  // Its documentation address answers nothing: --no-probe, as the probe is tested with a real orchestrator in status.test.ts.
  const s = await run(["status", "--no-probe", "--json"]);
  t.match(s.lines[0], { event: "status", region: "eu-west-1", stacks: [{ stack: "quackmesh", url: "http://203.0.113.5:8080" }] });
  const human = await run(["status", "--no-probe"]);
  t.match(human.stdout, /quackmesh\s+orchestrator\s+i-1\s+running/);

  const d = await run(["down", "--json"]);
  t.match(d.lines.at(-1), { event: "down", terminated: ["i-1"], deletedSecurityGroups: ["sg-1"], kept: [] });
  const again = await run(["down"]);
  t.match(again.stdout, /Nothing of stack quackmesh left/);
  t.equal(ec2.commandCalls(TerminateInstancesCommand).length, 1, "the second down terminates nothing");
  t.match((await run(["down", "--stack", "Not_Valid"])).error, { code: "AWS_BAD_STACK" });
});

t.test("plan and up --database rds: the database and its cost in the plan; up makes it through the same --endpoint and prints the Elastic IP URL", async (t) => {
  const ec2 = mockClient(EC2Client);
  const rds = mockClient(RDSClient);
  const ssm = mockClient(SSMClient);
  t.teardown(() => {
    ec2.restore();
    rds.restore();
    ssm.restore();
  });
  const RDS = ["--database", "rds", "--instance-profile", "qm-orchestrator"];
  t.match((await run(["plan", ...PKG, "--database", "rds"])).error, { code: "BAD_ARGUMENT", message: /--instance-profile/ });
  t.match((await run(["plan", ...PKG, "--database", "mysql"])).error, { code: "commander.invalidArgument" });
  t.match((await run(["plan", ...PKG, "--db-subnet-group", "g"])).error, { code: "BAD_ARGUMENT", fix: /--database rds/ });
  const plan = (await run(["plan", ...PKG, ...RDS, "--json"])).lines[0];
  t.match(plan, {
    database: { identifier: "quackmesh-quackmesh", instanceClass: "db.t4g.micro", storageGb: 20, engineVersion: "15", urlParam: "/quackmesh/quackmesh/database-url" },
    evaluatorParam: "/quackmesh/quackmesh/evaluator-key",
    elasticIp: true,
    cost: { complete: true },
  });
  const cost = plan.cost as { perHour: number; lines: Array<{ what: string; perHour: number }> };
  t.same(cost.lines.map((l) => l.what), ["EC2 t3.medium", "EBS gp3 20 GiB", "EBS gp3 20 GiB data volume", "Elastic IP (public IPv4)", "RDS PostgreSQL db.t4g.micro", "RDS gp3 20 GiB"]);
  t.match((await run(["plan", ...PKG, "--data-volume", "50", "--json"])).lines[0], { dataVolumeGb: 50, elasticIp: false, cost: { lines: [{}, {}, { what: "EBS gp3 50 GiB data volume" }] } }, "a data volume without a database");
  t.equal(cost.perHour, cost.lines.reduce((a, l) => a + l.perHour, 0));
  const human = await run(["plan", ...PKG, ...RDS, "--no-elastic-ip"]);
  t.match(human.stdout, /RDS PostgreSQL 15 quackmesh-quackmesh: db\.t4g\.micro/);
  t.match(human.stdout, /Cost, about \$0\.\d{4}\/h/);
  t.notMatch(human.stdout, /Elastic IP of the stack/, "--no-elastic-ip");
  t.equal(ec2.calls().length + rds.calls().length + ssm.calls().length, 0, "plan asks AWS nothing");

  ec2.on(DescribeInstancesCommand).callsFake((q: DescribeInstancesCommandInput) =>
    q.InstanceIds ? reservations({ ...instance("i-9", "running", { ip: "203.0.113.9" }), Placement: { AvailabilityZone: "eu-west-1c" } }) : reservations(),
  );
  ec2.on(DescribeVolumesCommand).callsFake((q: { VolumeIds?: string[] }) => ({ Volumes: q.VolumeIds ? [{ VolumeId: "vol-9", State: "available", AvailabilityZone: "eu-west-1c" }] : [] }));
  ec2.on(CreateVolumeCommand).resolves({ VolumeId: "vol-9" });
  ec2.on(AttachVolumeCommand).resolves({});
  ec2.on(DescribeImagesCommand).resolves({ Images: [{ ImageId: "ami-0aaaaaaaaaaaaaaaa", Architecture: "x86_64", RootDeviceName: "/dev/xvda" }] });
  ec2.on(DescribeVpcsCommand).resolves({ Vpcs: [{ VpcId: "vpc-1", CidrBlock: "10.0.0.0/16" }] });
  ec2.on(DescribeSecurityGroupsCommand).resolves({ SecurityGroups: [] });
  ec2.on(CreateSecurityGroupCommand).resolves({ GroupId: "sg-9" });
  ec2.on(AuthorizeSecurityGroupIngressCommand).resolves({});
  ec2.on(RunInstancesCommand).resolves({ Instances: [{ InstanceId: "i-9" }] });
  ec2.on(DescribeAddressesCommand).resolves({ Addresses: [] });
  ec2.on(AllocateAddressCommand).resolves({ AllocationId: "eipalloc-9", PublicIp: "198.51.100.9" });
  ec2.on(AssociateAddressCommand).resolves({});
  rds.on(DescribeDBInstancesCommand)
    .rejectsOnce(serviceError("DBInstanceNotFoundFault"))
    .resolves({ DBInstances: [{ DBInstanceStatus: "available", DBInstanceClass: "db.t4g.micro", Endpoint: { Address: "db.example", Port: 5432 } }] });
  rds.on(CreateDBInstanceCommand).resolves({});
  ssm.on(GetParameterCommand).rejects(serviceError("ParameterNotFound"));
  ssm.on(PutParameterCommand).resolves({});
  const r = await run(["up", ...PKG, ...RDS, "--endpoint", "http://127.0.0.1:4566", "--json"]);
  t.equal(r.error, undefined);
  t.match(r.lines.at(-1), {
    event: "up",
    url: "http://198.51.100.9:8080",
    database: { identifier: "quackmesh-quackmesh", host: "db.example" },
    evaluator: { created: true },
    dataVolume: { volumeId: "vol-9", sizeGb: 20, availabilityZone: "eu-west-1c", created: true },
  });
  t.equal(rds.commandCalls(CreateDBInstanceCommand).length, 1);
  for (const mock of [rds, ssm]) {
    const client = mock.call(0).thisValue as RDSClient | SSMClient;
    t.match(await client.config.endpoint!(), { hostname: "127.0.0.1", port: 4566 }, "the same --endpoint");
  }
  t.notMatch(r.stdout, /postgres:\/\//, "no database URL printed");
  t.notMatch(r.stdout, new RegExp(String(ssm.commandCalls(PutParameterCommand)[0].args[0].input.Value).slice(2)), "no evaluator key printed");
});

t.test("sagemaker-eval --dry-run prints the request and calls nothing; without it, the job is created", async (t) => {
  const sm = mockClient(SageMakerClient);
  t.teardown(() => sm.restore());
  sm.on(CreateProcessingJobCommand).resolves({ ProcessingJobArn: "arn:aws:sagemaker:eu-west-1:123456789012:processing-job/n" });
  const args = ["sagemaker-eval", "--job", "3", "--image", "123456789012.dkr.ecr.eu-west-1.amazonaws.com/qm", "--role", "arn:aws:iam::123456789012:role/R", "--orchestrator", "http://203.0.113.5:8080", "--json"];
  const dry = await run([...args, "--dry-run"]);
  t.equal(dry.error, undefined);
  t.equal(sm.calls().length, 0);
  t.match(dry.lines[0], { event: "sagemaker-eval", dryRun: true, request: { AppSpecification: { ContainerEntrypoint: ["quackmesh", "aws", "evaluate"] } } });
  const real = await run(args);
  t.match(real.lines[0], { event: "sagemaker-eval", dryRun: false, arn: /processing-job/ });
  t.equal(sm.commandCalls(CreateProcessingJobCommand).length, 1);
  t.match((await run(["sagemaker-eval", "--job", "3", "--image", "x", "--role", "arn:aws:iam::123456789012:role/R"])).error, { code: "MISSING_OPTION", fix: /--orchestrator/ });
});

t.test("evaluate: fetches the model and spec over HTTP, evaluates it with the engine, writes the report", async (t) => {
  const { Network } = await import("../../native/index.js");
  const { loadMnist, writeIdx } = await import("../../native/data.js");
  const { encodeSafetensors } = await import("../../native/safetensors.js");
  const spec = { input: [784], layers: [{ type: "dense", units: 16, activation: "relu" }, { type: "dense", units: 10 }], loss: "cross-entropy" } as const;
  const net = Network.create(structuredClone(spec) as never, { seed: 3, device: "cpu" });
  const model = encodeSafetensors(net.weights());
  const test = await loadMnist("test", { limit: 500 });
  const dataDir = join(dir, "testset");
  await writeIdx(dataDir, test, "t10k");
  const expected = await net.evaluate(test);
  // A stand-in for the orchestrator's two read routes, on loopback.
  const { createServer } = await import("node:http");
  const server = createServer((req, res) => {
    if (req.url === "/api/job/4/model") {
      res.writeHead(200, { "x-quackmesh-model-hash": "0x" + "cd".repeat(32), "x-quackmesh-round": "5", "x-quackmesh-job-status": "finished" });
      res.end(model);
    } else if (req.url === "/api/job/4") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ jobId: 4, spec }));
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const outFile = join(dir, "eval", "report.json");
  const r = await run(["evaluate", "--job", "4", "--orchestrator", url, "--data", dataDir, "--out", outFile, "--device", "cpu", "--json"]);
  t.equal(r.error, undefined);
  t.match(r.lines[0], { event: "evaluation", jobId: 4, round: 5, status: "finished", samples: 500, file: outFile });
  t.equal(r.lines[0].accuracy, expected.accuracy);
  const { readFileSync } = await import("node:fs");
  t.equal(JSON.parse(readFileSync(outFile, "utf8")).accuracy, expected.accuracy);
  t.match((await run(["evaluate", "--job", "99", "--orchestrator", url, "--data", dataDir, "--out", outFile])).error, { code: "HTTP_ERROR", details: { status: 404 } });
});

t.test("every subcommand has help with examples", async (t) => {
  for (const sub of ["plan", "up", "status", "down", "sagemaker-eval", "evaluate"]) {
    const r = await run([sub, "--help"]);
    t.match(r.error, { code: "commander.helpDisplayed" });
    t.match(r.stdout, /Examples:\n\s+\$ quackmesh aws /, `${sub} --help`);
    t.match(r.stdout, /--json/);
  }
});
