import { Command } from "commander";
import type { Contract } from "ethers";
import { isQuackError } from "../../protocol/errors.js";
import { makeOutput } from "../lib/output.js";
import { resolveSigner } from "../lib/chain/accounts.js";
import { contractAt } from "../../protocol/chain/contracts.js";
import { parseAddress, resolveNetwork } from "../../protocol/chain/networks.js";
import { addChainOptions, openChain, settingsFrom, type ChainContext, type ChainOptions } from "../lib/chain/options.js";
import { formatAmount, parseAmount } from "../../protocol/chain/units.js";
import { balancesOf, faucet, faucetLocalOnly } from "../lib/chain/wallet.js";

export function walletCommand(): Command {
  const wallet = new Command("wallet")
    .description("wallet address, balance and local faucet")
    .addHelpText(
      "after",
      `
The wallet is --key FILE or QUACKMESH_PRIVATE_KEY; on the local chain a dev account (--account).

Examples:
  $ quackmesh wallet address --account requester
  $ quackmesh wallet balance 0x70997970C51812dc3A010C7d01b50e0d17dc79C8
  $ quackmesh wallet faucet --account contributor1 --amount 500`,
    );
  wallet.addCommand(addressCommand());
  wallet.addCommand(balanceCommand());
  wallet.addCommand(faucetCommand());
  return wallet;
}

function addressCommand(): Command {
  const cmd = new Command("address").description("print the wallet's address (no network access)");
  return addChainOptions(cmd, { defaultAccount: "operator" })
    .addHelpText("after", "\nExamples:\n  $ quackmesh wallet address\n  $ quackmesh wallet address --key ./my.key --network duckchain --json")
    .action((flags: ChainOptions) => {
      const settings = settingsFrom(flags);
      const network = resolveNetwork(settings);
      const signer = resolveSigner(settings, null, { key: flags.key, account: flags.account }, network);
      makeOutput(Boolean(flags.json)).emit({ address: signer.address, network: network.name || network.rpcUrl }, signer.address);
    });
}

function balanceCommand(): Command {
  const cmd = new Command("balance").argument("[address]", "address to look up (default: the wallet's)").description("show ETH and DUCK balances");
  return addChainOptions(cmd, { defaultAccount: "operator" })
    .addHelpText("after", "\nExamples:\n  $ quackmesh wallet balance --account provider1\n  $ quackmesh wallet balance 0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266 --json")
    .action(async (address: string | undefined, flags: ChainOptions) => {
      const out = makeOutput(Boolean(flags.json));
      const ctx = await openChain(flags, { defaultAccount: "operator" });
      try {
        const who = address === undefined ? ctx.signer.address : parseAddress(address, "Address");
        const duck = await duckContract(ctx, (note) => out.info(note));
        const b = await balancesOf(ctx.provider, who, duck);
        out.emit(
          { address: b.address, network: ctx.network.name, eth: b.eth, duck: b.duck ?? null },
          `${b.address} on ${ctx.network.name}\n  ETH   ${formatAmount(b.eth)}\n  DUCK  ${b.duck === undefined ? "unknown (no $DUCK contract known)" : formatAmount(b.duck)}`,
        );
      } finally {
        ctx.close();
      }
    });
}

/** $DUCK from the deployment, else from the configured address; undefined (with a note) when neither exists. */
async function duckContract(ctx: ChainContext, note: (text: string) => void): Promise<Contract | undefined> {
  try {
    return (await ctx.contracts()).duck;
  } catch (err) {
    if (!isQuackError(err) || !["NO_DEPLOYMENT", "DEPLOYMENT_GONE"].includes(err.code)) throw err;
    if (ctx.settings.duckToken) return contractAt("DuckToken", parseAddress(ctx.settings.duckToken, "QUACKMESH_DUCK_TOKEN"), ctx.provider);
    note(`${err.message} DUCK balance unknown.`);
    return undefined;
  }
}

function faucetCommand(): Command {
  const cmd = new Command("faucet").description("local chain only: mint DUCK and send ETH for gas to an address");
  return addChainOptions(cmd, { defaultAccount: "operator" })
    .option("--to <address>", "receiver (default: the wallet's own address)")
    .option("--amount <duck>", "DUCK to mint", "1000")
    .option("--eth <eth>", "ETH to send along for gas", "10")
    .addHelpText(
      "after",
      "\nDUCK is minted by DuckToken's owner (the deploying dev account); ETH comes from the same account.\n\n" +
        "Examples:\n  $ quackmesh wallet faucet --account requester --amount 5000\n  $ quackmesh wallet faucet --to 0x90F79bf6EB2c4f870365E785982E1f101E93b906 --eth 0 --json",
    )
    .action(async (flags: ChainOptions & { to?: string; amount: string; eth: string }) => {
      const out = makeOutput(Boolean(flags.json));
      const amounts = { duck: parseAmount(flags.amount, "--amount"), eth: parseAmount(flags.eth, "--eth") };
      const named = resolveNetwork(settingsFrom(flags));
      if (named.chainId !== undefined && !named.local) throw faucetLocalOnly();
      const ctx = await openChain(flags, { defaultAccount: "operator" });
      try {
        const to = flags.to === undefined ? ctx.signer.address : parseAddress(flags.to, "--to");
        const contracts = await ctx.contracts();
        const r = await faucet(contracts, ctx.provider, to, amounts);
        const after = await balancesOf(ctx.provider, to, contracts.duck);
        out.emit(
          { to: r.to, minted: r.duck, sentEth: r.eth, mintTx: r.mintTx ?? null, ethTx: r.ethTx ?? null, balance: { eth: after.eth, duck: after.duck } },
          `Sent ${formatAmount(r.duck)} DUCK and ${formatAmount(r.eth)} ETH to ${r.to}; it now holds ${formatAmount(after.duck ?? 0n)} DUCK and ${formatAmount(after.eth)} ETH.`,
        );
      } finally {
        ctx.close();
      }
    });
}
