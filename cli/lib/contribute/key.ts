/**
 * A worker's own signing key: read from FILE, or created there (mode 0600) on first start, so a
 * restarted worker keeps its address and its state. Updates are signed with it; rewards for a
 * rented worker come from the rental, so the key needs no funds.
 */
import { randomBytes } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { Wallet } from "ethers";
import { QuackError } from "../../../protocol/errors.js";
import { parsePrivateKey } from "../chain/accounts.js";

export async function loadOrCreateKey(file: string): Promise<{ wallet: Wallet; created: boolean }> {
  let text: string | undefined;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") {
      throw new QuackError("KEY_FILE_UNREADABLE", `Cannot read the key file ${file}.`, { fix: "Check its permissions, or pass --key with another file.", cause: err });
    }
  }
  if (text !== undefined) return { wallet: new Wallet(parsePrivateKey(text, `Key file ${file}`)), created: false };
  const wallet = new Wallet("0x" + randomBytes(32).toString("hex"));
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, wallet.privateKey + "\n", { mode: 0o600, flag: "wx" });
  return { wallet, created: true };
}
