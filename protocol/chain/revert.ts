import { Contract, Interface, type ErrorDescription, type Result } from "ethers";
import { QuackError, isQuackError } from "../errors.js";
import { contractName, loadArtifact, productErrors } from "./contracts.js";
import type { ContractName } from "./deployments.js";

export interface DescribeOptions {
  /** The function that was called, for the message ("TrainingPool refused submitUpdate: …"). */
  method?: string;
  /** A fix per custom error name, e.g. { BelowThreshold: "Train longer before submitting." }. */
  fixes?: Record<string, string>;
}

/** What most people can do about the errors OpenZeppelin's token and ownership code raise. */
const COMMON_FIXES: Record<string, string> = {
  ERC20InsufficientBalance: "Get more DUCK (on the local chain: `quackmesh wallet faucet`).",
  InsufficientFunds: "Get more DUCK (on the local chain: `quackmesh wallet faucet`).",
  ERC20InsufficientAllowance: "Approve the contract to spend your DUCK first.",
  OwnableUnauthorizedAccount: "Send this transaction from the contract owner's key.",
};

/**
 * Turn anything a contract call or transaction threw into a QuackError: a revert becomes
 * "<Contract> refused: ErrorName(arg=value, …)" with the decoded arguments in details; funds,
 * network and nonce trouble get their own codes and fixes.
 */
export function describeRevert(err: unknown, contract?: Contract | ContractName, opts: DescribeOptions = {}): QuackError {
  if (isQuackError(err)) return err;
  const name = typeof contract === "string" ? contract : contract ? contractName(contract) : undefined;
  const who = `${name ?? "The contract"} refused${opts.method ? ` ${opts.method}` : ""}`;
  const e = err as { code?: string; message?: string; shortMessage?: string };
  const text = messageOf(err);

  const data = revertData(err);
  if (data !== undefined || e.code === "CALL_EXCEPTION") {
    const decoded = data === undefined ? undefined : decode(data, contract);
    if (decoded) {
      const args = namedArgs(decoded);
      const rendered = decoded.name === "Error" ? JSON.stringify(String(decoded.args[0])) : `${decoded.name}(${formatArgs(args)})`;
      return new QuackError("TX_REVERTED", `${who}: ${rendered}`, {
        fix: opts.fixes?.[decoded.name] ?? COMMON_FIXES[decoded.name],
        details: { contract: name, method: opts.method, error: decoded.name, args, data },
        cause: err,
      });
    }
    return new QuackError("TX_REVERTED", `${who}: reverted${data && data !== "0x" ? ` with unknown data ${data}` : " without a reason"}.`, {
      details: { contract: name, method: opts.method, data },
      cause: err,
    });
  }
  if (e.code === "INSUFFICIENT_FUNDS" || /insufficient funds|doesn't have enough funds/i.test(text)) {
    return new QuackError("NO_FUNDS", "The wallet has not enough ETH to pay for gas.", {
      fix: "Fund the sending address with ETH (on the local chain: `quackmesh wallet faucet --to <address>`).",
      cause: err,
    });
  }
  if (e.code === "NETWORK_ERROR" || e.code === "TIMEOUT" || /ECONNREFUSED|fetch failed|socket hang up|ETIMEDOUT/i.test(text)) {
    return new QuackError("RPC_UNREACHABLE", `The chain stopped answering: ${e.shortMessage ?? text}.`, {
      fix: "Check that the chain runs (`quackmesh chain`) and that --rpc points at it.",
      cause: err,
    });
  }
  if (e.code === "NONCE_EXPIRED" || e.code === "REPLACEMENT_UNDERPRICED" || /nonce/i.test(text)) {
    return new QuackError("NONCE_CONFLICT", `The transaction clashed with another one from the same wallet: ${e.shortMessage ?? text}.`, {
      fix: "Wait for the wallet's other transactions to be mined, then retry; avoid sending from one key in two processes at once.",
      cause: err,
    });
  }
  return new QuackError("TX_FAILED", `${name ? `${name}: ` : ""}${e.shortMessage ?? text}`, { cause: err });
}

function messageOf(err: unknown): string {
  const parts: string[] = [];
  let cur: unknown = err;
  for (let depth = 0; cur && typeof cur === "object" && depth < 5; depth++) {
    const c = cur as { message?: unknown; info?: { error?: unknown }; error?: unknown; cause?: unknown };
    if (typeof c.message === "string") parts.push(c.message);
    cur = c.info?.error ?? c.error ?? c.cause;
  }
  return parts.join(" | ") || String(err);
}

/** Revert data wherever ethers or the node put it (error.data, info.error.data, error.error.data, …). */
export function revertData(err: unknown): string | undefined {
  const queue: Array<{ value: unknown; depth: number }> = [{ value: err, depth: 0 }];
  while (queue.length > 0) {
    const { value, depth } = queue.shift()!;
    if (!value || typeof value !== "object" || depth > 5) continue;
    const v = value as Record<string, unknown>;
    if (typeof v.data === "string" && /^0x([0-9a-fA-F]{2})*$/.test(v.data) && v.data.length >= 10) return v.data;
    if (v.data && typeof v.data === "object") queue.push({ value: v.data, depth: depth + 1 });
    for (const key of ["revert", "info", "error", "cause", "payload"]) if (v[key]) queue.push({ value: v[key], depth: depth + 1 });
  }
  return undefined;
}

function decode(data: string, contract?: Contract | ContractName): ErrorDescription | undefined {
  const own = typeof contract === "string" ? new Interface(loadArtifact(contract).abi) : contract?.interface;
  for (const iface of [own, productErrors()]) {
    if (!iface) continue;
    try {
      const parsed = iface.parseError(data);
      if (parsed) return parsed;
    } catch {
      // not this interface's error; try the next
    }
  }
  return undefined;
}

/** Arguments keyed by the parameter names the ABI gives (arg0, arg1… where it gives none). */
function namedArgs(decoded: ErrorDescription): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  decoded.fragment.inputs.forEach((input, i) => (out[input.name || `arg${i}`] = plain(decoded.args[i])));
  return out;
}

function plain(value: unknown): unknown {
  if (typeof value === "bigint") return value.toString();
  if (Array.isArray(value)) return (value as Result).map(plain);
  return value;
}

function formatArgs(args: Record<string, unknown>): string {
  return Object.entries(args)
    .map(([k, v]) => `${k}=${Array.isArray(v) ? `[${v.join(", ")}]` : String(v)}`)
    .join(", ");
}
