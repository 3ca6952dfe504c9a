/**
 * The gateway's SFTP server for one rental: ssh2's SFTP server side over plain fs calls, every
 * path confined to the rental's folder (gatewayPaths.ts), symbolic links neither created nor
 * read, and the bytes the rental's files take capped (RentalDisk). SFTP version 3, as OpenSSH.
 */
import { constants, type Stats } from "node:fs";
import { close, fstat, ftruncate, lstat, mkdir, open, read, readdir, rename, rmdir, stat, truncate, unlink, utimes, write, chmod, fchmod, futimes } from "node:fs";
import { readdir as readdirAsync, lstat as lstatAsync } from "node:fs/promises";
import { posix } from "node:path";
import { promisify } from "node:util";
import ssh2, { type Attributes, type InputAttributes, type SFTPWrapper } from "ssh2";
import { PathRefused, confine } from "./gatewayPaths.js";

const { utils } = ssh2; // CommonJS: Node sees only some of its names as named exports
const STATUS = utils.sftp.STATUS_CODE;
const MODE = utils.sftp.OPEN_MODE;
const MAX_HANDLES = 64;
const MAX_READ = 256 * 1024;
const MAX_DIR_ENTRIES = 10_000;

const p = {
  open: promisify(open),
  close: promisify(close),
  fstat: promisify(fstat),
  ftruncate: promisify(ftruncate),
  read: promisify(read),
  write: promisify(write),
  stat: promisify(stat),
  lstat: promisify(lstat),
  mkdir: promisify(mkdir),
  rmdir: promisify(rmdir),
  unlink: promisify(unlink),
  rename: promisify(rename),
  readdir: promisify(readdir),
  truncate: promisify(truncate),
  utimes: promisify(utimes),
  futimes: promisify(futimes),
  chmod: promisify(chmod),
  fchmod: promisify(fchmod),
};

/** Bytes a rental's folder holds, against its cap. Shared by all SFTP sessions of the rental. */
export class RentalDisk {
  private used?: number;
  private writers = 0;

  constructor(
    readonly root: string,
    readonly capBytes: number,
  ) {}

  /** Count the folder again (the worker writes too), unless a write is under way. */
  async refresh(): Promise<void> {
    if (this.writers === 0 || this.used === undefined) this.used = await folderBytes(this.root);
  }

  get bytes(): number {
    return this.used ?? 0;
  }

  /** Take `growth` more bytes; false when that would pass the cap. */
  take(growth: number): boolean {
    if (growth <= 0) return true;
    if ((this.used ?? 0) + growth > this.capBytes) return false;
    this.used = (this.used ?? 0) + growth;
    return true;
  }

  release(bytes: number): void {
    this.used = Math.max(0, (this.used ?? 0) - bytes);
  }

  opened(): void {
    this.writers++;
  }

  closed(): void {
    this.writers = Math.max(0, this.writers - 1);
  }
}

/** Sum of the sizes of the regular files under `root` (symlinks not followed). */
export async function folderBytes(root: string): Promise<number> {
  let total = 0;
  const stack = [root];
  while (stack.length) {
    const dir = stack.pop()!;
    let names: string[];
    try {
      names = await readdirAsync(dir);
    } catch {
      continue;
    }
    for (const name of names) {
      try {
        const st = await lstatAsync(posix.join(dir, name));
        if (st.isDirectory()) stack.push(posix.join(dir, name));
        else if (st.isFile()) total += st.size;
      } catch {
        // gone meanwhile
      }
    }
  }
  return total;
}

type Handle = { kind: "file"; fd: number; path: string; size: number; writable: boolean } | { kind: "dir"; path: string; done: boolean };

function attrsOf(st: Stats): Attributes {
  return { mode: st.mode, uid: st.uid, gid: st.gid, size: st.size, atime: Math.floor(st.atimeMs / 1000), mtime: Math.floor(st.mtimeMs / 1000) };
}

function longname(name: string, st: Stats): string {
  const type = st.isDirectory() ? "d" : st.isSymbolicLink() ? "l" : "-";
  const bits = "rwxrwxrwx".split("").map((c, i) => (st.mode & (0o400 >> i) ? c : "-")).join("");
  const date = new Date(st.mtimeMs).toISOString().slice(0, 16).replace("T", " ");
  return `${type}${bits} 1 ${st.uid} ${st.gid} ${String(st.size).padStart(10)} ${date} ${name}`;
}

