/**
 * Command-line wrapper of the MNIST splitter (cli/lib/data/splitMnist.ts):
 *   node dist/scripts/split-mnist.js --out DIR --clients 3 [--iid | --alpha 0.5] [--seed 1]
 */
import { realpathSync } from "node:fs";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { QuackError } from "../protocol/errors.js";
import { splitMnist, type SplitOptions } from "../cli/lib/data/splitMnist.js";

const badArg = (message: string, fix: string) => new QuackError("BAD_ARGUMENT", message, { fix });

const USAGE = `usage: node dist/scripts/split-mnist.js --out DIR --clients N [--iid | --alpha A] [--seed S] [--validation V] [--per-client P] [--dataset mnist|fashion-mnist]
Writes DIR/contributor-1…N, DIR/validation (V samples from the train split, default 2000) and DIR/test (the test split),
then prints a JSON summary. --alpha A splits each class by Dirichlet(A) shares (non-IID); the default is IID.
--dataset fashion-mnist splits Fashion-MNIST (Debian: apt-get install dataset-fashion-mnist) instead of MNIST.`;

function numberFlag(v: string | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === "" || !Number.isFinite(n)) throw badArg(`--${flag} ${JSON.stringify(v)} is not a number.`, USAGE);
  return n;
}

async function main(argv: string[]): Promise<void> {
  try {
    const { values } = parseArgs({
      args: argv,
      options: {
        out: { type: "string" }, clients: { type: "string" }, iid: { type: "boolean" }, alpha: { type: "string" },
        seed: { type: "string" }, dataset: { type: "string" }, validation: { type: "string" }, "per-client": { type: "string" }, help: { type: "boolean", short: "h" },
      },
    });
    if (values.help) {
      process.stdout.write(USAGE + "\n");
      return;
    }
    if (values.out === undefined || values.clients === undefined) throw badArg("--out and --clients are required.", USAGE);
    const summary = await splitMnist({
      out: values.out,
      dataset: values.dataset as SplitOptions["dataset"],
      clients: numberFlag(values.clients, "clients") as number,
      iid: values.iid,
      alpha: numberFlag(values.alpha, "alpha"),
      seed: numberFlag(values.seed, "seed"),
      validation: numberFlag(values.validation, "validation"),
      perClient: numberFlag(values["per-client"], "per-client"),
    });
    process.stdout.write(JSON.stringify(summary, null, 2) + "\n");
  } catch (e) {
    const err = e instanceof QuackError ? e.toJSON() : { error: "BAD_ARGUMENT", message: (e as Error).message, fix: USAGE };
    process.stderr.write(JSON.stringify(err, null, 2) + "\n");
    process.exitCode = 2;
  }
}

// Node runs a script by its real path: compare real paths, so the script also runs through a link to dist/.
if (process.argv[1] && realpathSync(resolve(process.argv[1])) === realpathSync(fileURLToPath(import.meta.url))) void main(process.argv.slice(2));
