/**
 * Ending a rental's running sessions. Removing a renter's key stops new logins only: sshd keeps
 * the sessions already open. Each session runs the gate with `--rental ID --root DIR` (its forced
 * command), so the gates of a rental are found by their arguments and sent SIGTERM; a gate then
 * ends the worker it started. Linux (/proc); elsewhere nothing is found.
 */
import { readFileSync, readdirSync } from "node:fs";

/** Pids of the gates serving rental `rentalId` under `rentalsRoot`. */
export function rentalGates(rentalsRoot: string, rentalId: bigint | number | string): number[] {
  const id = String(rentalId);
  let entries: string[];
  try {
    entries = readdirSync("/proc").filter((d) => /^\d+$/.test(d));
  } catch {
    return [];
  }
  const out: number[] = [];
  for (const d of entries) {
    let args: string[];
    try {
      args = readFileSync(`/proc/${d}/cmdline`, "utf8").split("\0");
    } catch {
      continue; // gone meanwhile
    }
    const r = args.indexOf("--rental");
    const root = args.indexOf("--root");
    if (r >= 0 && root >= 0 && args[r + 1] === id && args[root + 1] === rentalsRoot) out.push(Number(d));
  }
  return out;
}

/** SIGTERM every gate of the rental; returns how many were signalled. */
export function endRentalSessions(rentalsRoot: string, rentalId: bigint | number | string): number {
  let n = 0;
  for (const pid of rentalGates(rentalsRoot, rentalId)) {
    try {
      process.kill(pid, "SIGTERM");
      n++;
    } catch {
      // already gone
    }
  }
  return n;
}
