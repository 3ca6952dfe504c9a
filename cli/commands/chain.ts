import { Command } from "commander";
import { JsonRpcProvider, formatEther } from "ethers";
import { QuackError } from "../../protocol/errors.js";
import { makeOutput } from "../lib/output.js";
import { startLocalChain, type LocalChain } from "../lib/chain/localChain.js";
import { parsePort } from "../../protocol/chain/units.js";
import { waitForSignal } from "../lib/signals.js";

export function chainCommand(): Command {
  return new Command("chain")
    .description("start a local Hardhat chain on 127.0.0.1 with funded dev accounts")
    .option("--port <port>", "TCP port to listen on (0 picks a free one)", "8545")
    .option("--host <address>", "interface to bind", "127.0.0.1")
    .option("--verbose", "also print the node's own log (every RPC call)")
    .option("--json", "machine-readable output: a 'ready' line with the URL and accounts, a 'stopped' line at the end")
    .addHelpText(
      "after",
      `
The chain runs until Ctrl-C (or SIGTERM) and then stops cleanly. Its state lives in memory only:
after a restart, deploy again. The listed keys are Hardhat's public dev keys: never use them on
a real network.

Examples:
  $ quackmesh chain                       # http://127.0.0.1:8545, then: quackmesh deploy
  $ quackmesh chain --port 0 --json       # free port; first line: {"event":"ready","url":…}`,
    )
    .action(async (opts: { port: string; host: string; verbose?: boolean; json?: boolean }) => {
      const out = makeOutput(Boolean(opts.json));
      const chain = await startLocalChain({ port: parsePort(opts.port), host: opts.host, quiet: !opts.verbose, onLog: (line) => out.info(line) });
      const stopSignal = waitForSignal();
      try {
        const accounts = await withBalances(chain);
        out.emit(
          { event: "ready", url: chain.url, chainId: chain.chainId, pid: chain.pid, accounts },
          `Local chain ready at ${chain.url} (chain id ${chain.chainId})\n\n` +
            `Accounts (Hardhat's public dev keys: never send real funds to them):\n` +
            accounts.map((a) => `  #${String(a.index).padEnd(2)} ${a.name.padEnd(13)} ${a.address}  ${a.eth} ETH\n      key ${a.privateKey}`).join("\n") +
            `\n\nNext: quackmesh deploy${chain.port === 8545 ? "" : ` --rpc ${chain.url}`}`,
        );
        out.info("Press Ctrl-C to stop.");
        const how = await Promise.race([stopSignal.promise, chain.exited.then((code) => ({ exited: code }))]);
        if (typeof how === "object") {
          throw new QuackError("CHAIN_EXITED", `The Hardhat node exited on its own (code ${how.exited}).`, {
            fix: "Start it again; its log is in details.log.",
            details: { log: chain.logTail() },
          });
        }
        await chain.stop();
        out.emit({ event: "stopped", signal: how, url: chain.url }, `Stopped the chain at ${chain.url} (${how}).`);
      } finally {
        stopSignal.dispose();
        await chain.stop();
      }
    });
}

async function withBalances(chain: LocalChain) {
  const provider = new JsonRpcProvider(chain.url, undefined, { staticNetwork: true });
  try {
    const balances = await Promise.all(chain.accounts.map((a) => provider.getBalance(a.address)));
    return chain.accounts.map((a, i) => ({ ...a, eth: formatEther(balances[i]).replace(/\.0$/, "") }));
  } finally {
    provider.destroy();
  }
}
