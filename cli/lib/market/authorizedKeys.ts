import { chmodSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { QuackError } from "../../../protocol/errors.js";
import { formatPublicKey, parsePublicKey, type SshPublicKey } from "../../../protocol/market/sshKeys.js";

/**
 * A renter's key goes into authorized_keys as one line:
 *   command="<gate> --rental ID --root DIR",restrict ssh-ed25519 AAAA… quackmesh-rental-ID
 * `restrict` turns off port, agent and X11 forwarding and PTYs; the forced command lets only the
 * worker and SFTP through (gate.ts). The marker comment makes removal exact; every other line of
 * the file is kept byte for byte.
 */
export const MARKER_PREFIX = "quackmesh-rental-";

export function markerOf(rentalId: bigint | number | string): string {
  const id = String(rentalId);
  if (!/^\d+$/.test(id)) throw new QuackError("BAD_ID", `Rental id '${id}' is not a number.`);
  return MARKER_PREFIX + id;
}

export interface InstalledKey {
  rentalId: string;
  key: SshPublicKey;
  command: string;
  line: string;
}

/** The authorized_keys line for a rental. `publicKey` is checked (parsePublicKey); its comment is dropped. */
export function rentalKeyLine(rentalId: bigint | number | string, publicKey: string, command: string): string {
  const marker = markerOf(rentalId);
  const key = parsePublicKey(publicKey);
  if (command === "" || /["\\\x00-\x1f\x7f]/.test(command)) {
    throw new QuackError("BAD_FORCED_COMMAND", "The forced command is empty or holds a quote, backslash or control character.");
  }
  return `command="${command}",restrict ${formatPublicKey(key)} ${marker}`;
}

function readLines(file: string): string[] {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw new QuackError("AUTHORIZED_KEYS_UNREADABLE", `Cannot read ${file}.`, { fix: "Check the file's owner and permissions.", cause: err });
  }
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  return lines;
}

/** Write all lines to a temp file beside `file`, mode 0600, then rename over it (readers see old or new). */
function writeLines(file: string, lines: string[]): void {
  const dir = dirname(file);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = join(dir, `.${basename(file)}.${process.pid}.${Date.now()}.tmp`);
  try {
    writeFileSync(tmp, lines.length ? lines.join("\n") + "\n" : "", { mode: 0o600 });
    chmodSync(tmp, 0o600);
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw new QuackError("AUTHORIZED_KEYS_UNWRITABLE", `Cannot write ${file}.`, { fix: "Check the folder's owner and permissions.", cause: err });
  }
}

function isRentalLine(line: string, marker: string): boolean {
  const words = line.trim().split(/[ \t]+/);
  return words[words.length - 1] === marker && line.startsWith('command="');
}

/** Add (or replace) the key of rental `rentalId`. Returns the line written. */
export function addRentalKey(file: string, rentalId: bigint | number | string, publicKey: string, command: string): string {
  const line = rentalKeyLine(rentalId, publicKey, command);
  const marker = markerOf(rentalId);
  const lines = readLines(file).filter((l) => !isRentalLine(l, marker));
  lines.push(line);
  writeLines(file, lines);
  return line;
}

/** Remove the key of rental `rentalId`; true when one was there. */
export function removeRentalKey(file: string, rentalId: bigint | number | string): boolean {
  const marker = markerOf(rentalId);
  const lines = readLines(file);
  const kept = lines.filter((l) => !isRentalLine(l, marker));
  if (kept.length === lines.length) return false;
  writeLines(file, kept);
  return true;
}

/** Rental keys present in the file, by rental id. */
export function listRentalKeys(file: string): InstalledKey[] {
  const out: InstalledKey[] = [];
  for (const line of readLines(file)) {
    const m = /^command="([^"]*)",restrict (\S+ \S+) quackmesh-rental-(\d+)\s*$/.exec(line);
    if (!m) continue;
    try {
      out.push({ rentalId: m[3], key: parsePublicKey(m[2]), command: m[1], line });
    } catch {
      // Someone edited the line by hand; not ours to report.
    }
  }
  return out;
}
