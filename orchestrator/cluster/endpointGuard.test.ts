// Which addresses the orchestrator's SSH client may reach, and that a refused one is never dialled.
import t from "tap";
import { createServer } from "node:net";
import { LOCAL_CHAIN_ID } from "../../protocol/chain/networks.js";
import { generateSshKeyPair } from "../../protocol/market/sshKeys.js";
import { allowsPrivateEndpoints } from "../options.js";
import { connectAddress, isPrivateAddress } from "./endpointGuard.js";
import { SshSession } from "./sshClient.js";

t.test("isPrivateAddress: loopback, private, link-local, shared, multicast and unspecified ranges, v4 and v6", async (t) => {
  for (const ip of ["127.0.0.1", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0", "224.0.0.1", "255.255.255.255", "198.18.0.1", "::1", "::", "fe80::1", "fd00::1", "ff02::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "not-an-ip"]) {
    t.ok(isPrivateAddress(ip), `${ip} is not public`);
  }
  for (const ip of ["203.0.113.7", "8.8.8.8", "172.32.0.1", "100.128.0.1", "2001:4860:4860::8888", "::ffff:8.8.8.8"]) t.notOk(isPrivateAddress(ip), `${ip} is public`);
});

t.test("connectAddress: off, a non-public address is refused before any lookup result is used; on, the host is kept", async (t) => {
  await t.rejects(connectAddress("127.0.0.1", 22, false), { code: "PRIVATE_ENDPOINT", details: { host: "127.0.0.1", port: 22, addresses: ["127.0.0.1"] } });
  await t.rejects(connectAddress("169.254.169.254", 80, false), { code: "PRIVATE_ENDPOINT" }, "the cloud metadata address");
  await t.rejects(connectAddress("localhost", 22, false), { code: "PRIVATE_ENDPOINT" }, "a name that resolves to loopback");
  t.equal(await connectAddress("203.0.113.7", 2222, false), "203.0.113.7", "a public literal is dialled as is");
  t.equal(await connectAddress("localhost", 22, true), "localhost", "allowed: nothing resolved here");
});

t.test("allowsPrivateEndpoints: on the local chain by default, off elsewhere, as configured when set", async (t) => {
  t.equal(allowsPrivateEndpoints(undefined, LOCAL_CHAIN_ID), true);
  t.equal(allowsPrivateEndpoints({}, 1234), false);
  t.equal(allowsPrivateEndpoints({ privateEndpoints: true }, 1234), true);
  t.equal(allowsPrivateEndpoints({ privateEndpoints: false }, LOCAL_CHAIN_ID), false);
});

t.test("SshSession.open to a loopback endpoint with private endpoints off: PRIVATE_ENDPOINT, no TCP connection made", async (t) => {
  let connections = 0;
  const server = createServer((s) => {
    connections++;
    s.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const port = (server.address() as { port: number }).port;
  const target = { host: "127.0.0.1", port, username: "quackmesh", privateKey: generateSshKeyPair().private };
  await t.rejects(SshSession.open(target, { allowPrivateEndpoints: false }), { code: "PRIVATE_ENDPOINT" });
  await new Promise((r) => setTimeout(r, 100));
  t.equal(connections, 0, "the port was never dialled");
  // Allowed, the same endpoint is dialled (and fails there: it is no SSH server).
  await t.rejects(SshSession.open(target, { allowPrivateEndpoints: true, readyTimeoutMs: 2000 }));
  t.equal(connections, 1, "allowed: dialled once");
});
