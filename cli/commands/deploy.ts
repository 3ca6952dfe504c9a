import { Command } from "commander";
import { QuackError } from "../../protocol/errors.js";
import { makeOutput } from "../lib/output.js";
import { deployAll, DEFAULT_ACK_WINDOW_SECONDS, DEFAULT_DISPUTE_WINDOW_SECONDS, type DeployEvent } from "../lib/chain/deploy.js";
import { parseAmount } from "../../protocol/chain/units.js";
import { parseWhole } from "../lib/flags.js";
import { displayPath } from "../../protocol/chain/deployments.js";
import { addChainOptions, openChain, type ChainOptions } from "../lib/chain/options.js";

interface DeployFlags extends ChainOptions {
  duckToken?: string;
  force?: boolean;
  ackWindow: string;
  minStake: string;
  disputeWindow: string;
}

export function deployCommand(): Command {
  const cmd = new Command("deploy").description("deploy DuckToken, ComputeMarketplace, TrainingPool and InferencePool");
  addChainOptions(cmd, { defaultAccount: "operator" })
    .option("--duck-token <address>", "existing $DUCK token to use (required on DuckChain; env QUACKMESH_DUCK_TOKEN)")
    .option("--force", "replace a deployment whose contracts are still live")
    .option("--ack-window <seconds>", "time a provider has to acknowledge a rental", String(DEFAULT_ACK_WINDOW_SECONDS))
    .option("--min-stake <duck>", "smallest DUCK stake a machine listing needs", "0")
    .option("--dispute-window <seconds>", "time after a rental's end for its arbiter's downtime statement", String(DEFAULT_DISPUTE_WINDOW_SECONDS))
    .addHelpText(
      "after",
      `
On the local chain DuckToken is deployed too and the operator dev account deploys by default.
On DuckChain the real $DUCK address must be configured and a funded key given. The result goes
to deployments/<network>.json (folder: QUACKMESH_DEPLOYMENTS), which every other command reads.

Examples:
  $ quackmesh deploy                                     # local chain on 127.0.0.1:8545
  $ quackmesh deploy --rpc http://127.0.0.1:9545 --force # another local node; replace live contracts
  $ quackmesh deploy --min-stake 10                      # listings must stake at least 10 DUCK
  $ QUACKMESH_DUCK_TOKEN=0x… quackmesh deploy --network duckchain-testnet --key ./deployer.key --json`,
    )
    .action(async (flags: DeployFlags) => {
      const out = makeOutput(Boolean(flags.json));
      if (!/^\d+$/.test(flags.ackWindow.trim())) {
        throw new QuackError("BAD_ARGUMENT", `--ack-window '${flags.ackWindow}' is not a whole number of seconds.`, { fix: "Pass e.g. --ack-window 600." });
      }
      const ackWindowSeconds = Number(flags.ackWindow);
      const minStake = parseAmount(flags.minStake, "--min-stake");
      const disputeWindowSeconds = parseWhole(flags.disputeWindow, "--dispute-window", 1, 0xffffffff);
      const ctx = await openChain(flags, { defaultAccount: "operator" });
      try {
        out.info(`Deploying to ${ctx.network.name} (chain id ${ctx.network.chainId}, ${ctx.network.rpcUrl}) from ${ctx.signer.address}…`);
        const result = await deployAll(ctx.settings, ctx.signer, {
          duckToken: flags.duckToken,
          force: flags.force,
          ackWindowSeconds,
          minStake,
          disputeWindowSeconds,
          onEvent: (e) => out.emit({ ...e }, describe(e)),
        });
        const { file, ...deployment } = result;
        out.emit(
          { event: "deployment", file, ...deployment },
          `Wrote ${displayPath(file)} (network ${deployment.network}, from block ${deployment.block}).`,
        );
      } finally {
        ctx.close();
      }
    });
  return cmd;
}

function describe(e: DeployEvent): string {
  switch (e.event) {
    case "replacing":
      return e.reason === "force"
        ? `Replacing the live deployment in ${displayPath(e.file)} (--force).`
        : `The contracts in ${displayPath(e.file)} are gone from the chain (${e.missing.join(", ")}); deploying new ones.`;
    case "using-duck":
      return `Using $DUCK at ${e.address}.`;
    case "deployed":
      return `  ${e.contract.padEnd(18)} ${e.address}  (gas ${e.gasUsed})`;
  }
}
