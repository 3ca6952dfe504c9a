/**
 * The local chain's clock. A Hardhat chain moves its block time only when a block is mined, so
 * after a quiet minute its "now" lags the wall clock and a deadline that has passed looks open.
 * Commands that wait for a deadline mine one empty block first there. Never on another chain:
 * DuckChain makes its own blocks, and nobody may mine one for it.
 */
import type { JsonRpcProvider } from "ethers";
import { LOCAL_CHAIN_ID } from "../../../protocol/chain/networks.js";

/** The chain's clock (latest block time, Unix seconds), brought up to the wall clock on the local chain. */
export async function chainClock(provider: JsonRpcProvider, chainId: number): Promise<number> {
  if (chainId === LOCAL_CHAIN_ID) await provider.send("evm_mine", []);
  const block = await provider.getBlock("latest");
  return block ? block.timestamp : Math.floor(Date.now() / 1000);
}
