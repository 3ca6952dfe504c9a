import t from "tap";
import { FedAvgAccumulator, fedAvg, krum, median, trimmedMean } from "./index.js";

// Fresh random inputs every run: the fast paths must compute the same function on any input.
function randomInputs(k: number, n: number, scale = 1): Float32Array[] {
  return Array.from({ length: k }, () => {
    const x = new Float32Array(n);
    for (let j = 0; j < n; j++) x[j] = (Math.random() * 2 - 1) * scale;
    return x;
  });
}

function relativeError(out: Float32Array, ref: Float64Array): number {
  let num = 0;
  let den = 0;
  for (let j = 0; j < ref.length; j++) {
    num += (out[j] - ref[j]) ** 2;
    den += ref[j] ** 2;
  }
  return Math.sqrt(num / den);
}

function fedAvgReference(xs: Float32Array[], w: number[]): Float64Array {
  const total = w.reduce((a, b) => a + b, 0);
  const ref = new Float64Array(xs[0].length);
  xs.forEach((x, i) => x.forEach((v, j) => (ref[j] += w[i] * v)));
  return ref.map((v) => v / total);
}

function perCoordinate(xs: Float32Array[], fn: (sorted: number[]) => number): Float64Array {
  const out = new Float64Array(xs[0].length);
  for (let j = 0; j < out.length; j++) out[j] = fn(xs.map((x) => x[j]).sort((a, b) => a - b));
  return out;
}

t.test("fedAvg matches a float64 reference within 1e-6", async (t) => {
  for (const [k, n] of [
    [1, 1],
    [3, 7],
    [10, 1000],
    [7, 200_003],
  ]) {
    const xs = randomInputs(k, n, 10);
    const w = xs.map(() => Math.random() * 1000 + 1);
    const out = await fedAvg(xs, w, { device: "cpu" });
    t.equal(out.length, n);
    const err = relativeError(out, fedAvgReference(xs, w));
    t.ok(err <= 1e-6, `K=${k} n=${n}: relative error ${err.toExponential(2)} <= 1e-6`);
  }
});

t.test("fedAvg gives zero weight no influence and equal weights the plain mean", async (t) => {
  const xs = randomInputs(3, 1001);
  const out = await fedAvg(xs, [1, 0, 1]);
  const ref = fedAvgReference([xs[0], xs[2]], [1, 1]);
  t.ok(relativeError(out, ref) <= 1e-6, "the zero-weight input is ignored");
});

t.test("the streaming accumulator equals one-shot fedAvg", async (t) => {
  const xs = randomInputs(6, 150_001, 3);
  const w = xs.map(() => Math.floor(Math.random() * 500) + 1);
  const acc = new FedAvgAccumulator(xs[0].length, { device: "cpu" });
  // Not awaited one by one: add() queues its calls.
  await Promise.all(xs.map((x, i) => acc.add(x, w[i])));
  t.equal(acc.count, 6);
  t.equal(acc.totalWeight, w.reduce((a, b) => a + b, 0));
  const streamed = await acc.result();
  const oneShot = await fedAvg(xs, w, { device: "cpu" });
  let maxDiff = 0;
  for (let j = 0; j < oneShot.length; j++) maxDiff = Math.max(maxDiff, Math.abs(streamed[j] - oneShot[j]) / Math.max(1e-30, Math.abs(oneShot[j])));
  t.ok(maxDiff <= 2 ** -23, `streamed and one-shot agree to float32 rounding (max relative difference ${maxDiff.toExponential(2)})`);
  t.ok(relativeError(streamed, fedAvgReference(xs, w)) <= 1e-6, "and match the float64 reference");
  await acc.add(xs[0], 0);
  t.equal(acc.count, 7, "a zero-weight add counts");
});

t.test("median matches a reference for odd and even K", async (t) => {
  for (const k of [1, 2, 5, 8]) {
    const xs = randomInputs(k, 5003);
    const out = await median(xs, { device: "cpu" });
    const ref = perCoordinate(xs, (s) => (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2));
    t.ok(relativeError(out, ref) <= 1e-7, `K=${k}`);
  }
});

t.test("trimmed mean matches a reference", async (t) => {
  for (const [k, beta] of [
    [5, 0],
    [10, 0.1],
    [10, 0.25],
    [7, 0.49],
  ]) {
    const xs = randomInputs(k, 4001);
    const cut = Math.floor(beta * k);
    const out = await trimmedMean(xs, beta);
    const ref = perCoordinate(xs, (s) => {
      const kept = s.slice(cut, s.length - cut);
      return kept.reduce((a, b) => a + b, 0) / kept.length;
    });
    t.ok(relativeError(out, ref) <= 1e-6, `K=${k} beta=${beta} drops ${cut} a side`);
  }
});

