import t from "tap";
import { formatAmount, parseAmount, parsePort } from "./units.js";

t.test("amounts parse to wei and format back", async (t) => {
  t.equal(parseAmount("1000", "--amount"), 1000n * 10n ** 18n);
  t.equal(parseAmount("0.5", "--amount"), 5n * 10n ** 17n);
  t.equal(parseAmount(" 7 ", "--amount"), 7n * 10n ** 18n);
  t.equal(formatAmount(1000n * 10n ** 18n), "1000");
  t.equal(formatAmount(5n * 10n ** 17n), "0.5");
  for (const bad of ["-1", "1e3", "abc", "", "0.1234567890123456789", "1,5"]) {
    t.throws(() => parseAmount(bad, "--amount"), { code: "BAD_AMOUNT", message: /--amount/ }, bad);
  }
});

t.test("ports", async (t) => {
  t.equal(parsePort("8545"), 8545);
  t.equal(parsePort("0"), 0);
  t.throws(() => parsePort("0", "--port", false), { code: "BAD_PORT" });
  for (const bad of ["65536", "-1", "http", "80.5"]) t.throws(() => parsePort(bad), { code: "BAD_PORT", message: /--port/ }, bad);
});
