import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import ssh2 from "ssh2";
import { QuackError } from "../../../protocol/errors.js";
import { fingerprintOf, generateSshKeyPair } from "../../../protocol/market/sshKeys.js";

const { utils } = ssh2; // CommonJS: Node sees only some of its names as named exports

export interface GatewayHostKey {
  file: string;
  /** The private key, OpenSSH text, as ssh2's server takes it. */
  privateKey: string;
  /** `ssh-ed25519 AAAA…` */
  publicKey: string;
  /** `SHA256:…`, announced in the listing and pinned by renters. */
  fingerprint: string;
  created: boolean;
}

/**
 * The gateway's ed25519 host key at `file`: generated once (no ssh-keygen needed), kept 0600 in
 * a 0700 folder, and the same on every start so the fingerprint pinned by renters stays valid.
 * A key that others may read is refused rather than used: it may have been copied.
 */
export function ensureHostKey(file: string): GatewayHostKey {
  let created = false;
  if (!existsSync(file)) {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    const pair = generateSshKeyPair("quackmesh-gateway");
    writeFileSync(file, pair.private, { mode: 0o600, flag: "wx" });
    chmodSync(file, 0o600);
    created = true;
  }
  const mode = statSync(file).mode & 0o777;
  if (mode & 0o077) {
    throw new QuackError("HOST_KEY_EXPOSED", `The gateway host key ${file} is readable by others (mode ${mode.toString(8)}).`, {
      fix: `If nobody else could have read it: chmod 600 ${file}. Otherwise delete it; a new key is made on the next start, and renters will see a new fingerprint with the new listing.`,
    });
  }
  const privateKey = readFileSync(file, "utf8");
  const parsed = utils.parseKey(privateKey);
  if (parsed instanceof Error || Array.isArray(parsed) || parsed.isPrivateKey() !== true) {
    throw new QuackError("BAD_HOST_KEY", `The gateway host key ${file} is not an unencrypted OpenSSH private key.`, {
      fix: "Delete it; a new one is made on the next start.",
    });
  }
  const blob = parsed.getPublicSSH();
  return { file, privateKey, publicKey: `${parsed.type} ${blob.toString("base64")}`, fingerprint: fingerprintOf(blob), created };
}
