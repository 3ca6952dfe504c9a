/** The store: the repository (SQLite in the data dir unless another is given) and the blob files. */
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { BlobStore } from "../store/blobs.js";
import { LocalCoordinator, type Coordinator } from "../store/coordination.js";
import { PostgresRepository } from "../store/postgres.js";
import type { Repository } from "../store/repository.js";
import { SqliteRepository } from "../store/sqlite.js";
import { definePlugin } from "./define.js";

declare module "fastify" {
  interface FastifyInstance {
    repo: Repository;
    /** Which orchestrator sharing the store does what (chain reading, closing a round). */
    coordinator: Coordinator;
    blobs: BlobStore;
    dataDir: string;
  }
}

export const storePlugin = definePlugin<{ dataDir: string; repository?: Repository }>(
  async (app, opts) => {
    await mkdir(opts.dataDir, { recursive: true, mode: 0o700 });
    const blobs = new BlobStore(opts.dataDir);
    await blobs.init();
    const repo = opts.repository ?? new SqliteRepository(join(opts.dataDir, "orchestrator.sqlite"));
    const coordinator: Coordinator = repo instanceof PostgresRepository ? repo.coordinator() : new LocalCoordinator();
    app.decorate("repo", repo);
    app.decorate("coordinator", coordinator);
    app.decorate("blobs", blobs);
    app.decorate("dataDir", opts.dataDir);
    app.addHook("onClose", async () => {
      await coordinator.close();
      await repo.close();
    });
  },
  { name: "quackmesh-store" },
);
