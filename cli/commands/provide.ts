import { Command } from "commander";
import { join, resolve } from "node:path";
import { createElement } from "react";
import { render } from "ink";
import { QuackError } from "../../protocol/errors.js";
import { makeOutput } from "../lib/output.js";
import { addChainOptions, openChain, type ChainOptions } from "../lib/chain/options.js";
import { formatAmount, parseAmount } from "../../protocol/chain/units.js";
import { parseAddress } from "../../protocol/chain/networks.js";
import { loadMachineKey, machineKeyFile } from "../lib/market/machineKey.js";
import { startHeartbeats } from "../lib/market/liveness.js";
import { orchestratorUrl } from "../lib/job/connect.js";
import { OrchestratorClient } from "../../orchestrator/client.js";
import { parsePrice, parseWhole } from "../lib/flags.js";
import { addRentalServerOptions, checkRentalServerFlags, onGatewayEvent, startRentalServer, type RentalServer, type RentalServerFlags } from "../lib/market/gatewayChoice.js";
import { ProviderAgent, type ProviderEvents } from "../lib/market/provider.js";
import { ProvideView } from "../lib/market/ProvideView.js";
import { initialProvideState, provideEventJson, reduceProvide, type ProvideEvent } from "../lib/market/provideView.js";
import { waitForSignal } from "../lib/signals.js";
import { describeSpecs, detectSpecs } from "../../protocol/market/specs.js";

interface ProvideFlags extends ChainOptions, RentalServerFlags {
  price?: string;
  hoursMax: string;
  bench?: string;
  rentalsDir?: string;
  poll: string;
  stake?: string;
  trustArbiter?: string[];
  orchestrator?: string;
}

const EVENTS = ["listed", "declined", "rented", "keyInstalled", "acknowledged", "keyRemoved", "withdrawn", "unlisted", "error"] as const;

