import t from "tap";
import { createServer } from "node:net";
import { JsonRpcProvider } from "ethers";
import { startLocalChain, freePort } from "./localChain.js";
import { devAccount } from "./accounts.js";

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

t.test("a chain on port 0 answers JSON-RPC with funded dev accounts and stops without a trace", async (t) => {
  const chain = await startLocalChain({ port: 0 });
  t.teardown(() => chain.stop());
  t.not(chain.port, 0);
  t.equal(chain.url, `http://127.0.0.1:${chain.port}`);
  t.ok(alive(chain.pid), "node process runs");

  const provider = new JsonRpcProvider(chain.url, undefined, { staticNetwork: true });
  const net = await provider.getNetwork();
  t.equal(net.chainId, 31337n);
  const requester = devAccount("requester");
  t.equal(chain.accounts[1].address, requester.address);
  t.equal(await provider.getBalance(requester.address), 10_000n * 10n ** 18n, "dev account holds 10 000 ETH");
  provider.destroy();

  await chain.stop();
  t.notOk(alive(chain.pid), "node pid is gone after stop()");
  t.equal(await chain.exited.then(() => "exited"), "exited");
  await chain.stop(); // a second stop is harmless
});

t.test("a busy port is a clear PORT_BUSY error and starts nothing", async (t) => {
  const port = await freePort();
  const blocker = createServer();
  await new Promise<void>((r) => blocker.listen(port, "127.0.0.1", r));
  t.teardown(() => new Promise<void>((r) => blocker.close(() => r())));
  await t.rejects(startLocalChain({ port }), { code: "PORT_BUSY", message: new RegExp(`Port ${port} on 127\\.0\\.0\\.1 is already in use`) });
});

t.test("a port outside 0-65535 is refused", async (t) => {
  await t.rejects(startLocalChain({ port: 70000 }), { code: "BAD_PORT" });
});

t.test("log lines reach onLog when not quiet", async (t) => {
  const lines: string[] = [];
  const chain = await startLocalChain({ port: 0, quiet: false, onLog: (l) => lines.push(l) });
  t.teardown(() => chain.stop());
  t.match(lines.join("\n"), /Started HTTP and WebSocket JSON-RPC server/);
  t.match(chain.logTail(), /Account #\d+: 0x[0-9a-fA-F]{40}/);
});
