import t from "tap";
import { mockClient } from "aws-sdk-client-mock";
import { DescribeImagesCommand, EC2Client } from "@aws-sdk/client-ec2";
import { CONN, useFakeCredentials } from "./testkit.js";
import { architectureOf, buildPlan, resolveImage, runInstancesInput, type PlanInput } from "./plan.js";

useFakeCredentials();

const input: PlanInput = {
  stack: "orch-eu",
  region: "eu-west-1",
  instanceType: "t3.medium",
  diskGb: 20,
  allowCidr: "0.0.0.0/0",
  sshCidr: "203.0.113.7/32",
  keyName: "ops",
  userData: { packageSpec: "quackmesh@0.1.0", port: 9090, network: "duckchain-testnet" },
};

t.test("a plan names the group, its rules, the tags and the start script", async (t) => {
  const plan = buildPlan(input);
  t.equal(plan.securityGroup.name, "quackmesh-orch-eu");
  t.same(
    plan.securityGroup.ingress.map((r) => [r.port, r.cidr]),
    [
      [9090, "0.0.0.0/0"],
      [22, "203.0.113.7/32"],
    ],
  );
  t.same(plan.tags, { Name: "quackmesh-orch-eu", "quackmesh:stack": "orch-eu", "quackmesh:role": "orchestrator", "quackmesh:port": "9090" });
  t.same(plan.image, { latest: "Amazon Linux 2023 (x86_64)" });
  t.match(plan.userData, "--port 9090 --network duckchain-testnet");
  t.equal(plan.userDataBytes, Buffer.byteLength(plan.userData));
  t.equal(buildPlan({ ...input, sshCidr: undefined }).securityGroup.ingress.length, 1, "no SSH rule without --ssh-cidr");
});

t.test("Graviton instance types plan arm64 images", async (t) => {
  t.equal(architectureOf("t4g.medium"), "arm64");
  t.equal(architectureOf("m7gd.large"), "arm64");
  t.equal(architectureOf("c7gn.xlarge"), "arm64");
  t.equal(architectureOf("a1.large"), "arm64");
  t.equal(architectureOf("g5.xlarge"), "x86_64");
  t.equal(architectureOf("m7i.large"), "x86_64");
  t.equal(architectureOf("t3.medium"), "x86_64");
});

t.test("bad input is refused with the flag named", async (t) => {
  t.throws(() => buildPlan({ ...input, stack: "Bad_Name" }), { code: "AWS_BAD_STACK" });
  t.throws(() => buildPlan({ ...input, stack: "-x" }), { code: "AWS_BAD_STACK" });
  t.throws(() => buildPlan({ ...input, allowCidr: "10.0.0.0/33" }), { code: "AWS_BAD_CIDR", message: /--allow-cidr/ });
  t.throws(() => buildPlan({ ...input, sshCidr: "1.2.3.256/32" }), { code: "AWS_BAD_CIDR", message: /--ssh-cidr/ });
  t.throws(() => buildPlan({ ...input, ami: "ubuntu" }), { code: "BAD_ARGUMENT", message: /--ami/ });
  t.throws(() => buildPlan({ ...input, instanceType: "large" }), { code: "BAD_ARGUMENT", message: /--instance-type/ });
  t.throws(() => buildPlan({ ...input, diskGb: 4 }), { code: "BAD_ARGUMENT", message: /--disk/ });
});

t.test("RunInstances carries the user data (base64), the group, the tags, IMDSv2 and the disk", async (t) => {
  const plan = buildPlan(input);
  const req = runInstancesInput(plan, { id: "ami-0123456789abcdef0", rootDeviceName: "/dev/xvda" }, "sg-1", "tok");
  t.equal(Buffer.from(req.UserData!, "base64").toString("utf8"), plan.userData);
  t.same(req.SecurityGroupIds, ["sg-1"]);
  t.equal(req.KeyName, "ops");
  t.equal(req.ClientToken, "tok");
  t.same(req.MetadataOptions, { HttpTokens: "required", HttpEndpoint: "enabled" });
  t.same(req.BlockDeviceMappings, [{ DeviceName: "/dev/xvda", Ebs: { VolumeSize: 20, VolumeType: "gp3", DeleteOnTermination: true } }]);
  t.same(
    req.TagSpecifications?.map((s) => s.ResourceType),
    ["instance", "volume"],
  );
  t.ok(req.TagSpecifications?.[0].Tags?.some((tag) => tag.Key === "quackmesh:stack" && tag.Value === "orch-eu"));
  t.equal(req.SubnetId, undefined);
  t.equal(req.IamInstanceProfile, undefined);
});

t.test("resolveImage picks the newest Amazon Linux 2023 of the right architecture", async (t) => {
  const ec2 = mockClient(EC2Client);
  t.teardown(() => ec2.restore());
  ec2.on(DescribeImagesCommand).resolves({
    Images: [
      { ImageId: "ami-00000000000000001", CreationDate: "2024-01-01T00:00:00.000Z", Architecture: "arm64", RootDeviceName: "/dev/xvda" },
      { ImageId: "ami-00000000000000002", CreationDate: "2025-03-01T00:00:00.000Z", Architecture: "arm64", RootDeviceName: "/dev/xvda" },
      { ImageId: "ami-00000000000000003", CreationDate: "2024-06-01T00:00:00.000Z", Architecture: "arm64", RootDeviceName: "/dev/xvda" },
    ],
  });
  const plan = buildPlan({ ...input, instanceType: "t4g.small" });
  const image = await resolveImage(new EC2Client({ region: "eu-west-1" }), CONN, plan);
  t.equal(image.id, "ami-00000000000000002");
  const sent = ec2.commandCalls(DescribeImagesCommand)[0].args[0].input;
  t.same(sent.Owners, ["amazon"]);
  t.ok(sent.Filters?.some((f) => f.Name === "name" && f.Values?.[0] === "al2023-ami-2023.*-arm64"));
  t.ok(sent.Filters?.some((f) => f.Name === "architecture" && f.Values?.[0] === "arm64"));
});

t.test("resolveImage checks a given AMI and says when it does not exist", async (t) => {
  const ec2 = mockClient(EC2Client);
  t.teardown(() => ec2.restore());
  ec2.on(DescribeImagesCommand).resolves({ Images: [] });
  const plan = buildPlan({ ...input, ami: "ami-0123456789abcdef0" });
  await t.rejects(resolveImage(new EC2Client({ region: "eu-west-1" }), CONN, plan), { code: "AWS_AMI_NOT_FOUND", message: /ami-0123456789abcdef0/ });
  t.same(ec2.commandCalls(DescribeImagesCommand)[0].args[0].input, { ImageIds: ["ami-0123456789abcdef0"] });
});
