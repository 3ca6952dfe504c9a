import t from "tap";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadEvaluatorKey } from "./key.js";

t.test("evaluator key: generated once with mode 0600, reused, or taken from the environment", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "quackmesh-key-"));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const first = await loadEvaluatorKey(dir);
  t.equal(first.source, "generated");
  t.equal((await stat(first.file!)).mode & 0o777, 0o600);
  const second = await loadEvaluatorKey(dir);
  t.equal(second.source, "file");
  t.equal(second.wallet.address, first.wallet.address, "same key after a restart");
  const env = await loadEvaluatorKey(dir, "0x" + "11".repeat(32));
  t.equal(env.source, "env");
  t.not(env.wallet.address, first.wallet.address);
  t.match((await readFile(first.file!, "utf8")).trim(), /^0x[0-9a-f]{64}$/);
  await t.rejects(loadEvaluatorKey(dir, "nope"), { code: "BAD_KEY" });
  await writeFile(first.file!, "garbage\n");
  await t.rejects(loadEvaluatorKey(dir), { code: "BAD_KEY" });
});
