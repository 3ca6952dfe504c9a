/**
 * Content-addressed files under <dataDir>/blobs: weights, updates and validation sets, named by
 * the sha256 of their bytes. A blob is written to a temp file, fsync'd, renamed into place and
 * its folder fsync'd, so it is either whole on disk or absent, never half written.
 */
import { createHash, randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir, open, readFile, rename, rm, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { Readable } from "node:stream";

const HASH = /^0x[0-9a-f]{64}$/;

export class BlobTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`body exceeds ${limit} bytes`);
  }
}

export interface StagedBlob {
  /** Temp file holding the bytes, to `commit` or `discard`. */
  file: string;
  hash: string;
  size: number;
}

export class BlobStore {
  readonly root: string;
  readonly tmp: string;
  /** Fan-out folders known to exist. */
  private readonly dirs = new Set<string>();

  constructor(dataDir: string) {
    this.root = join(dataDir, "blobs");
    this.tmp = join(dataDir, "tmp");
  }

  async init(): Promise<void> {
    await mkdir(this.root, { recursive: true });
    // Leftovers of writes a crash interrupted: never referenced, safe to drop.
    await rm(this.tmp, { recursive: true, force: true });
    await mkdir(this.tmp, { recursive: true });
  }

  path(hash: string): string {
    if (!HASH.test(hash)) throw new Error(`not a blob hash: ${hash}`);
    return join(this.root, hash.slice(2, 4), hash.slice(2));
  }

  async has(hash: string): Promise<boolean> {
    try {
      await stat(this.path(hash));
      return true;
    } catch {
      return false;
    }
  }

  async get(hash: string): Promise<Buffer> {
    return readFile(this.path(hash));
  }

  private tempName(): string {
    return join(this.tmp, `${Date.now()}-${randomBytes(8).toString("hex")}`);
  }

  /**
   * Store bytes durably; returns their hash. An existing blob is simply replaced by the same
   * bytes (rename is atomic), which costs less than asking first on the hot path.
   */
  async put(bytes: Uint8Array, knownHash?: string): Promise<string> {
    const hash = knownHash ?? "0x" + createHash("sha256").update(bytes).digest("hex");
    const file = this.tempName();
    const fh = await open(file, "w", 0o600);
    try {
      await fh.writeFile(bytes);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await this.commit({ file, hash, size: bytes.length });
    return hash;
  }

  /** Stream a body into a temp file, hashing as it goes; refuses more than `limit` bytes. */
  async stage(body: Readable, limit: number): Promise<StagedBlob> {
    const file = this.tempName();
    const hasher = createHash("sha256");
    const out = createWriteStream(file, { mode: 0o600 });
    let size = 0;
    try {
      await new Promise<void>((resolve, reject) => {
        let failed = false;
        const fail = (err: Error) => {
          if (failed) return;
          failed = true;
          // Stop writing but keep draining the body, so the 413 answer can still be sent.
          body.unpipe(out);
          body.resume();
          out.destroy();
          reject(err);
        };
        body.on("data", (chunk: Buffer) => {
          if (failed) return;
          size += chunk.length;
          if (size > limit) return fail(new BlobTooLargeError(limit));
          hasher.update(chunk);
        });
        body.on("error", fail);
        body.on("aborted", () => fail(new Error("client aborted the upload")));
        out.on("error", fail);
        out.on("finish", () => {
          if (!failed) resolve();
        });
        body.pipe(out);
      });
      const fh = await open(file, "r+");
      await fh.sync();
      await fh.close();
    } catch (err) {
      await rm(file, { force: true });
      throw err;
    }
    return { file, hash: "0x" + hasher.digest("hex"), size };
  }

  /** Move a staged file into its content address (replacing identical bytes if present). */
  async commit(staged: StagedBlob): Promise<string> {
    const target = this.path(staged.hash);
    const dir = dirname(target);
    if (!this.dirs.has(dir)) {
      await mkdir(dir, { recursive: true });
      this.dirs.add(dir);
    }
    await rename(staged.file, target);
    // The rename is durable once the folder's entry is on disk.
    const handle = await open(dir, "r");
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    return staged.hash;
  }

  async discard(staged: StagedBlob): Promise<void> {
    await rm(staged.file, { force: true });
  }
}
