import { readFileSync } from "node:fs";
import { HDNodeWallet, Wallet, type Provider } from "ethers";
import type { Settings } from "../../../protocol/config.js";
import { QuackError } from "../../../protocol/errors.js";
import { resolveNetwork, type ResolvedNetwork } from "../../../protocol/chain/networks.js";

/** Hardhat's public development mnemonic: its keys are known to everyone, local chain only. */
export const DEV_MNEMONIC = "test test test test test test test test test test test junk";
export const DEV_ACCOUNT_COUNT = 20;

/** Roles of the first dev accounts, so demos and tests can say "requester" instead of "1". */
export const DEV_ACCOUNT_NAMES = [
  "operator", // deploys the contracts and owns DuckToken
  "requester",
  "evaluator", // only where no orchestrator key is configured
  "provider1",
  "provider2",
  "provider3",
  "contributor1",
  "contributor2",
  "contributor3",
  "contributor4",
] as const;

export type DevAccountName = (typeof DEV_ACCOUNT_NAMES)[number];

const ALIASES: Record<string, number> = { deployer: 0 };

export interface DevAccount {
  index: number;
  /** Role name, or `account<i>` past the named ones. */
  name: string;
  address: string;
  privateKey: string;
}

let root: HDNodeWallet | undefined;
const derived = new Map<number, DevAccount>();

/** Dev account by role name ("requester"), alias ("deployer") or index (0-19, number or string). */
export function devAccount(nameOrIndex: string | number): DevAccount {
  const index = devAccountIndex(nameOrIndex);
  let account = derived.get(index);
  if (!account) {
    // Deriving from the phrase costs a PBKDF2; do it once and walk children from there.
    root ??= HDNodeWallet.fromPhrase(DEV_MNEMONIC, undefined, "m/44'/60'/0'/0");
    const child = root.deriveChild(index);
    account = { index, name: DEV_ACCOUNT_NAMES[index] ?? `account${index}`, address: child.address, privateKey: child.privateKey };
    derived.set(index, account);
  }
  return account;
}

/** All 20 funded accounts of a Hardhat node, in order. */
export function devAccounts(): DevAccount[] {
  return Array.from({ length: DEV_ACCOUNT_COUNT }, (_, i) => devAccount(i));
}

function devAccountIndex(nameOrIndex: string | number): number {
  const text = String(nameOrIndex).trim().toLowerCase();
  let index: number;
  if (/^\d+$/.test(text)) index = Number(text);
  else if (/^account\d+$/.test(text)) index = Number(text.slice(7));
  else index = ALIASES[text] ?? (DEV_ACCOUNT_NAMES as readonly string[]).indexOf(text);
  if (!Number.isInteger(index) || index < 0 || index >= DEV_ACCOUNT_COUNT) {
    throw new QuackError("UNKNOWN_ACCOUNT", `No dev account '${nameOrIndex}'.`, {
      fix: `Use an index 0-${DEV_ACCOUNT_COUNT - 1} or a name: ${DEV_ACCOUNT_NAMES.join(", ")}.`,
    });
  }
  return index;
}

/** Parse a 0x private key (64 hex digits; surrounding whitespace allowed). `source` names where it came from. */
export function parsePrivateKey(text: string, source: string): string {
  const key = text.trim();
  const hex = key.startsWith("0x") || key.startsWith("0X") ? key.slice(2) : key;
  if (!/^[0-9a-fA-F]{64}$/.test(hex) || /^0+$/.test(hex)) {
    throw new QuackError("BAD_KEY", `${source} does not hold a private key (expected 64 hex digits, optionally 0x-prefixed).`, {
      fix: "Put one hex private key in the file (e.g. 0xac09…ff80) and nothing else.",
    });
  }
  try {
    return new Wallet("0x" + hex).privateKey;
  } catch (cause) {
    throw new QuackError("BAD_KEY", `${source} holds a value outside the secp256k1 key range.`, { fix: "Use a valid private key.", cause });
  }
}

export interface SignerChoice {
  /** File holding a hex private key (--key FILE). */
  key?: string;
  /** Dev account name or index (--account); local chain only. */
  account?: string | number;
  /** Dev account used on the local chain when neither a key nor an account is given. */
  defaultAccount?: string | number;
}

/**
 * The wallet a command signs with: --key FILE, else QUACKMESH_PRIVATE_KEY (or config
 * privateKey), else on the local chain a named dev account. Elsewhere a missing key is an error.
 */
export function resolveSigner(
  settings: Pick<Settings, "network" | "rpc" | "privateKey">,
  provider: Provider | null,
  choice: SignerChoice = {},
  network: Pick<ResolvedNetwork, "name" | "local"> = resolveNetwork(settings),
): Wallet {
  if (choice.key !== undefined) {
    let text: string;
    try {
      text = readFileSync(choice.key, "utf8");
    } catch (cause) {
      throw new QuackError("KEY_FILE_UNREADABLE", `Cannot read the key file ${choice.key}.`, {
        fix: "Pass --key with the path of a file that holds your hex private key.",
        cause,
      });
    }
    return new Wallet(parsePrivateKey(text, `Key file ${choice.key}`), provider);
  }
  if (choice.account !== undefined) {
    if (!network.local) {
      throw new QuackError("DEV_ACCOUNT_REMOTE", `--account selects a public dev key; network '${network.name}' is not the local chain.`, {
        fix: "Use --key FILE or QUACKMESH_PRIVATE_KEY for this network.",
      });
    }
    return new Wallet(devAccount(choice.account).privateKey, provider);
  }
  if (settings.privateKey !== undefined) {
    return new Wallet(parsePrivateKey(settings.privateKey, "QUACKMESH_PRIVATE_KEY (or privateKey in config.json)"), provider);
  }
  if (network.local) return new Wallet(devAccount(choice.defaultAccount ?? "operator").privateKey, provider);
  throw new QuackError("NO_KEY", `Network '${network.name}' needs a wallet key; none was given.`, {
    fix: "Pass --key FILE (a file holding your hex private key) or set QUACKMESH_PRIVATE_KEY.",
  });
}
