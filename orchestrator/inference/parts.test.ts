import t from "tap";
import { assemble, splitRows, usageOf, type PartResult } from "./parts.js";

t.test("splitRows covers every row once, in order, in at least two parts per machine", async (t) => {
  for (const [rows, machines, partRows] of [[10_000, 3, 1000], [7, 3, 1000], [5, 3, 2], [1, 4, 10], [10_001, 1, 5000]]) {
    const parts = splitRows(rows, machines, partRows);
    t.equal(parts.length, Math.min(rows, Math.max(Math.ceil(rows / partRows), 2 * machines)), `${rows} rows, ${machines} machines, ${partRows} per part: ${parts.length} parts`);
    let next = 0;
    for (const [i, p] of parts.entries()) {
      t.equal(p.part, i);
      t.equal(p.from, next, "contiguous");
      t.ok(p.count >= 1 && p.count <= Math.max(partRows, Math.ceil(rows / parts.length)), "never empty");
      next += p.count;
    }
    t.equal(next, rows, "all rows");
  }
  t.throws(() => splitRows(0, 1, 1), RangeError);
  t.throws(() => splitRows(10, 0, 1), RangeError);
  t.throws(() => splitRows(10, 1, 1.5), RangeError);
});

const result = (part: number, rentalId: string, provider: string, computeMs: number, probabilities: number[], pricePerHour = 3_600_000n): PartResult => ({
  part, rentalId, provider, pricePerHour, computeMs, probabilities: Float32Array.from(probabilities),
});

t.test("assemble puts each part's answer at its rows, whichever machine returned it", async (t) => {
  const parts = splitRows(5, 1, 2); // [0,1) [1,3) [3,5), 2 classes each
  t.same(parts.map((p) => [p.from, p.count]), [[0, 1], [1, 2], [3, 2]]);
  const results = [result(0, "1", "0xA", 1, [0, 1]), result(1, "2", "0xB", 1, [2, 3, 4, 5]), result(2, "1", "0xA", 1, [6, 7, 8, 9])];
  t.same(Array.from(assemble(parts, results, 2)), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  t.throws(() => assemble(parts, [results[0], undefined, results[2]], 2), /part 1 has no answer/);
  t.throws(() => assemble(parts, [results[1], results[0], results[2]], 2), /part 0 holds 4 values for 1 rows/);
});

t.test("usageOf pays each rental its returned compute time at its price, one line per provider", async (t) => {
  const parts = splitRows(6, 3, 1); // six parts of one row
  const everyone = [
    { rentalId: "1", provider: "0xAaAa", pricePerHour: 3_600_000n }, // 1 wei per ms
    { rentalId: "2", provider: "0xBbBb", pricePerHour: 7_200_000n }, // 2 wei per ms
    { rentalId: "3", provider: "0xaaaa", pricePerHour: 1n }, // the first provider's second machine; a tiny price rounds up to 1 wei
    { rentalId: "4", provider: "0xCcCc", pricePerHour: 5n }, // returned nothing
  ];
  const results = [
    result(0, "1", "0xAaAa", 10, [1], 3_600_000n),
    result(1, "2", "0xBbBb", 5, [1], 7_200_000n),
    result(2, "1", "0xAaAa", 20, [1], 3_600_000n),
    result(3, "3", "0xaaaa", 7, [1], 1n),
    undefined,
    result(5, "2", "0xBbBb", 1, [1], 7_200_000n),
  ];
  const u = usageOf(parts, results, everyone, 10n ** 18n);
  t.same(u.rentals.map((r) => [r.rentalId, r.parts, r.rows, r.computeMs, r.amount]), [
    ["1", 2, 2, 30, 30n],
    ["2", 2, 2, 6, 12n],
    ["3", 1, 1, 7, 1n],
    ["4", 0, 0, 0, 0n],
  ]);
  t.same(u.providers, ["0xAaAa", "0xBbBb", "0xCcCc"], "a provider's machines share one line, named as first seen");
  t.same(u.amounts, [31n, 12n, 0n]);
  t.equal(u.total, 43n);
  t.equal(u.rentals.reduce((n, r) => n + r.rows, 0), 5, "the part nobody returned is paid to nobody");

  const capped = usageOf(parts, results, everyone, 20n);
  t.ok(capped.total <= 20n, `a total above the escrow is scaled down to fit (${capped.total})`);
  t.same(capped.amounts, [13n, 5n, 0n], "each rental scaled down by 20/43, rounding down (30 → 13, 1 → 0, 12 → 5)");
});