export function provideCommand(): Command {
  const cmd = new Command("provide").description("list this machine on the compute marketplace and serve rentals until Ctrl-C");
  return addRentalServerOptions(addChainOptions(cmd, { defaultAccount: "provider1" }).option("--price <duck>", "price in DUCK per hour (required)"))
    .option("--hours-max <n>", "longest rental accepted, in hours (0 = no limit)", "0")
    .option("--bench <score>", "score from `quackmesh bench`, published with the specs")
    .option("--rentals-dir <dir>", "folder for the rentals' files (default $QUACKMESH_HOME/rentals)")
    .option("--poll <seconds>", "how often to check the chain", "2")
    .option("--stake <duck>", "DUCK to add to this machine's stake (default: what it lacks of the marketplace's minimum)")
    .option("--orchestrator <url>", "where signed liveness records go every 15 s, so renters see this machine alive (env QUACKMESH_ORCHESTRATOR)")
    .option("--trust-arbiter <address...>", "arbiters whose downtime statements you accept besides the --orchestrator's evaluator, or 'any'; rentals naming another are declined")
    .addHelpText(
      "after",
      `
Renters log in to an SSH gateway built into this command (no OpenSSH needed): only the keys of
current rentals, only \`quackmesh worker\` and SFTP, confined to the rental's folder and capped
(--disk-per-rental); no shell, no forwarding. A key stops working when its rental ends, is
cancelled or runs out, and its open connections close. --sshd (a dedicated OpenSSH server) and
--system-sshd (yours) put the key in authorized_keys behind a forced command instead; there
SFTP is not confined to the rental's folder. Earnings are withdrawn as they
accrue. The machine is listed under a key kept in $QUACKMESH_HOME/provider/machine-key, so a
restart relists the same machine id with its record. A rental may name an arbiter whose signed
downtime statement refunds the renter (from your stake once you withdrew); rentals naming an
arbiter you do not trust (your --orchestrator's evaluator, and --trust-arbiter) are declined
with a full refund and no penalty.
Ctrl-C unlists the machine, removes every renter key and stops the gateway (or dedicated sshd).

Examples:
  $ quackmesh provide --price 5
  $ quackmesh provide --price 5 --sshd-host 0.0.0.0 --sshd-port 2222 --endpoint quackmesh@203.0.113.7:2222
  $ quackmesh provide --price 5 --sshd
  $ quackmesh provide --price 5 --sshd --stake 20 --trust-arbiter 0x70997970C51812dc3A010C7d01b50e0d17dc79C8
  $ quackmesh provide --price 2.5 --hours-max 24 --system-sshd --endpoint quack@203.0.113.7:22 --key ./provider.key
  $ quackmesh provide --price 5 --json      # one JSON line per event`,
    )
    .action(async (flags: ProvideFlags) => {
      const json = Boolean(flags.json);
      const out = makeOutput(json);
      if (flags.price === undefined) throw new QuackError("MISSING_OPTION", "--price is required.", { fix: "Pass the price per hour in DUCK, e.g. --price 5." });
      const price = parsePrice(flags.price);
      const maxHours = parseWhole(flags.hoursMax, "--hours-max", 0, 0xffffffff);
      const pollMs = parseWhole(flags.poll, "--poll", 1, 3600) * 1000;
      const bench = flags.bench === undefined ? undefined : Number(flags.bench);
      const stake = flags.stake === undefined ? undefined : parseAmount(flags.stake, "--stake");
      trustedArbiters(flags.trustArbiter);
      checkRentalServerFlags(flags);
      const specs = await detectSpecs({ bench });
      const stop = waitForSignal();
      const ctx = await openChain(flags, { defaultAccount: "provider1" });
      let server: RentalServer | undefined;
      let stopBeats = () => {};
      try {
        const contracts = await ctx.contracts();
        const rentalsRoot = resolve(flags.rentalsDir ?? join(ctx.settings.home, "rentals"));
        server = await startRentalServer(flags, ctx.settings.home, rentalsRoot);
        // Announced with the listing, so renters pin the server's key from the start.
        if (server.hostKeyFingerprint) specs.hostKey = server.hostKeyFingerprint;
        const endpoint = server.endpoint;
        const agent = new ProviderAgent({
          marketplace: contracts.marketplace,
          duck: contracts.duck,
          fromBlock: contracts.deployment.block,
          arbiters: withOrchestrator(trustedArbiters(flags.trustArbiter), await orchestratorArbiter(orchestratorUrl(flags))),
          provider: ctx.provider,
          access: server.access,
          rentalsRoot,
          pollMs,
        });

        let state = initialProvideState({ endpoint, price: formatAmount(price), maxHours, specs: describeSpecs(specs) });
        const live = process.stdout.isTTY && !json ? render(createElement(ProvideView, { state })) : undefined;
        const onEvent = (ev: ProvideEvent) => {
          state = reduceProvide(state, ev);
          if (live) live.rerender(createElement(ProvideView, { state }));
          else out.emit(provideEventJson(ev), humanLine(ev));
        };
        for (const name of EVENTS) agent.on(name, (e: ProviderEvents[typeof name]) => onEvent({ name, e } as ProvideEvent));
        // The gateway's refusals and logins go to the --json log only (the live view shows rentals).
        if (!live) onGatewayEvent(server, (e) => out.emit({ event: "gateway", ...e }, `gateway: ${e.kind}${e.rentalId ? ` (rental ${e.rentalId})` : ""} from ${e.address}: ${e.message}`));

        if (!live) {
          out.emit(
            { event: "starting", provider: ctx.signer.address, endpoint, server: server.kind, ...server.summary, rentalsRoot, specs },
            `Providing ${describeSpecs(specs)} as ${ctx.signer.address} at ${endpoint} (${server.kind === "gateway" ? "embedded gateway" : server.kind === "sshd" ? "dedicated sshd" : "this machine's sshd"}` +
              (server.hostKeyFingerprint ? `, host key ${server.hostKeyFingerprint})` : ")"),
          );
        }
        try {
          const machineId = await agent.listMachine(specs, price, endpoint, maxHours, { machineKey: loadMachineKey(machineKeyFile(ctx.settings.home)), stake });
          agent.start();
          // Renters skip machines without a recent signed sign of life; report only the first failure of a streak.
          let failing = false;
          const target = { url: orchestratorUrl(flags), chainId: ctx.network.chainId, marketplace: contracts.deployment.contracts.ComputeMarketplace };
          stopBeats = startHeartbeats(target, ctx.signer, machineId, {
            onBeat: () => (failing = false),
            onError: (error) => {
              if (!failing) onEvent({ name: "error", e: { error } });
              failing = true;
            },
          });
          const signal = await stop.promise;
          await agent.stop();
          live?.unmount();
          out.emit({ event: "stopped", signal, machineId: agent.machineId, earned: agent.earnings() }, `Stopped (${signal}): machine ${agent.machineId} unlisted, renter keys removed, ${formatAmount(agent.earnings())} DUCK earned.`);
        } catch (err) {
          await agent.stop().catch(() => {});
          live?.unmount();
          throw err;
        }
      } finally {
        stopBeats();
        stop.dispose();
        await server?.stop();
        ctx.close();
      }
    });
}

