import t from "tap";
import { createServer } from "node:net";
import { mockClient } from "aws-sdk-client-mock";
import { DescribeInstancesCommand, EC2Client } from "@aws-sdk/client-ec2";
import { QuackError } from "../../../protocol/errors.js";
import { ec2Client } from "./connection.js";
import { PERMISSIONS, toQuackError, withPermissions } from "./errors.js";
import { status } from "./status.js";
import { CONN, serviceError, useFakeCredentials } from "./testkit.js";

useFakeCredentials();
const ctx = { conn: CONN, action: "ec2:RunInstances" };

t.test("no credentials anywhere: the SDK's CredentialsProviderError becomes AWS_NO_CREDENTIALS with the fix", async (t) => {
  const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };
  delete process.env.AWS_ACCESS_KEY_ID;
  delete process.env.AWS_SECRET_ACCESS_KEY;
  t.teardown(() => {
    process.env.AWS_ACCESS_KEY_ID = saved.id;
    process.env.AWS_SECRET_ACCESS_KEY = saved.secret;
  });
  // The real default chain: env, config files (absent), SSO, process, IMDS (disabled): nothing is found.
  const client = ec2Client({ region: "eu-west-1", endpoint: "http://127.0.0.1:9" });
  t.teardown(() => client.destroy());
  const err = await status(client, { region: "eu-west-1", endpoint: "http://127.0.0.1:9" }).catch((e: unknown) => e);
  t.type(err, QuackError);
  t.match(err, { code: "AWS_NO_CREDENTIALS", message: /ec2:DescribeInstances/, fix: /AWS_PROFILE/ });
  t.match((err as QuackError).fix, /AWS_ACCESS_KEY_ID/);
  t.equal(((err as QuackError).cause as Error).name, "CredentialsProviderError");
});

t.test("a profile that does not exist is a credentials error too", async (t) => {
  const client = ec2Client({ region: "eu-west-1", profile: "no-such-profile", endpoint: "http://127.0.0.1:9" });
  t.teardown(() => client.destroy());
  await t.rejects(status(client, { region: "eu-west-1", profile: "no-such-profile" }), { code: "AWS_NO_CREDENTIALS", message: /profile 'no-such-profile'/, fix: /--profile/ });
});

t.test("an endpoint nobody listens on is AWS_UNREACHABLE naming the endpoint", async (t) => {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  const conn = { region: "eu-west-1", endpoint: `http://127.0.0.1:${port}` };
  const client = ec2Client(conn);
  t.teardown(() => client.destroy());
  await t.rejects(status(client, conn), { code: "AWS_UNREACHABLE", message: new RegExp(`127\\.0\\.0\\.1:${port}`), fix: /--endpoint/ });
});

t.test("refusals by the service", async (t) => {
  t.match(toQuackError(serviceError("UnauthorizedOperation"), ctx), { code: "AWS_UNAUTHORIZED", message: /ec2:RunInstances/, fix: /ec2:RunInstances/ });
  t.match(toQuackError(serviceError("AccessDeniedException"), ctx), { code: "AWS_UNAUTHORIZED" });
  t.match(toQuackError(serviceError("AuthFailure"), ctx), { code: "AWS_BAD_CREDENTIALS", fix: /get-caller-identity/ });
  t.match(toQuackError(serviceError("ExpiredToken"), ctx), { code: "AWS_BAD_CREDENTIALS" });
  t.match(toQuackError(serviceError("OptInRequired"), ctx), { code: "AWS_REGION_DISABLED", message: /eu-west-1/ });
  t.match(toQuackError(serviceError("InvalidAMIID.NotFound"), ctx), { code: "AWS_REQUEST_FAILED", fix: /--ami/, details: { code: "InvalidAMIID.NotFound" } });
  t.match(toQuackError(serviceError("InvalidKeyPair.NotFound"), ctx), { fix: /--key-name/ });
  t.match(toQuackError(serviceError("SomethingNew", "odd"), ctx), { code: "AWS_REQUEST_FAILED", message: /SomethingNew.*odd/ });
});

t.test("network and region failures", async (t) => {
  const dns = Object.assign(new Error("getaddrinfo ENOTFOUND ec2.eu-west-9.amazonaws.com"), { code: "ENOTFOUND" });
  t.match(toQuackError(dns, { conn: { region: "eu-west-9" }, action: "ec2:DescribeInstances" }), { code: "AWS_UNREACHABLE", fix: /--region/ });
  const refused = new AggregateError([Object.assign(new Error("x"), { code: "ECONNREFUSED" })], "refused");
  t.match(toQuackError(refused, { conn: { region: "eu-west-1", endpoint: "http://h:1" }, action: "a" }), { code: "AWS_UNREACHABLE", message: /http:\/\/h:1/ });
  t.match(toQuackError(new Error("Region is missing"), ctx), { code: "AWS_BAD_REGION" });
  const quack = new QuackError("AWS_NO_REGION", "No AWS region given.");
  t.equal(toQuackError(quack, ctx), quack, "QuackErrors pass through");
});

t.test("withPermissions lists every permission of the subcommand in the fix", async (t) => {
  const ec2 = mockClient(EC2Client);
  t.teardown(() => ec2.restore());
  ec2.on(DescribeInstancesCommand).rejects(serviceError("UnauthorizedOperation"));
  const client = new EC2Client({ region: "eu-west-1" });
  await t.rejects(status(client, CONN), { code: "AWS_UNAUTHORIZED", fix: /ec2:DescribeInstances/ });
  const err = await withPermissions(PERMISSIONS.down, async () => {
    throw toQuackError(serviceError("UnauthorizedOperation"), { conn: CONN, action: "ec2:TerminateInstances" });
  }).catch((e: unknown) => e as QuackError);
  for (const p of PERMISSIONS.down) t.match(err.fix, p);
});
