import { Command } from "commander";
import { QuackError, isQuackError } from "../../protocol/errors.js";
import { makeOutput } from "../lib/output.js";
import { parseWhole } from "../lib/flags.js";
import { onStopSignal } from "../lib/signals.js";
import { runDemo } from "../lib/demo/run.js";
import { parseDemoModel } from "../lib/demo/model.js";
import { DEFAULT_DEMO, type DemoResult } from "../lib/demo/types.js";
import { DemoView, demoLine, demoSummary, initialDemo, reduceDemo } from "../views/DemoView.js";
import { eventSink } from "../views/live.js";

interface DemoFlags {
  contributors: string;
  rounds: string;
  keep?: string;
  alpha: string;
  epochs: string;
  lr: string;
  batch: string;
  momentum: string;
  threshold: string;
  model: string;
  hidden: string;
  normalize: boolean;
  market: boolean;
  keepOpen?: boolean;
  json?: boolean;
}

function positive(text: string, flag: string, max = Infinity): number {
  const v = Number(String(text).trim());
  if (String(text).trim() === "" || !(v > 0 && v <= max)) throw new QuackError("BAD_ARGUMENT", `${flag} '${text}' is not a positive number${max < Infinity ? ` up to ${max}` : ""}.`, { fix: `See \`quackmesh demo --help\`.` });
  return v;
}

export function demoCommand(): Command {
  const d = DEFAULT_DEMO;
  return new Command("demo")
    .description("the whole system on one machine on real MNIST")
    .option("--contributors <n>", "contributor processes (2-14)", String(d.contributors))
    .option("--rounds <n>", "federated rounds", String(d.rounds))
    .option("--keep <dir>", "keep the deployment, orchestrator data and data split in this folder")
    .option("--alpha <a>", "Dirichlet concentration of the non-IID split (smaller: more skewed)", String(d.alpha))
    .option("--epochs <n>", "local epochs per round", String(d.epochs))
    .option("--lr <rate>", "learning rate", String(d.lr))
    .option("--batch <n>", "mini-batch size", String(d.batch))
    .option("--momentum <m>", "SGD momentum", String(d.momentum))
    .option("--threshold <fraction>", "least validation accuracy an update must reach to be paid", String(d.threshold))
    .option("--model <mlp|cnn>", "the job's model: mlp (784-H-10, fast) or cnn (a small convolutional network, slower)", d.model)
    .option("--hidden <units>", "hidden units of the 784-H-10 model (--model mlp)", String(d.hidden))
    .option("--no-normalize", "train on raw pixels (the spec standardizes them by default)")
    .option("--no-market", "skip the compute marketplace part (3 providers with their own sshd, rent, refund)")
    .option("--keep-open", "after the demo, keep the chain, orchestrator and dashboard running until Ctrl-C")
    .option("--json", "one JSON event per line; the last line is the result")
    .addHelpText(
      "after",
      `
Starts a local chain, deploys the contracts, starts the orchestrator, funds the accounts, starts
3 compute providers (\`quackmesh provide --sshd\`, a real sshd each), lists the market, rents the
3 machines and ends the rentals at once for a refund (skip with --no-market), splits
MNIST train non-IID across the contributors, creates the job (MLP 784-128-10; with --model cnn
a small CNN: conv 8 5×5 stride 2, conv 16 3×3 stride 2, dense 10), runs one
\`quackmesh contribute\` process per contributor, evaluates each round's global model on the
MNIST test set, finishes the job and shows the DUCK paid and the requester's refund.
The dashboard's URL is printed once the orchestrator is up (open it to watch the rounds live).
Everything it started is stopped at the end, on failure and on Ctrl-C; with --keep-open the
chain, the orchestrator and its dashboard stay up after the result until Ctrl-C.

With --json the last line is {rounds:[{round,testAccuracy}], contributors:[{address,paid}],
refund, finalTestAccuracy, wallSeconds} (DUCK as decimal strings); with --keep-open it is
followed by {"event":"open","dashboard":URL} while everything stays up.

Examples:
  $ quackmesh demo
  $ quackmesh demo --model cnn --no-market   # the federated rounds with a small CNN
  $ npm run demo -- --contributors 4 --rounds 5 --json
  $ npm run demo -- --keep-open        # then open the printed dashboard URL`,
    )
    .action(async (flags: DemoFlags) => {
      const out = makeOutput(Boolean(flags.json));
      const options = {
        contributors: parseWhole(flags.contributors, "--contributors", 2, 14),
        rounds: parseWhole(flags.rounds, "--rounds", 1, 1000),
        keep: flags.keep,
        alpha: positive(flags.alpha, "--alpha"),
        epochs: parseWhole(flags.epochs, "--epochs", 1, 100),
        lr: positive(flags.lr, "--lr", 10),
        batch: parseWhole(flags.batch, "--batch", 1, 60000),
        momentum: Number(flags.momentum),
        threshold: Number(flags.threshold),
        model: parseDemoModel(flags.model),
        hidden: parseWhole(flags.hidden, "--hidden", 1, 4096),
        normalize: flags.normalize,
        market: flags.market,
      };
      if (!(options.momentum >= 0 && options.momentum < 1)) throw new QuackError("BAD_ARGUMENT", `--momentum '${flags.momentum}' is not in [0, 1).`, { fix: "Pass e.g. --momentum 0.9." });
      const sink = eventSink({ json: out.json, view: DemoView, reduce: reduceDemo, initial: initialDemo, line: demoLine });
      const stop = new AbortController();
      const offSignal = onStopSignal(() => stop.abort());
      let result;
      let shown = false;
      // --keep-open: show the result now, then hold everything up until Ctrl-C.
      const keepOpen = flags.keepOpen
        ? async (r: DemoResult, dashboard: string) => {
            await sink.close();
            out.emit({ ...r }, demoSummary(r));
            shown = true;
            out.emit({ event: "open", dashboard }, `Dashboard: ${dashboard}\nThe chain, the orchestrator and the dashboard stay up; Ctrl-C stops them.`);
            if (!stop.signal.aborted) await new Promise((resolve) => stop.signal.addEventListener("abort", resolve, { once: true }));
          }
        : undefined;
      try {
        // Once the result is shown, the stops that follow are not news (the result stays last).
        result = await runDemo({ ...options, keepOpen, signal: stop.signal }, (e) => void (shown || sink.push(e)));
      } catch (err) {
        if (isQuackError(err) && err.code === "ABORTED") {
          await sink.close();
          out.info("Stopped; every process the demo started has been stopped.");
          process.exitCode = 130;
          return;
        }
        throw err;
      } finally {
        offSignal();
        await sink.close();
      }
      if (!shown) out.emit({ ...result }, demoSummary(result));
    });
}
