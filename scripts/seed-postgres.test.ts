import t from "tap";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PostgresRepository } from "../orchestrator/store/postgres.js";
import { findPostgres, startPostgres } from "../orchestrator/testing/postgres.js";
import { devAccount } from "../cli/lib/chain/accounts.js";
import { seedJob } from "./seed-postgres.js";

const found = findPostgres();
if ("missing" in found) {
  t.pass(`skipped: ${found.missing}`);
  process.exit(0);
}

t.test("the seed stages a ready draft (spec, weights, validation) in PostgreSQL for the requester", async (t) => {
  const pg = await startPostgres();
  t.teardown(() => pg.stop());
  const dir = await mkdtemp(join(tmpdir(), "qm-seed-"));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const url = await pg.createDatabase("seeded");
  const requester = devAccount("requester");
  const r = await seedJob({ database: url, dataDir: dir, privateKey: requester.privateKey, samples: 300, seed: 4 });
  const repo = await PostgresRepository.open(url);
  t.teardown(() => repo.close());
  const ready = await repo.findReadyDrafts(r.modelHash, requester.address);
  t.same(ready.map((d) => d.id), [r.draftId], "activation would bind it");
  t.match(ready[0], { validationSamples: 300, validationFormat: "idx", jobId: null, settings: { rounds: 5, minUpdates: 2 } });
  await t.rejects(seedJob({ database: url, dataDir: dir, privateKey: requester.privateKey, samples: 0, seed: 4 }), { code: "BAD_ARGUMENT" });
  await t.rejects(seedJob({ database: "mysql://x/y", dataDir: dir, privateKey: requester.privateKey, samples: 10, seed: 4 }), { code: "BAD_DATABASE_URL" });
});
