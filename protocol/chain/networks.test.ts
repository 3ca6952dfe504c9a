import t from "tap";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { connectProvider, parseAddress, probeChainId, requireDuckToken, resolveNetwork } from "./networks.js";
import { freePort } from "../../cli/lib/chain/localChain.js";

t.test("registry names, --rpc override and URLs", async (t) => {
  t.same(resolveNetwork({ network: "local" }), { name: "local", chainId: 31337, rpcUrl: "http://127.0.0.1:8545", local: true });
  t.same(resolveNetwork({ network: "duckchain-testnet" }), { name: "duckchain-testnet", chainId: 202105, rpcUrl: "https://testnet-rpc.duckchain.io", local: false });
  t.same(resolveNetwork({ network: "duckchain" }), { name: "duckchain", chainId: 5545, rpcUrl: "https://rpc.duckchain.io", local: false });
  t.equal(resolveNetwork({ network: "local", rpc: "http://127.0.0.1:9999" }).rpcUrl, "http://127.0.0.1:9999");
  t.equal(resolveNetwork({ network: "http://10.0.0.1:8545" }).rpcUrl, "http://10.0.0.1:8545");
  t.throws(() => resolveNetwork({ network: "mainnet" }), { code: "UNKNOWN_NETWORK", message: /mainnet/ });
  t.throws(() => resolveNetwork({ network: "local", rpc: "127.0.0.1:8545" }), { code: "BAD_RPC_URL" });
});

t.test("an unreachable RPC is a clear error with a fix", async (t) => {
  const port = await freePort();
  await t.rejects(probeChainId(`http://127.0.0.1:${port}`, 1000), {
    code: "RPC_UNREACHABLE",
    message: new RegExp(`Cannot reach the JSON-RPC endpoint http://127\\.0\\.0\\.1:${port}: ECONNREFUSED`),
    fix: /quackmesh chain/,
  });
  await t.rejects(connectProvider({ network: "local", rpc: `http://127.0.0.1:${port}` }, { timeoutMs: 1000 }), { code: "RPC_UNREACHABLE" });
});

t.test("an endpoint that hangs times out; one on the wrong chain is refused", async (t) => {
  const server = createServer((req, res) => {
    if (req.url === "/hang") return; // never answers
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify({ jsonrpc: "2.0", id: 1, result: "0x15a9" })); // 5545
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  t.teardown(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  await t.rejects(probeChainId(`${base}/hang`, 300), { code: "RPC_UNREACHABLE", message: /no answer in time/ });
  t.equal(await probeChainId(base), 5545);
  await t.rejects(connectProvider({ network: "local", rpc: base }), { code: "WRONG_CHAIN", message: /chain id 5545.*'local' is chain id 31337/ });
  const { provider, network } = await connectProvider({ network: base });
  t.same(network, { name: "chain-5545", rpcUrl: base, chainId: 5545, local: false });
  provider.destroy();
});

t.test("$DUCK address comes from settings only", async (t) => {
  t.throws(() => requireDuckToken({}, { name: "duckchain" }), { code: "NO_DUCK_TOKEN", fix: /QUACKMESH_DUCK_TOKEN/ });
  t.throws(() => requireDuckToken({ duckToken: "0x123" }, { name: "duckchain" }), { code: "BAD_ADDRESS" });
  const lower = "0x70997970c51812dc3a010c7d01b50e0d17dc79c8";
  t.equal(requireDuckToken({ duckToken: lower }, { name: "duckchain" }), "0x70997970C51812dc3A010C7d01b50e0d17dc79C8");
  t.throws(() => parseAddress("0x70997970C51812dc3a010c7d01b50e0d17dc79c8", "To"), { code: "BAD_ADDRESS", message: /^To / });
});
