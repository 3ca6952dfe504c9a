import t from "tap";
import { formatAggregate, formatTrain } from "../cli/commands/bench.js";
import { benchAggregate, median, randomVector } from "./bench.js";

t.test("median and random vectors", async (t) => {
  t.equal(median([3, 1, 2]), 2);
  t.equal(median([4, 1, 3, 2]), 2.5);
  const a = randomVector(1000, 1);
  t.same(Array.from(a), Array.from(randomVector(1000, 1)), "seeded");
  t.ok(a.every((v) => v >= -1 && v < 1) && a.some((v) => v !== 0), "values in [-1, 1), not all zero");
});

t.test("the aggregation benchmark measures and reports", async (t) => {
  const r = await benchAggregate({ clients: 3, params: 100_000, runs: 3, device: "cpu" });
  t.equal(r.device, "cpu");
  t.equal(r.times.length, 3);
  t.equal(r.freshTimes.length, 3);
  t.ok(r.ms > 0 && r.bestMs <= r.ms, "median and best times, reused output");
  t.ok(r.freshMs > 0 && r.freshBestMs <= r.freshMs, "median and best times, fresh output");
  t.ok(Math.abs(r.gbPerSec - (4 * 100_000 * 4) / r.ms / 1e6) < 1e-9, "GB/s counts K inputs read and one output written");
  t.ok((r.memcpyGbPerSec ?? 0) > 0, "memcpy bandwidth measured on the CPU");
  t.match(formatAggregate(r), /FedAvg 3 × 100,000 float32 on cpu/);
  t.match(formatAggregate(r), /output buffer reused[\s\S]*fresh result per call/);
  await t.rejects(benchAggregate({ clients: 0 }), { code: "BAD_ARGUMENT", argument: "clients" });
});

t.test("the training report names the figures", async (t) => {
  const text = formatTrain({
    benchmark: "train", device: "cpu", model: "784-128-10", epochs: 1, batch: 64, lr: 0.1, momentum: 0, runs: 3,
    ms: 500, bestMs: 480, times: [480, 500, 520], samplesPerSec: 120000, gflops: 20, trainLoss: 0.4, testAccuracy: 0.93, threads: 2, simd: "avx2+fma",
  });
  t.match(text, /500 ms median of 3 \(best 480\)/);
  t.match(text, /test accuracy 93\.00%/);
});
