import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { QuackError } from "../../../protocol/errors.js";

/** Where this machine's listing key lives: one per QuackMesh home, shared by every wallet. */
export function machineKeyFile(home: string): string {
  return join(home, "provider", "machine-key");
}

/**
 * The bytes32 that, with the provider's address, names this machine on the marketplace: read
 * from `file`, or made once and kept there, so that a restarted `provide` relists the same
 * machine id (and keeps its record) instead of listing a new one.
 */
export function loadMachineKey(file: string): string {
  let text: string | undefined;
  try {
    text = readFileSync(file, "utf8").trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") {
      throw new QuackError("KEY_FILE_UNREADABLE", `The machine key file ${file} cannot be read: ${(err as Error).message}.`, { fix: "Check its permissions, or remove it to list this machine under a new id." });
    }
  }
  if (text !== undefined) {
    if (!/^0x[0-9a-f]{64}$/i.test(text)) {
      throw new QuackError("BAD_KEY", `The machine key file ${file} does not hold a 32-byte hex key.`, { fix: "Remove it to list this machine under a new id (the old id keeps its record)." });
    }
    return text.toLowerCase();
  }
  const key = "0x" + randomBytes(32).toString("hex");
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  try {
    writeFileSync(file, key + "\n", { mode: 0o600, flag: "wx" });
  } catch (err) {
    // Another provide on this home made it first (several wallets start together): use that one.
    if ((err as NodeJS.ErrnoException).code === "EEXIST") return loadMachineKey(file);
    throw err;
  }
  return key;
}
