import { Wallet, type Contract, type Provider } from "ethers";
import { QuackError } from "../../../protocol/errors.js";
import { devAccounts } from "./accounts.js";
import { contractAt, type Contracts } from "../../../protocol/chain/contracts.js";
import { LOCAL_CHAIN_ID } from "../../../protocol/chain/networks.js";
import { describeRevert } from "../../../protocol/chain/revert.js";
import { sendTx } from "./tx.js";
import { formatAmount } from "../../../protocol/chain/units.js";

export interface Balances {
  address: string;
  /** Wei. */
  eth: bigint;
  /** DUCK wei; undefined when no $DUCK contract is known for this chain. */
  duck?: bigint;
}

export async function balancesOf(provider: Provider, address: string, duck?: Contract): Promise<Balances> {
  const [eth, duckBalance] = await Promise.all([
    provider.getBalance(address),
    duck ? (duck.getFunction("balanceOf")(address) as Promise<bigint>) : Promise.resolve(undefined),
  ]);
  return { address, eth, duck: duckBalance };
}

export interface FaucetResult {
  to: string;
  /** DUCK wei minted. */
  duck: bigint;
  /** ETH wei sent. */
  eth: bigint;
  mintTx?: string;
  ethTx?: string;
}

/**
 * The faucet command for a fix hint: `--to` names the wallet that came short, so it funds that one
 * whichever --account, --key or QUACKMESH_PRIVATE_KEY chose it (a bare `wallet faucet` funds the
 * default account). `duck`: the DUCK wei missing (0: only ETH for gas, which the faucet always
 * sends; absent: the faucet's default amount).
 */
export function faucetHint(to: string, duck?: bigint): string {
  const amount = duck === undefined ? "" : ` --amount ${duck > 0n ? formatAmount(duck) : "0"}`;
  return `quackmesh wallet faucet --to ${to}${amount}`;
}

export function faucetLocalOnly(): QuackError {
  return new QuackError("FAUCET_LOCAL_ONLY", "The faucet mints test DUCK and exists only on the local chain.", {
    fix: "On DuckChain, get $DUCK and ETH from an exchange or a funded wallet.",
  });
}

/**
 * Local chain only: mint DUCK to `to` from DuckToken's owner (a dev account there) and send ETH
 * for gas from the same account.
 */
export async function faucet(contracts: Contracts, provider: Provider, to: string, amounts: { duck: bigint; eth: bigint }): Promise<FaucetResult> {
  const { chainId } = await provider.getNetwork();
  if (chainId !== BigInt(LOCAL_CHAIN_ID)) throw faucetLocalOnly();
  if (amounts.duck < 0n || amounts.eth < 0n || (amounts.duck === 0n && amounts.eth === 0n)) {
    throw new QuackError("BAD_AMOUNT", "The faucet needs a positive DUCK or ETH amount.", { fix: "Pass e.g. --amount 1000 --eth 10." });
  }
  const owner = String(await contracts.duck.getFunction("owner")());
  const ownerAccount = devAccounts().find((a) => a.address.toLowerCase() === owner.toLowerCase());
  if (!ownerAccount) {
    throw new QuackError("FAUCET_NO_OWNER", `DuckToken's owner ${owner} is not a dev account, so the faucet cannot mint.`, {
      fix: "Redeploy on the local chain with a dev account: `quackmesh deploy --network local --force`.",
    });
  }
  const minter = new Wallet(ownerAccount.privateKey, provider);
  const duck = contractAt("DuckToken", await contracts.duck.getAddress(), minter);
  let mintTx: string | undefined;
  if (amounts.duck > 0n) mintTx = (await sendTx(duck, "mint", [to, amounts.duck])).hash;
  let ethTx: string | undefined;
  if (amounts.eth > 0n) {
    try {
      const tx = await minter.sendTransaction({ to, value: amounts.eth });
      ethTx = (await tx.wait())?.hash;
    } catch (err) {
      throw describeRevert(err);
    }
  }
  return { to, duck: amounts.duck, eth: amounts.eth, mintTx, ethTx };
}
