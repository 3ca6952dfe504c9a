import { addRentalKey, removeRentalKey } from "./authorizedKeys.js";
import { forcedCommand, type GateLaunch } from "./gateLaunch.js";
import { endRentalSessions } from "./sessions.js";

/**
 * Who may log in to this machine: a renter's key is granted for its rental's lifetime and
 * revoked when the rental is over, which also ends the rental's open sessions and its workers.
 * Two kinds: the embedded gateway (gateway.ts, the default) and an OpenSSH server reading an
 * authorized_keys file whose rental lines force the gate (authorizedKeysAccess below).
 */
export interface RentalAccess {
  /** Where keys are kept, for the provider's log (a file, or "gateway 127.0.0.1:2222"). */
  readonly where: string;
  grant(rentalId: bigint, publicKey: string): void;
  revoke(rentalId: bigint): void;
}

/** Keys in an OpenSSH authorized_keys file, each forced through the gate (gate.ts). */
export function authorizedKeysAccess(file: string, gate: GateLaunch, rentalsRoot: string): RentalAccess {
  return {
    where: file,
    grant: (rentalId, publicKey) => void addRentalKey(file, rentalId, publicKey, forcedCommand(gate, rentalId, rentalsRoot)),
    revoke: (rentalId) => {
      removeRentalKey(file, rentalId);
      // The key only stops new logins: end the sessions still open, and their workers.
      endRentalSessions(rentalsRoot, rentalId);
    },
  };
}
