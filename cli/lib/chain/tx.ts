import type { Contract, ContractTransactionResponse, Overrides, TransactionReceipt } from "ethers";
import { QuackError } from "../../../protocol/errors.js";
import { describeRevert, type DescribeOptions } from "../../../protocol/chain/revert.js";

/**
 * Call a state-changing contract function, wait until it is mined, and return the receipt.
 * Any failure (a revert found while estimating gas, a failed receipt, funds, network) comes back
 * as a QuackError from describeRevert.
 *
 * The gas limit is the estimate plus a quarter (unused gas is not paid): state can change between
 * the estimate and the block (another party's withdrawal, a first write to a slot), and a bare
 * estimate then runs out of gas.
 */
export async function sendTx(
  contract: Contract,
  method: string,
  args: readonly unknown[] = [],
  opts: DescribeOptions & { overrides?: Overrides; confirmations?: number } = {},
): Promise<TransactionReceipt> {
  const describe = { ...opts, method: opts.method ?? method };
  let receipt: TransactionReceipt | null;
  try {
    const fn = contract.getFunction(method);
    const overrides: Overrides = { ...opts.overrides };
    if (overrides.gasLimit === undefined) {
      const estimate = await (opts.overrides ? fn.estimateGas(...args, opts.overrides) : fn.estimateGas(...args));
      overrides.gasLimit = (estimate * 5n) / 4n;
    }
    const tx = (await fn(...args, overrides)) as ContractTransactionResponse;
    receipt = await tx.wait(opts.confirmations ?? 1);
  } catch (err) {
    throw describeRevert(err, contract, describe);
  }
  if (!receipt || receipt.status !== 1) {
    throw new QuackError("TX_REVERTED", `${method} was mined but failed (transaction ${receipt?.hash ?? "unknown"}).`, {
      details: { method, hash: receipt?.hash },
    });
  }
  return receipt;
}
