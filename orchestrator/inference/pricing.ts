/**
 * What one inference costs: the compute time rounded up to whole milliseconds, times the price
 * per second (rounded up to a whole wei), at least the minimum fee, never above what the
 * requester escrowed.
 */
export function inferenceFee(computeMs: number, price: { pricePerSecond: bigint; minimumFee: bigint }, maxPayment: bigint): bigint {
  if (!Number.isFinite(computeMs) || computeMs < 0) throw new RangeError(`compute time ${computeMs} ms is not a non-negative number`);
  const ms = BigInt(Math.ceil(computeMs));
  const byTime = (ms * price.pricePerSecond + 999n) / 1000n;
  const fee = byTime > price.minimumFee ? byTime : price.minimumFee;
  return fee < maxPayment ? fee : maxPayment;
}
