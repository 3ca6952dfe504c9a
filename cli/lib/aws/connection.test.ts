import t from "tap";
import { clientConfig, ec2Client, resolveConnection, sageMakerClient } from "./connection.js";
import { useFakeCredentials } from "./testkit.js";

useFakeCredentials();

t.test("flags win over the environment; AWS_DEFAULT_REGION is a fallback", async (t) => {
  const env = { AWS_REGION: "us-east-1", AWS_DEFAULT_REGION: "us-west-2", QUACKMESH_AWS_ENDPOINT: "http://127.0.0.1:4566" };
  t.same(resolveConnection({}, env), { region: "us-east-1", endpoint: "http://127.0.0.1:4566", profile: undefined });
  t.same(resolveConnection({ region: "eu-west-1", endpoint: "https://ec2.example.org/", profile: "ops" }, env), {
    region: "eu-west-1",
    endpoint: "https://ec2.example.org",
    profile: "ops",
  });
  t.equal(resolveConnection({}, { AWS_DEFAULT_REGION: "ap-southeast-2" }).region, "ap-southeast-2");
  t.equal(resolveConnection({ region: "us-gov-west-1" }, {}).region, "us-gov-west-1");
});

t.test("missing or malformed region and endpoint are refused", async (t) => {
  t.throws(() => resolveConnection({}, {}), { code: "AWS_NO_REGION", message: /region/ });
  t.throws(() => resolveConnection({ region: "Europe" }, {}), { code: "AWS_BAD_REGION", message: /Europe/ });
  t.throws(() => resolveConnection({ region: "eu-west-1", endpoint: "ftp://x" }, {}), { code: "AWS_BAD_ENDPOINT" });
  t.throws(() => resolveConnection({ region: "eu-west-1", endpoint: "not a url" }, {}), { code: "AWS_BAD_ENDPOINT" });
});

t.test("--endpoint reaches the clients' resolved endpoint", async (t) => {
  const conn = resolveConnection({ region: "eu-west-1", endpoint: "http://127.0.0.1:4566" }, {});
  for (const client of [ec2Client(conn), sageMakerClient(conn)]) {
    t.equal(client.config.isCustomEndpoint, true);
    const ep = await client.config.endpoint!();
    t.equal(ep.hostname, "127.0.0.1");
    t.equal(ep.port, 4566);
    t.equal(ep.protocol, "http:");
    t.equal(await client.config.region(), "eu-west-1");
    client.destroy();
  }
});

t.test("without --endpoint the clients resolve AWS's regional endpoint", async (t) => {
  const client = ec2Client({ region: "eu-west-1" });
  t.equal(client.config.isCustomEndpoint, false);
  const ep = client.config.endpointProvider({ Region: "eu-west-1", UseFIPS: false, UseDualStack: false });
  t.equal(ep.url.hostname, "ec2.eu-west-1.amazonaws.com");
  client.destroy();
});

t.test("--profile goes to the SDK, which reads it from the config files", async (t) => {
  t.equal(clientConfig({ region: "eu-west-1", profile: "ops" }).profile, "ops");
  t.notOk("profile" in clientConfig({ region: "eu-west-1" }));
  const client = ec2Client({ region: "eu-west-1", profile: "ops" });
  t.equal((client.config as { profile?: string }).profile, "ops");
  client.destroy();
});
