/** The renter's SSH private key as requesters upload it, checked before anything uses it. */
import ssh2 from "ssh2";
import { fingerprintOf } from "../../protocol/market/sshKeys.js";
import { ApiError } from "../errors.js";

/** The key's public fingerprint; INVALID_SSH_KEY (400) when it is not an unencrypted private key. */
export function keyFingerprint(text: string): string {
  const parsed = ssh2.utils.parseKey(text);
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (!key || key instanceof Error || !key.isPrivateKey()) {
    const why = key instanceof Error ? key.message : "it is not a private key";
    throw new ApiError("INVALID_SSH_KEY", `The SSH private key cannot be used: ${why}. Send the unencrypted OpenSSH private key whose public key the rentals name.`);
  }
  return fingerprintOf(key.getPublicSSH());
}
