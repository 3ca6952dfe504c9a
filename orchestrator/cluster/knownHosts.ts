import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { QuackError } from "../../protocol/errors.js";

/**
 * Pinned host keys, `host:port` → `SHA256:…` fingerprint. The first connection to a machine
 * records its key; a later connection that shows another key is refused (HOST_KEY_CHANGED).
 * Kept in memory, and in a JSON file when one is given (written atomically).
 */
export class KnownHosts {
  private readonly entries = new Map<string, string>();

  constructor(private readonly file?: string) {
    if (!file) return;
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
      throw new QuackError("KNOWN_HOSTS_UNREADABLE", `Cannot read ${file}.`, { cause: err });
    }
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch (cause) {
      throw new QuackError("BAD_KNOWN_HOSTS", `${file} is not JSON.`, { fix: `Fix or delete ${file} (its keys are recorded again on the next connection).`, cause });
    }
    if (!data || typeof data !== "object" || Array.isArray(data)) throw new QuackError("BAD_KNOWN_HOSTS", `${file} is not a JSON object.`);
    for (const [k, v] of Object.entries(data)) if (typeof v === "string") this.entries.set(k, v);
  }

  static key(host: string, port: number): string {
    return `${host}:${port}`;
  }

  get(host: string, port: number): string | undefined {
    return this.entries.get(KnownHosts.key(host, port));
  }

  set(host: string, port: number, fingerprint: string): void {
    this.entries.set(KnownHosts.key(host, port), fingerprint);
    if (!this.file) return;
    mkdirSync(dirname(this.file), { recursive: true, mode: 0o700 });
    const tmp = `${this.file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(Object.fromEntries(this.entries), null, 2) + "\n", { mode: 0o600 });
    renameSync(tmp, this.file);
  }

  /** Forget a machine (e.g. after its provider announced a new host key out of band). */
  forget(host: string, port: number): void {
    if (!this.entries.delete(KnownHosts.key(host, port)) || !this.file) return;
    const tmp = `${this.file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(Object.fromEntries(this.entries), null, 2) + "\n", { mode: 0o600 });
    renameSync(tmp, this.file);
  }
}
