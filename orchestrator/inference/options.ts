/** How the orchestrator charges for inference, with the defaults `serve` and tests share. */
import { getAddress, isAddress } from "ethers";
import { QuackError } from "../../protocol/errors.js";

export interface InferenceOptions {
  /** DUCK wei per second of compute (default 0.01 DUCK). */
  pricePerSecond?: bigint;
  /** Least fee of one inference job, in DUCK wei (default 0.001 DUCK); never above the job's maxPayment. */
  minimumFee?: bigint;
  /** Address the usage statements pay (default: the evaluator's). */
  payout?: string;
  /** Largest input body in bytes (default 64 MiB). */
  inputBytes?: number;
  /** Cluster inference: a machine with no answer to a part for this long is dropped (default 120 s). */
  clusterPartTimeoutMs?: number;
}

export interface InferenceConfig {
  pricePerSecond: bigint;
  minimumFee: bigint;
  payout: string;
  inputBytes: number;
}

const DUCK = 10n ** 18n;
export const DEFAULT_PRICE_PER_SECOND = DUCK / 100n;
export const DEFAULT_MINIMUM_FEE = DUCK / 1000n;
export const DEFAULT_INPUT_BYTES = 64 * 1024 * 1024;

/** The options with defaults filled in; a bad payout address or a negative price is refused at start. */
export function resolveInference(opts: InferenceOptions = {}, evaluator: string): InferenceConfig {
  const payout = opts.payout ?? evaluator;
  if (!isAddress(payout) || /^0x0{40}$/i.test(payout)) {
    throw new QuackError("BAD_ADDRESS", `The inference payout address '${payout}' is not a non-zero address.`, {
      fix: "Pass --payout 0x… (40 hex digits) or set QUACKMESH_PAYOUT_ADDRESS; leave both unset to be paid at the evaluator's address.",
    });
  }
  const pricePerSecond = opts.pricePerSecond ?? DEFAULT_PRICE_PER_SECOND;
  const minimumFee = opts.minimumFee ?? DEFAULT_MINIMUM_FEE;
  if (pricePerSecond < 0n || minimumFee < 0n) {
    throw new QuackError("BAD_AMOUNT", "The inference price and minimum fee must not be negative.", { fix: "Pass e.g. --inference-price 0.01." });
  }
  const inputBytes = opts.inputBytes ?? DEFAULT_INPUT_BYTES;
  if (!Number.isSafeInteger(inputBytes) || inputBytes < 1) {
    throw new QuackError("BAD_ARGUMENT", `The inference input limit ${inputBytes} is not a positive number of bytes.`, { fix: "Pass a whole number of bytes." });
  }
  return { pricePerSecond, minimumFee, payout: getAddress(payout), inputBytes };
}
