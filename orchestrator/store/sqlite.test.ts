import t from "tap";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SqliteRepository } from "./sqlite.js";
import { storeSuite } from "./repository-suite.js";

const dir = await mkdtemp(join(tmpdir(), "quackmesh-sqlite-"));
t.teardown(() => rm(dir, { recursive: true, force: true }));
let n = 0;

storeSuite(t, {
  name: "sqlite",
  async fresh() {
    const file = join(dir, `o${++n}.sqlite`);
    return { open: async () => new SqliteRepository(file) };
  },
});
