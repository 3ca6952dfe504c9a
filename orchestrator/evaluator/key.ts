/**
 * The evaluator's key: QUACKMESH_EVALUATOR_KEY when set, else <dataDir>/evaluator.key, created
 * on first start with mode 0600. Its address is what requesters name on chain as evaluator.
 */
import { randomBytes } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Wallet } from "ethers";
import { QuackError } from "../../protocol/errors.js";

export type KeySource = "env" | "file" | "generated";

function parseKey(text: string, source: string): Wallet {
  const key = text.trim();
  const hex = /^0x/i.test(key) ? key.slice(2) : key;
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) {
    throw new QuackError("BAD_KEY", `${source} does not hold a private key (expected 64 hex digits).`, {
      fix: "Set QUACKMESH_EVALUATOR_KEY to a 0x-prefixed hex key, or delete the key file to generate a new one.",
    });
  }
  try {
    return new Wallet("0x" + hex);
  } catch (cause) {
    throw new QuackError("BAD_KEY", `${source} holds a value outside the secp256k1 key range.`, { cause });
  }
}

export async function loadEvaluatorKey(dataDir: string, envKey?: string): Promise<{ wallet: Wallet; source: KeySource; file?: string }> {
  if (envKey !== undefined && envKey !== "") return { wallet: parseKey(envKey, "QUACKMESH_EVALUATOR_KEY"), source: "env" };
  const file = join(dataDir, "evaluator.key");
  let text: string | undefined;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  if (text !== undefined) return { wallet: parseKey(text, file), source: "file", file };
  await mkdir(dataDir, { recursive: true });
  const wallet = new Wallet("0x" + randomBytes(32).toString("hex"));
  try {
    // "wx": two processes starting at once must not overwrite each other's key.
    await writeFile(file, wallet.privateKey + "\n", { mode: 0o600, flag: "wx" });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") return loadEvaluatorKey(dataDir);
    throw err;
  }
  return { wallet, source: "generated", file };
}