t.test("krum picks the input closest to its neighbours, and multi-krum averages the m best", async (t) => {
  const n = 3000;
  const honest = randomInputs(7, n, 0.1);
  const byzantine = randomInputs(2, n, 50);
  const xs = [byzantine[0], ...honest.slice(0, 4), byzantine[1], ...honest.slice(4)];
  const f = 2;
  // Reference scores: summed squared distance to the K-f-2 nearest others.
  const dist = (a: Float32Array, b: Float32Array) => a.reduce((s, v, j) => s + (v - b[j]) ** 2, 0);
  const scores = xs.map((x, i) =>
    xs
      .filter((_, q) => q !== i)
      .map((y) => dist(x, y))
      .sort((a, b) => a - b)
      .slice(0, xs.length - f - 2)
      .reduce((a, b) => a + b, 0),
  );
  const order = scores.map((s, i) => [s, i]).sort((a, b) => a[0] - b[0]).map((p) => p[1]);
  const one = await krum(xs, f);
  t.same(one.selected, [order[0]], "Krum selects the best-scored input");
  t.same(Array.from(one.result), Array.from(xs[order[0]]), "and returns it unchanged");
  t.notOk(one.selected.includes(0) || one.selected.includes(5), "a Byzantine input is never chosen");
  const multi = await krum(xs, f, { m: 4 });
  t.same(multi.selected, order.slice(0, 4));
  const ref = fedAvgReference(order.slice(0, 4).map((i) => xs[i]), [1, 1, 1, 1]);
  t.ok(relativeError(multi.result, ref) <= 1e-6, "Multi-Krum is the mean of the m best");
});

t.test("the event loop keeps turning during a large aggregation", async (t) => {
  const xs = randomInputs(8, 4_000_000);
  let ticks = 0;
  const timer = setInterval(() => ticks++, 1);
  try {
    const started = Date.now();
    await fedAvg(xs, [1, 2, 3, 4, 5, 6, 7, 8]);
    await median(xs);
    t.ok(ticks > 0, `${ticks} timer ticks during ${Date.now() - started} ms of aggregation`);
  } finally {
    clearInterval(timer);
  }
});

t.test("opts.out receives the result and is returned", async (t) => {
  // 3 MB: large enough that a fresh result would be the huge-page external buffer.
  const n = 750_001;
  const xs = randomInputs(5, n);
  const w = [1, 2, 3, 4, 5];
  const cases: Array<[string, (o?: { out: Float32Array }) => Promise<Float32Array>]> = [
    ["fedAvg", (o) => fedAvg(xs, w, o)],
    ["median", (o) => median(xs, o)],
    ["trimmedMean", (o) => trimmedMean(xs, 0.2, o)],
  ];
  for (const [name, run] of cases) {
    const fresh = await run();
    const out = new Float32Array(n).fill(Number.NaN);
    const got = await run({ out });
    t.equal(got, out, `${name} returns opts.out itself`);
    t.same(Array.from(out.subarray(0, 1000)), Array.from(fresh.subarray(0, 1000)), `${name}: first values equal the fresh result`);
    t.ok(out.every((v, j) => Object.is(v, fresh[j])), `${name}: every value equals the fresh result`);
  }
  // A view at an odd offset into a larger buffer (unaligned for the streaming stores) works too.
  const big = new Float32Array(n + 3).fill(7);
  const view = big.subarray(1, n + 1);
  t.equal(await fedAvg(xs, w, { out: view }), view);
  t.ok(big[0] === 7 && big[n + 1] === 7 && big[n + 2] === 7, "writes stay inside the view");
  const fresh = await fedAvg(xs, w);
  t.ok(view.every((v, j) => Object.is(v, fresh[j])), "the unaligned view holds the fresh result");
});

t.test("opts.out is refused when it is the wrong type, length or shares an input's memory", async (t) => {
  const xs = randomInputs(3, 100);
  const w = [1, 1, 1];
  await t.rejects(fedAvg(xs, w, { out: new Float64Array(100) as unknown as Float32Array }), { code: "BAD_ARGUMENT", argument: "opts.out", message: /opts\.out must be a Float32Array/ });
  await t.rejects(fedAvg(xs, w, { out: [] as unknown as Float32Array }), { code: "BAD_ARGUMENT", argument: "opts.out" });
  await t.rejects(fedAvg(xs, w, { out: new Float32Array(99) }), { code: "LENGTH_MISMATCH", argument: "opts.out", message: /length 99 but the inputs have 100/ });
  await t.rejects(median(xs, { out: new Float32Array(101) }), { code: "LENGTH_MISMATCH", argument: "opts.out" });
  await t.rejects(fedAvg(xs, w, { out: xs[1] }), { code: "BAD_ARGUMENT", argument: "opts.out", message: /shares memory with inputs\[1\]/ });
  // A partial overlap: inputs[0] and out are views of one buffer that share some floats.
  const shared = new Float32Array(150);
  const a = shared.subarray(0, 100);
  a.set(xs[0]);
  const overlapping = shared.subarray(50, 150);
  await t.rejects(trimmedMean([a, xs[1], xs[2]], 0.2, { out: overlapping }), { code: "BAD_ARGUMENT", argument: "opts.out", message: /inputs\[0\]/ });
  // Disjoint views of one buffer are fine.
  const split = new Float32Array(200);
  split.subarray(0, 100).set(xs[0]);
  const tail = split.subarray(100, 200);
  t.equal(await fedAvg([split.subarray(0, 100), xs[1], xs[2]], w, { out: tail }), tail);
  const before = Array.from(xs[1]);
  await t.rejects(fedAvg(xs, w, { out: xs[1] }), { code: "BAD_ARGUMENT" });
  t.same(Array.from(xs[1]), before, "a refused call changes nothing");
});