/** Numeric open(2) flags for SFTP open flags; never following a symlink at the last step. */
function openFlags(pflags: number): number | undefined {
  const r = (pflags & MODE.READ) !== 0;
  const w = (pflags & (MODE.WRITE | MODE.APPEND)) !== 0;
  if (!r && !w) return undefined;
  let f = r && w ? constants.O_RDWR : w ? constants.O_WRONLY : constants.O_RDONLY;
  if (pflags & MODE.APPEND) f |= constants.O_APPEND;
  if (pflags & MODE.CREAT) f |= constants.O_CREAT;
  if (pflags & MODE.TRUNC) f |= constants.O_TRUNC;
  if (pflags & MODE.EXCL) f |= constants.O_EXCL;
  return f | constants.O_NOFOLLOW;
}

/** Permission bits a renter may set: rwx for anyone, never setuid/setgid/sticky. */
function safeMode(mode: number | string | undefined, fallback: number): number {
  const m = typeof mode === "string" ? parseInt(mode, 8) : mode;
  return typeof m === "number" && Number.isFinite(m) ? m & 0o777 : fallback;
}

export interface SftpServeOptions {
  /** The rental's folder, a real path (fs.realpath). */
  root: string;
  disk: RentalDisk;
  /** Called on every request: the session is not idle. */
  onActivity?: () => void;
  /** Called when a request is refused by confinement or the cap (for the provider's log). */
  onRefused?: (message: string) => void;
}

