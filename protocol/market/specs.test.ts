import t from "tap";
import { cpus, totalmem } from "node:os";
import { describeSpecs, detectSpecs, parseNvidiaSmi, parseSpecs, specsToString } from "./specs.js";

t.test("detects this machine's CPU, cores and RAM; no nvidia-smi means no GPUs", async (t) => {
  const specs = await detectSpecs({ runNvidiaSmi: () => Promise.reject(new Error("ENOENT")) });
  t.equal(specs.cores, cpus().length);
  t.equal(specs.ramMiB, Math.round(totalmem() / 1024 / 1024));
  t.same(specs.gpus, []);
  t.notOk("bench" in specs, "no bench score unless given");
  t.same(parseSpecs(specsToString(specs)), { ...specs, valid: true }, "round-trips through the on-chain string");
});

t.test("the real nvidia-smi, when absent here, gives an empty GPU list", async (t) => {
  const specs = await detectSpecs({ bench: 42.5 });
  t.ok(Array.isArray(specs.gpus));
  t.equal(specs.bench, 42.5);
});

t.test("nvidia-smi CSV lines become GPUs", async (t) => {
  const out = "NVIDIA H100 80GB HBM3, 81559 MiB\nNVIDIA H100 80GB HBM3, 81559 MiB\n\ngarbage line\n";
  t.same(parseNvidiaSmi(out), [
    { name: "NVIDIA H100 80GB HBM3", memoryMiB: 81559 },
    { name: "NVIDIA H100 80GB HBM3", memoryMiB: 81559 },
  ]);
  const specs = await detectSpecs({ runNvidiaSmi: async () => out });
  t.equal(specs.gpus.length, 2);
  t.match(describeSpecs(specs), /2× NVIDIA H100 80GB HBM3 \(80 GiB\)/);
});

t.test("a bad bench score is refused", async (t) => {
  await t.rejects(detectSpecs({ bench: -1 }), { code: "BAD_ARGUMENT" });
  await t.rejects(detectSpecs({ bench: NaN }), { code: "BAD_ARGUMENT" });
});

t.test("specs from the chain never throw: junk becomes unknown and invalid", async (t) => {
  const junk = parseSpecs("not json");
  t.equal(junk.valid, false);
  t.equal(junk.cores, 0);
  t.equal(junk.cpu, "unknown");
  const partial = parseSpecs(JSON.stringify({ cores: 8, ramMiB: 16384, gpus: [{ name: 5 }, null, { name: "A100", memoryMiB: 40960 }], bench: "fast" }));
  t.equal(partial.valid, true);
  t.same(partial.gpus, [{ name: "unknown", memoryMiB: 0 }, { name: "A100", memoryMiB: 40960 }]);
  t.notOk("bench" in partial);
  t.equal(parseSpecs("[1,2]").valid, false);
});

t.test("an announced host key fingerprint round-trips; anything else is dropped", async (t) => {
  const fp = "SHA256:" + "A".repeat(42) + "b";
  t.equal(parseSpecs(JSON.stringify({ cores: 1, ramMiB: 1, hostKey: fp })).hostKey, fp);
  for (const bad of ["SHA256:short", "MD5:" + "a".repeat(43), fp + "\nx", 42]) {
    t.notOk("hostKey" in parseSpecs(JSON.stringify({ cores: 1, ramMiB: 1, hostKey: bad })), `drops ${JSON.stringify(bad)}`);
  }
});
