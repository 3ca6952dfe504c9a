/**
 * What a refused request must leave unchanged: the store's row counts and the blob folder. Read
 * from the data dir itself (a second, read-only SQLite connection and the files), not through the
 * app, so a bug in the app cannot hide a change. `seen_requests` is left out on purpose: every
 * verified signature is remembered there (replay protection), refused or not.
 */
import { createHash } from "node:crypto";
import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import Database from "better-sqlite3";

export interface StoreSnapshot {
  /** Row count of each table. */
  rows: Record<string, number>;
  /** sha256 over every row of every table (sorted), so an UPDATE shows too. */
  content: string;
  /** sha256 over the blob folder's names and sizes (names are the content hashes). */
  blobs: string;
}

const REMEMBERS_EVERY_SIGNATURE = new Set(["seen_requests"]);

async function files(dir: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await files(p, `${prefix}${e.name}/`)));
    else out.push(`${prefix}${e.name}:${(await stat(p)).size}`);
  }
  return out.sort();
}

export class StoreWatch {
  private readonly db: Database.Database;

  constructor(private readonly dataDir: string) {
    this.db = new Database(join(dataDir, "orchestrator.sqlite"), { readonly: true, fileMustExist: true });
  }

  async snapshot(): Promise<StoreSnapshot> {
    const tables = this.db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").all() as Array<{ name: string }>;
    const rows: Record<string, number> = {};
    const content = createHash("sha256");
    for (const { name } of tables) {
      if (REMEMBERS_EVERY_SIGNATURE.has(name)) continue;
      const all = (this.db.prepare(`SELECT * FROM "${name}"`).raw().all() as unknown[][]).map((r) => JSON.stringify(r, (_k, v) => (typeof v === "bigint" ? String(v) : Buffer.isBuffer(v) ? v.toString("hex") : v))).sort();
      rows[name] = all.length;
      content.update(`${name}\n${all.join("\n")}\n`);
    }
    const blobs = createHash("sha256").update((await files(join(this.dataDir, "blobs"))).join("\n")).digest("hex");
    return { rows, content: content.digest("hex"), blobs };
  }

  close(): void {
    this.db.close();
  }
}