/**
 * The orchestrator this provider reports its liveness to is trusted as an arbiter too: its
 * evaluator address from GET /api/info, when it answers (nothing is trusted by default otherwise).
 */
async function orchestratorArbiter(url: string): Promise<string | undefined> {
  try {
    const info = (await new OrchestratorClient(url, { timeoutMs: 5000 }).info()) as { evaluator?: string };
    return info.evaluator === undefined ? undefined : parseAddress(info.evaluator, "The orchestrator's evaluator address");
  } catch {
    return undefined;
  }
}

function withOrchestrator(list: string[] | "any", arbiter: string | undefined): string[] | "any" {
  return list === "any" || arbiter === undefined ? list : [...list, arbiter];
}

/** --trust-arbiter: addresses, or "any". */
function trustedArbiters(values: string[] | undefined): string[] | "any" {
  if (values === undefined) return [];
  if (values.length === 1 && values[0] === "any") return "any";
  return values.map((v) => parseAddress(v, "--trust-arbiter"));
}

function humanLine(ev: ProvideEvent): string {
  switch (ev.name) {
    case "declined":
      return `Rental ${ev.e.rentalId}: declined (${ev.e.reason}); the renter got everything back.`;
    case "listed":
      return `${ev.e.relisted ? "Relisted" : "Listed"} machine ${ev.e.machineId} (stake ${formatAmount(ev.e.stake)} DUCK) at ${formatAmount(ev.e.pricePerHour)} DUCK/h on ${ev.e.endpoint} (tx ${ev.e.txHash}).`;
    case "unlisted":
      return `Unlisted machine ${ev.e.machineId}.`;
    case "rented":
      return `Rental ${ev.e.rentalId}: ${ev.e.renter} paid ${formatAmount(ev.e.amount)} DUCK for ${ev.e.hours} h.`;
    case "keyInstalled":
      return `Rental ${ev.e.rentalId}: renter key installed in ${ev.e.file}; files in ${ev.e.folder}.`;
    case "acknowledged":
      return `Rental ${ev.e.rentalId}: acknowledged; runs until ${new Date(ev.e.endsAt * 1000).toISOString()} (chain time).`;
    case "keyRemoved":
      return `Rental ${ev.e.rentalId}: renter key removed (${ev.e.reason}).`;
    case "withdrawn":
      return `Rental ${ev.e.rentalId}: withdrew ${formatAmount(ev.e.amount)} DUCK (total ${formatAmount(ev.e.total)}).`;
    case "error":
      return `error${ev.e.rentalId === undefined ? "" : ` (rental ${ev.e.rentalId})`}: ${ev.e.error.message}${ev.e.error.fix ? `\n  fix: ${ev.e.error.fix}` : ""}`;
  }
}