/** Serve SFTP on `sftp` (from a session's `sftp` accept()). */
export function serveSftp(sftp: SFTPWrapper, opts: SftpServeOptions): void {
  const { root, disk } = opts;
  const handles = new Map<number, Handle>();
  let nextHandle = 1;
  const capText = `${Math.round(disk.capBytes / 1024 / 1024)} MiB`;

  const newHandle = (h: Handle): Buffer | undefined => {
    if (handles.size >= MAX_HANDLES) return undefined;
    const id = nextHandle++;
    handles.set(id, h);
    const buf = Buffer.alloc(4);
    buf.writeUInt32BE(id);
    return buf;
  };
  const handleOf = (buf: Buffer): [number, Handle] | undefined => {
    if (buf.length !== 4) return undefined;
    const id = buf.readUInt32BE(0);
    const h = handles.get(id);
    return h ? [id, h] : undefined;
  };

  const fail = (reqid: number, err: unknown) => {
    if (err instanceof PathRefused) {
      opts.onRefused?.(err.message);
      return sftp.status(reqid, STATUS.PERMISSION_DENIED, err.message);
    }
    const code = (err as NodeJS.ErrnoException)?.code;
    const message = (err as Error)?.message ?? String(err);
    if (code === "ENOENT") return sftp.status(reqid, STATUS.NO_SUCH_FILE, "No such file or directory");
    if (code === "EACCES" || code === "EPERM") return sftp.status(reqid, STATUS.PERMISSION_DENIED, "Permission denied");
    if (code === "ELOOP") return sftp.status(reqid, STATUS.PERMISSION_DENIED, "quackmesh gateway: symbolic links are not followed");
    sftp.status(reqid, STATUS.FAILURE, message.replace(root, "."));
  };
  const capReached = (reqid: number) => {
    const message = `quackmesh gateway: the rental's disk cap of ${capText} is reached`;
    opts.onRefused?.(message);
    sftp.status(reqid, STATUS.FAILURE, message);
  };
  /** Run one request; every failure becomes a status reply, never a crash. */
  const on = <A extends unknown[]>(event: string, fn: (reqid: number, ...args: A) => Promise<void>) => {
    sftp.on(event, (reqid: number, ...args: A) => {
      opts.onActivity?.();
      fn(reqid, ...args).catch((err) => fail(reqid, err));
    });
  };

  on("REALPATH", async (reqid, path: string) => {
    const real = await confine(root, path);
    sftp.name(reqid, [{ filename: real, longname: real, attrs: {} as Attributes }]);
  });
  on("STAT", async (reqid, path: string) => sftp.attrs(reqid, attrsOf(await p.stat(await confine(root, path)))));
  on("LSTAT", async (reqid, path: string) => sftp.attrs(reqid, attrsOf(await p.lstat(await confine(root, path)))));
  on("FSTAT", async (reqid, buf: Buffer) => {
    const h = handleOf(buf)?.[1];
    if (!h || h.kind !== "file") return sftp.status(reqid, STATUS.FAILURE, "bad handle");
    sftp.attrs(reqid, attrsOf(await p.fstat(h.fd)));
  });

  on("OPEN", async (reqid, filename: string, pflags: number, attrs: InputAttributes) => {
    const flags = openFlags(pflags);
    if (flags === undefined) return sftp.status(reqid, STATUS.OP_UNSUPPORTED, "open needs read or write");
    if (handles.size >= MAX_HANDLES) return sftp.status(reqid, STATUS.FAILURE, `at most ${MAX_HANDLES} open files per session`);
    const path = await confine(root, filename);
    const writable = (pflags & (MODE.WRITE | MODE.APPEND)) !== 0;
    if (writable) await disk.refresh();
    let before = 0;
    try {
      before = (await p.lstat(path)).size;
    } catch {
      // a new file
    }
    const fd = await p.open(path, flags, safeMode(attrs?.mode, 0o644));
    const st = await p.fstat(fd);
    if (!st.isFile()) {
      await p.close(fd);
      return sftp.status(reqid, STATUS.FAILURE, "quackmesh gateway: only regular files can be opened");
    }
    if (writable && st.size < before) disk.release(before - st.size); // truncated on open
    const handle = newHandle({ kind: "file", fd, path, size: st.size, writable });
    if (!handle) {
      await p.close(fd);
      return sftp.status(reqid, STATUS.FAILURE, `at most ${MAX_HANDLES} open files per session`);
    }
    if (writable) disk.opened();
    sftp.handle(reqid, handle);
  });

  on("READ", async (reqid, buf: Buffer, offset: number, length: number) => {
    const h = handleOf(buf)?.[1];
    if (!h || h.kind !== "file") return sftp.status(reqid, STATUS.FAILURE, "bad handle");
    const out = Buffer.alloc(Math.min(length, MAX_READ));
    const { bytesRead } = await p.read(h.fd, out, 0, out.length, offset);
    if (bytesRead === 0) return sftp.status(reqid, STATUS.EOF);
    sftp.data(reqid, out.subarray(0, bytesRead));
  });

  on("WRITE", async (reqid, buf: Buffer, offset: number, data: Buffer) => {
    const h = handleOf(buf)?.[1];
    if (!h || h.kind !== "file" || !h.writable) return sftp.status(reqid, STATUS.FAILURE, "bad handle");
    const end = offset + data.length;
    const growth = Math.max(0, end - h.size);
    if (!disk.take(growth)) return capReached(reqid);
    h.size = Math.max(h.size, end);
    try {
      await p.write(h.fd, data, 0, data.length, offset);
    } catch (err) {
      disk.release(growth);
      throw err;
    }
    sftp.status(reqid, STATUS.OK);
  });

  on("CLOSE", async (reqid, buf: Buffer) => {
    const found = handleOf(buf);
    if (!found) return sftp.status(reqid, STATUS.FAILURE, "bad handle");
    const [id, h] = found;
    handles.delete(id);
    if (h.kind === "file") {
      if (h.writable) disk.closed();
      await p.close(h.fd);
    }
    sftp.status(reqid, STATUS.OK);
  });

  on("OPENDIR", async (reqid, path: string) => {
    const dir = await confine(root, path);
    if (!(await p.stat(dir)).isDirectory()) return sftp.status(reqid, STATUS.FAILURE, "not a folder");
    const handle = newHandle({ kind: "dir", path: dir, done: false });
    if (!handle) return sftp.status(reqid, STATUS.FAILURE, `at most ${MAX_HANDLES} open handles per session`);
    sftp.handle(reqid, handle);
  });

  on("READDIR", async (reqid, buf: Buffer) => {
    const h = handleOf(buf)?.[1];
    if (!h || h.kind !== "dir") return sftp.status(reqid, STATUS.FAILURE, "bad handle");
    if (h.done) return sftp.status(reqid, STATUS.EOF);
    h.done = true;
    const names = (await p.readdir(h.path)).slice(0, MAX_DIR_ENTRIES);
    const entries = [];
    for (const name of [".", "..", ...names]) {
      try {
        const st = await p.lstat(name === ".." ? h.path : posix.join(h.path, name));
        entries.push({ filename: name, longname: longname(name, st), attrs: attrsOf(st) });
      } catch {
        // gone meanwhile
      }
    }
    sftp.name(reqid, entries);
  });

  on("MKDIR", async (reqid, path: string, attrs: InputAttributes) => {
    await p.mkdir(await confine(root, path), safeMode(attrs?.mode, 0o755));
    sftp.status(reqid, STATUS.OK);
  });
  on("RMDIR", async (reqid, path: string) => {
    const dir = await confine(root, path);
    if (dir === root) throw new PathRefused(path, "is the rental's folder itself");
    await p.rmdir(dir);
    sftp.status(reqid, STATUS.OK);
  });
  on("REMOVE", async (reqid, path: string) => {
    const file = await confine(root, path);
    const st = await p.lstat(file);
    await p.unlink(file);
    if (st.isFile()) disk.release(st.size);
    sftp.status(reqid, STATUS.OK);
  });
  on("RENAME", async (reqid, from: string, to: string) => {
    const a = await confine(root, from);
    const b = await confine(root, to);
    if (a === root) throw new PathRefused(from, "is the rental's folder itself");
    // SFTP v3: renaming onto an existing name fails.
    const exists = await p.lstat(b).then(
      () => true,
      () => false,
    );
    if (exists) return sftp.status(reqid, STATUS.FAILURE, "the target exists");
    await p.rename(a, b);
    sftp.status(reqid, STATUS.OK);
  });

  const setAttrs = async (reqid: number, target: { path: string } | { fd: number; handle: Handle & { kind: "file" } }, attrs: InputAttributes) => {
    if (attrs.size !== undefined) {
      const current = "fd" in target ? (await p.fstat(target.fd)).size : (await p.stat(target.path)).size;
      const growth = attrs.size - current;
      if (growth > 0) await disk.refresh();
      if (!disk.take(growth)) return capReached(reqid);
      if (growth < 0) disk.release(-growth);
      if ("fd" in target) {
        await p.ftruncate(target.fd, attrs.size);
        target.handle.size = attrs.size;
      } else await p.truncate(target.path, attrs.size);
    }
    if (attrs.mode !== undefined) {
      const mode = safeMode(attrs.mode, 0o644);
      await ("fd" in target ? p.fchmod(target.fd, mode) : p.chmod(target.path, mode));
    }
    if (attrs.atime !== undefined && attrs.mtime !== undefined) {
      await ("fd" in target ? p.futimes(target.fd, attrs.atime as number, attrs.mtime as number) : p.utimes(target.path, attrs.atime as number, attrs.mtime as number));
    }
    // uid/gid are ignored: a renter's files belong to the provider's user.
    sftp.status(reqid, STATUS.OK);
  };
  on("SETSTAT", async (reqid, path: string, attrs: InputAttributes) => setAttrs(reqid, { path: await confine(root, path) }, attrs));
  on("FSETSTAT", async (reqid, buf: Buffer, attrs: InputAttributes) => {
    const h = handleOf(buf)?.[1];
    if (!h || h.kind !== "file") return sftp.status(reqid, STATUS.FAILURE, "bad handle");
    await setAttrs(reqid, { fd: h.fd, handle: h }, attrs);
  });

  on("READLINK", async (reqid, path: string) => {
    throw new PathRefused(path, "cannot be read as a link: symbolic links are not served");
  });
  on("SYMLINK", async (reqid, linkPath: string) => {
    throw new PathRefused(linkPath, "cannot be made: symbolic links are not allowed in the rental's folder");
  });

  sftp.on("close", () => {
    for (const h of handles.values()) {
      if (h.kind !== "file") continue;
      if (h.writable) disk.closed();
      close(h.fd, () => {});
    }
    handles.clear();
  });
}
