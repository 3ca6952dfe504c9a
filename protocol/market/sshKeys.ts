import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import ssh2 from "ssh2";
import { QuackError } from "../errors.js";

/** Key types a renter may hand a provider (OpenSSH names). */
export const ALLOWED_KEY_TYPES = [
  "ssh-ed25519",
  "ssh-rsa",
  "ecdsa-sha2-nistp256",
  "ecdsa-sha2-nistp384",
  "ecdsa-sha2-nistp521",
] as const;

export type SshKeyType = (typeof ALLOWED_KEY_TYPES)[number];

export interface SshPublicKey {
  type: SshKeyType;
  /** The key blob, base64 as in authorized_keys. */
  base64: string;
  /** `SHA256:…` as ssh-keygen -l prints it. */
  fingerprint: string;
}

/** Longest accepted key line: a 16384-bit RSA key is about 2.8 KB of base64. */
const MAX_KEY_LENGTH = 4096;

function badKey(why: string): QuackError {
  return new QuackError("BAD_SSH_KEY", `The SSH public key ${why}.`, {
    fix: "Use one OpenSSH public key line, e.g. `ssh-ed25519 AAAAC3Nza… [comment]` (the content of a .pub file).",
  });
}

/**
 * Parse and check one OpenSSH public key line. Only `TYPE BASE64 [comment]` is accepted: no
 * leading options (`command=…`), no line breaks or control characters, a known type, and a blob
 * whose embedded type name matches. The comment is dropped by callers; it never reaches a file.
 */
export function parsePublicKey(text: string): SshPublicKey {
  if (typeof text !== "string" || text.length === 0) throw badKey("is empty");
  if (text.length > MAX_KEY_LENGTH) throw badKey(`is ${text.length} characters long (at most ${MAX_KEY_LENGTH})`);
  const trimmed = text.replace(/\n$/, "").trim();
  if (/[\x00-\x08\x0a-\x1f\x7f]/.test(trimmed)) throw badKey("contains a line break or control character");
  const parts = trimmed.split(/[ \t]+/);
  const [type, base64] = parts;
  if (!(ALLOWED_KEY_TYPES as readonly string[]).includes(type)) {
    throw badKey(`starts with '${type.slice(0, 40)}', not a key type (${ALLOWED_KEY_TYPES.join(", ")}); options are not accepted`);
  }
  if (base64 === undefined || !/^[A-Za-z0-9+/]+={0,2}$/.test(base64) || base64.length % 4 !== 0) {
    throw badKey("has no valid base64 key data after its type");
  }
  const blob = Buffer.from(base64, "base64");
  if (blobType(blob) !== type) throw badKey(`data does not hold a ${type} key`);
  return { type: type as SshKeyType, base64, fingerprint: fingerprintOf(blob) };
}

/** The type name an SSH wire-format key blob starts with (uint32 length + name). */
function blobType(blob: Buffer): string | undefined {
  if (blob.length < 4) return undefined;
  const len = blob.readUInt32BE(0);
  if (len === 0 || len > 64 || blob.length < 4 + len) return undefined;
  return blob.subarray(4, 4 + len).toString("latin1");
}

/** OpenSSH's SHA256 fingerprint of a key blob: `SHA256:` + unpadded base64 of its sha256. */
export function fingerprintOf(blob: Buffer): string {
  return "SHA256:" + createHash("sha256").update(blob).digest("base64").replace(/=+$/, "");
}

/** `TYPE BASE64` without a comment, the form put on chain and into authorized_keys. */
export function formatPublicKey(key: Pick<SshPublicKey, "type" | "base64">): string {
  return `${key.type} ${key.base64}`;
}

export interface KeyPairFiles {
  privateKeyFile: string;
  publicKeyFile: string;
  publicKey: SshPublicKey;
  created: boolean;
}

/**
 * A new ed25519 key pair in OpenSSH's format, by ssh2 (no ssh-keygen needed). ssh2 strips every
 * leading zero byte of the raw public key, so about one key in 256 (a public key starting with
 * 0x00) comes out malformed and its own parseKey refuses both halves (mscdex/ssh2#1390, #1513):
 * such a pair is drawn again.
 */
export function generateSshKeyPair(comment?: string): { private: string; public: string } {
  for (;;) {
    const pair = ssh2.utils.generateKeyPairSync("ed25519", comment === undefined ? {} : { comment });
    const pub = ssh2.utils.parseKey(pair.public);
    const priv = ssh2.utils.parseKey(pair.private);
    if (pub instanceof Error || priv instanceof Error || Array.isArray(pub) || Array.isArray(priv)) continue;
    if (priv.getPublicSSH().equals(pub.getPublicSSH())) return pair;
  }
}

/**
 * The ed25519 key pair at `privateKeyFile` (+ `.pub`); generated when absent (by ssh2, in
 * OpenSSH's format, so no ssh-keygen is needed). The folder is made private (0700) and the
 * private key 0600.
 */
export async function ensureKeyPair(privateKeyFile: string, comment = "quackmesh"): Promise<KeyPairFiles> {
  const publicKeyFile = `${privateKeyFile}.pub`;
  let created = false;
  if (!existsSync(privateKeyFile)) {
    mkdirSync(dirname(privateKeyFile), { recursive: true, mode: 0o700 });
    const pair = generateSshKeyPair(comment);
    writeFileSync(privateKeyFile, pair.private, { mode: 0o600, flag: "wx" });
    chmodSync(privateKeyFile, 0o600);
    writeFileSync(publicKeyFile, `${pair.public}\n`, { mode: 0o644 });
    created = true;
  }
  return { privateKeyFile, publicKeyFile, publicKey: readPublicKeyFile(publicKeyFile), created };
}

/** Read and check a .pub file. */
export function readPublicKeyFile(file: string): SshPublicKey {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (cause) {
    throw new QuackError("SSH_KEY_UNREADABLE", `Cannot read the SSH public key ${file}.`, {
      fix: "Pass --ssh-key with a private key whose .pub file sits next to it, or leave --ssh-key out to generate one.",
      cause,
    });
  }
  return parsePublicKey(text);
}

/** Run ssh-keygen with `args`; a missing binary is a clear error. */
export function sshKeygen(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile("ssh-keygen", args, { timeout: 30_000 }, (err, stdout, stderr) => {
      if (!err) return resolve(stdout);
      const missing = (err as NodeJS.ErrnoException).code === "ENOENT";
      reject(
        new QuackError(missing ? "NO_SSH_KEYGEN" : "SSH_KEYGEN_FAILED", missing ? "ssh-keygen is not installed." : `ssh-keygen failed: ${stderr.trim() || err.message}`, {
          fix: missing ? "Install OpenSSH (Debian: apt-get install openssh-client)." : undefined,
          cause: err,
        }),
      );
    });
  });
}
