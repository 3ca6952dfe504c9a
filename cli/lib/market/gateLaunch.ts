import { existsSync } from "node:fs";
import { isAbsolute, join } from "node:path";
import { QuackError } from "../../../protocol/errors.js";
import { packageRoot } from "../../../protocol/package.js";

/** How sshd starts the gate for a rental's key. */
export interface GateLaunch {
  /** Program and leading arguments, e.g. [node, /abs/dist/cli/lib/market/gate.js]. */
  argv: string[];
  /** CLI entry the worker runs from (default: the gate's own dist/cli/index.js). */
  workerEntry?: string;
  /** sftp-server binary (default: the first of the usual OpenSSH locations). */
  sftpServer?: string;
}

/** The built gate next to this package's CLI: node dist/cli/lib/market/gate.js. */
export function defaultGateLaunch(): GateLaunch {
  const gate = join(packageRoot(), "dist", "cli", "lib", "market", "gate.js");
  if (!existsSync(gate)) {
    throw new QuackError("GATE_NOT_BUILT", `The SSH gate ${gate} is missing, so renter keys cannot be restricted.`, {
      fix: "Build the CLI first: `npm run build:ts` (npx tsc -p tsconfig.json).",
    });
  }
  return { argv: [process.execPath, gate] };
}

/** Characters that need no shell quoting. */
const PLAIN = /^[A-Za-z0-9_./:=@%+,-]+$/;

/**
 * One word for the shell sshd runs the forced command with. Words holding `"`, `\`, `'` or
 * control characters are refused: they could break out of the authorized_keys option.
 */
function shellWord(word: string, what: string): string {
  if (word === "" || /["\\'\x00-\x1f\x7f]/.test(word)) {
    throw new QuackError("BAD_GATE_PATH", `${what} '${word}' is empty or holds a quote, backslash or control character.`, {
      fix: "Use paths made of letters, digits, spaces and _./:=@%+,- only.",
    });
  }
  return PLAIN.test(word) ? word : `'${word}'`;
}

/** The `command="…"` value for a rental's key: the gate with the rental id and rentals root. */
export function forcedCommand(launch: GateLaunch, rentalId: bigint | number | string, rentalsRoot: string): string {
  const id = String(rentalId);
  if (!/^\d+$/.test(id)) throw new QuackError("BAD_ID", `Rental id '${id}' is not a number.`);
  if (!isAbsolute(rentalsRoot)) throw new QuackError("BAD_GATE_PATH", `The rentals folder '${rentalsRoot}' is not an absolute path.`);
  if (launch.argv.length === 0) throw new QuackError("BAD_GATE_PATH", "The gate's command line is empty.");
  const words = [...launch.argv.map((w) => shellWord(w, "Gate program")), "--rental", id, "--root", shellWord(rentalsRoot, "Rentals folder")];
  if (launch.workerEntry !== undefined) words.push("--worker-entry", shellWord(launch.workerEntry, "Worker entry"));
  if (launch.sftpServer !== undefined) words.push("--sftp-server", shellWord(launch.sftpServer, "sftp-server"));
  // `exec`: the gate replaces the login shell, so its parent is the session's sshd (gate.ts
  // watches that parent to end the worker when the session closes).
  return ["exec", ...words].join(" ");
}
