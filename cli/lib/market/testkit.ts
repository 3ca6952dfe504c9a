import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { Wallet, parseUnits, type JsonRpcProvider } from "ethers";
import { devAccount, resolveSigner } from "../chain/accounts.js";
import { connectContracts, type Contracts } from "../../../protocol/chain/contracts.js";
import { deployAll } from "../chain/deploy.js";
import { startLocalChain, type LocalChain } from "../chain/localChain.js";
import { connectProvider } from "../../../protocol/chain/networks.js";
import { packageRoot } from "../../../protocol/package.js";
import { faucet } from "../chain/wallet.js";
import type { GateLaunch } from "./gateLaunch.js";

/**
 * Test support: tests run from the TypeScript sources, but sshd needs a plain JS gate. This
 * transpiles gate.ts (it imports only node: modules) into `dir` and returns how to launch it,
 * with `workerEntry` as the CLI the gate runs for `quackmesh worker …`.
 */
export async function gateFromSources(dir: string, workerEntry: string): Promise<GateLaunch> {
  const ts = (await import("typescript")).default;
  // The gate imports only node: modules and protocol/worker.ts: transpile both, keeping their layout.
  const transpile = (from: string[], to: string[]): string => {
    const source = readFileSync(join(packageRoot(), ...from), "utf8");
    const out = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } });
    const file = join(dir, ...to);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, out.outputText);
    return file;
  };
  transpile(["protocol", "worker.ts"], ["protocol", "worker.js"]);
  writeFileSync(join(dir, "protocol", "package.json"), '{"type":"module"}\n');
  const file = transpile(["cli", "lib", "market", "gate.ts"], ["cli", "lib", "market", "gate.mjs"]);
  return { argv: [process.execPath, file], workerEntry };
}

/**
 * A stand-in CLI entry for `quackmesh worker` until the real worker lands: it answers
 * `worker --version`, and `worker --hash FILE [--beats N]` prints N heartbeat lines and a
 * `done` line carrying the sha256 of FILE (read from its working folder, the rental's).
 * With `--hold` it stays alive, silent, after N heartbeats (a hung worker).
 */
export function writeWorkerEntry(dir: string): string {
  const file = join(dir, "worker-entry.mjs");
  writeFileSync(
    file,
    `import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
const args = process.argv.slice(3);
const opt = (n) => { const i = args.indexOf(n); return i >= 0 ? args[i + 1] : undefined; };
if (process.argv[2] !== "worker") { console.error("not a worker call"); process.exit(2); }
if (args.includes("--version")) { console.log("quackmesh-worker 0.1.0 rental " + process.env.QUACKMESH_RENTAL_ID + " cwd " + process.cwd()); process.exit(0); }
const beats = Number(opt("--beats") ?? 3);
const hold = args.includes("--hold");
let n = 0;
const timer = setInterval(() => {
  n++;
  console.log(JSON.stringify({ event: "heartbeat", n, rental: process.env.QUACKMESH_RENTAL_ID }));
  if (n >= beats && hold) clearInterval(timer), setInterval(() => {}, 60000);
  else if (n >= beats) {
    clearInterval(timer);
    const file = opt("--hash");
    const sha256 = file ? createHash("sha256").update(readFileSync(file)).digest("hex") : null;
    console.log(JSON.stringify({ event: "done", sha256 }));
  }
}, 100);
`,
  );
  return file;
}

export interface MarketFixture {
  chain: LocalChain;
  settings: { network: string; rpc: string; deploymentsDir: string };
  provider: JsonRpcProvider;
  fromBlock: number;
  /** The deployed contracts bound to a dev account's wallet (by name or index). */
  as(account: string): Promise<Contracts & { wallet: Wallet }>;
  /** Move the chain's clock forward and mine a block. */
  travel(seconds: number): Promise<void>;
  stop(): Promise<void>;
}

/** A Hardhat node on a free port with the contracts deployed and `fund` accounts given 1000 DUCK. */
export async function marketFixture(dir: string, fund: string[] = ["requester"]): Promise<MarketFixture> {
  const chain = await startLocalChain({ port: 0 });
  try {
    const settings = { network: "local", rpc: chain.url, deploymentsDir: join(dir, "deployments") };
    const { provider, network } = await connectProvider(settings);
    const operator = resolveSigner(settings, provider, {}, network);
    const deployment = await deployAll(settings, operator);
    const as = async (account: string) => {
      const wallet = new Wallet(devAccount(account).privateKey, provider);
      return { ...(await connectContracts(settings, wallet)), wallet };
    };
    const ops = await as("operator");
    for (const name of fund) await faucet(ops, provider, devAccount(name).address, { duck: parseUnits("1000", 18), eth: 0n });
    return {
      chain,
      settings,
      provider,
      fromBlock: deployment.block,
      as,
      travel: async (seconds) => {
        await provider.send("evm_increaseTime", [seconds]);
        await provider.send("evm_mine", []);
      },
      stop: async () => {
        provider.destroy();
        await chain.stop();
      },
    };
  } catch (err) {
    await chain.stop();
    throw err;
  }
}
