/**
 * A real PostgreSQL server for tests: `initdb` into a temp folder, `pg_ctl start` on a free
 * 127.0.0.1 port, stopped (and the folder removed) by `stop()`. PostgreSQL refuses to run as
 * root, so under root the server runs as the `postgres` system user (Debian's package makes it).
 * `findPostgres()` says why no server can be started here, for a test to skip with that reason.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { chown, mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

export interface PostgresServer {
  /** postgres://… URL of the server's `postgres` database. */
  url: string;
  port: number;
  /** A URL to a fresh, empty database on the same server. */
  createDatabase(name: string): Promise<string>;
  stop(): Promise<void>;
}

const BIN_DIRS = ["/usr/lib/postgresql/17/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/15/bin", "/usr/local/bin", "/usr/bin"];

/** The folder holding initdb and pg_ctl, or why there is none. */
export function findPostgres(): { bin: string } | { missing: string } {
  const bin = BIN_DIRS.find((d) => existsSync(join(d, "initdb")) && existsSync(join(d, "pg_ctl")));
  return bin ? { bin } : { missing: "no PostgreSQL server binaries (initdb, pg_ctl) here; install the Debian package postgresql" };
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export async function startPostgres(): Promise<PostgresServer> {
  const found = findPostgres();
  if ("missing" in found) throw new Error(found.missing);
  const root = userInfo().uid === 0;
  const dir = await mkdtemp(join(tmpdir(), "quackmesh-pg-"));
  const data = join(dir, "data");
  // Runs a server binary as the user that owns the data folder.
  const as = (cmd: string, args: string[]) =>
    root ? run("runuser", ["-u", "postgres", "--", join(found.bin, cmd), ...args]) : run(join(found.bin, cmd), args);
  if (root) await chown(dir, ...(await postgresIds()));
  await as("initdb", ["-D", data, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C"]);
  const port = await freePort();
  const opts = `-c listen_addresses=127.0.0.1 -p ${port} -k ${dir} -c fsync=off -c max_connections=100`;
  await as("pg_ctl", ["-D", data, "-o", opts, "-l", join(dir, "server.log"), "-w", "-t", "30", "start"]);
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  let stopped: Promise<void> | undefined;
  return {
    url,
    port,
    async createDatabase(name) {
      const { default: pg } = await import("pg");
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      try {
        await c.query(`CREATE DATABASE "${name.replace(/"/g, "")}"`);
      } finally {
        await c.end();
      }
      return `postgres://postgres@127.0.0.1:${port}/${name}`;
    },
    stop: () =>
      (stopped ??= as("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"])
        .then(() => undefined, () => undefined)
        .finally(() => rm(dir, { recursive: true, force: true }))),
  };
}

async function postgresIds(): Promise<[number, number]> {
  const { stdout } = await run("id", ["-u", "postgres"]).catch(() => {
    throw new Error("running as root and there is no `postgres` user to run the server as; fix: install the Debian package postgresql (it creates the user)");
  });
  const { stdout: gid } = await run("id", ["-g", "postgres"]);
  return [Number(stdout.trim()), Number(gid.trim())];
}
