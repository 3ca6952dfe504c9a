import t from "tap";
import { randomWallet } from "../testing/fixtures.js";
import { DEFAULT_INPUT_BYTES, DEFAULT_MINIMUM_FEE, DEFAULT_PRICE_PER_SECOND, resolveInference } from "./options.js";
import { inferenceFee } from "./pricing.js";
import { argmaxRows, decodeInput, encodeInput } from "./input.js";

const DUCK = 10n ** 18n;
const price = { pricePerSecond: DUCK / 100n, minimumFee: DUCK / 1000n };

t.test("the fee: whole milliseconds × price per second, at least the minimum, at most maxPayment", async (t) => {
  t.equal(inferenceFee(2500, price, 10n * DUCK), 25n * DUCK / 1000n, "2.5 s at 0.01 DUCK/s");
  t.equal(inferenceFee(2499.2, price, 10n * DUCK), 25n * DUCK / 1000n, "a started millisecond counts whole");
  t.equal(inferenceFee(0, price, 10n * DUCK), DUCK / 1000n, "no measurable time still pays the minimum");
  t.equal(inferenceFee(99, price, 10n * DUCK), DUCK / 1000n, "99 ms cost less than the minimum");
  t.equal(inferenceFee(101, price, 10n * DUCK), 101n * DUCK / 100_000n);
  t.equal(inferenceFee(3_600_000, price, 5n * DUCK), 5n * DUCK, "capped at the escrow");
  t.equal(inferenceFee(10, price, 1n), 1n, "a minimum above the escrow is capped too");
  t.equal(inferenceFee(1, { pricePerSecond: 1n, minimumFee: 0n }, 10n), 1n, "rounded up to a whole wei");
  t.throws(() => inferenceFee(-1, price, 1n), RangeError);
  t.throws(() => inferenceFee(NaN, price, 1n), RangeError);
});

t.test("options: defaults, payout, refusals", async (t) => {
  const evaluator = randomWallet().address;
  t.same(resolveInference({}, evaluator), { pricePerSecond: DEFAULT_PRICE_PER_SECOND, minimumFee: DEFAULT_MINIMUM_FEE, payout: evaluator, inputBytes: DEFAULT_INPUT_BYTES });
  const payout = randomWallet().address;
  t.equal(resolveInference({ payout: payout.toLowerCase() }, evaluator).payout, payout, "checksummed");
  t.throws(() => resolveInference({ payout: "0x1234" }, evaluator), { code: "BAD_ADDRESS", message: /0x1234/ });
  t.throws(() => resolveInference({ payout: "0x" + "0".repeat(40) }, evaluator), { code: "BAD_ADDRESS" });
  t.throws(() => resolveInference({ pricePerSecond: -1n }, evaluator), { code: "BAD_AMOUNT" });
  t.throws(() => resolveInference({ inputBytes: 0 }, evaluator), { code: "BAD_ARGUMENT" });
});

t.test("input bytes: float32 little-endian round trip, shape and finiteness checked", async (t) => {
  const x = Float32Array.from([0, 0.5, 1, -2.25, 1e-7, 3.4e38]);
  t.same(decodeInput(encodeInput(x), 2, 3), x);
  // An odd offset: decoding must not depend on the body's alignment.
  const shifted = Buffer.concat([Buffer.alloc(1), encodeInput(x)]).subarray(1);
  t.same(decodeInput(shifted, 3, 2), x);
  t.throws(() => decodeInput(encodeInput(x), 3, 3), { code: "INVALID_INPUT", message: /24 bytes but 3 samples of 3 float32 features need 36/ });
  t.throws(() => decodeInput(encodeInput(x), 1, 4), { code: "INVALID_INPUT", message: /need 16\)?\.?$/ });
  t.throws(() => decodeInput(encodeInput(Float32Array.from([1, Infinity])), 1, 2), { code: "INVALID_INPUT", message: /Sample 0, feature 1 is Infinity/ });
  t.same(argmaxRows(Float32Array.from([0.1, 0.7, 0.2, 0.5, 0.25, 0.25]), 3), [1, 0]);
});
