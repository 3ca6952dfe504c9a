import { Command } from "commander";
import type { Contract } from "ethers";
import { join, resolve } from "node:path";
import { QuackError, isQuackError } from "../../protocol/errors.js";
import { makeOutput, type Output } from "../lib/output.js";
import { addChainOptions, openChain, type ChainOptions } from "../lib/chain/options.js";
import { formatAmount } from "../../protocol/chain/units.js";
import { parseEndpoint } from "../../protocol/market/endpoint.js";
import { parseAddress } from "../../protocol/chain/networks.js";
import { parseId, parsePrice, parseWhole, TRAIN_OPTIONS } from "../lib/flags.js";
import { rentalCosts } from "../lib/history.js";
import { cancelRental, endRental, listRentals, rentMachines, settleDowntime, waitForAcks, type DowntimeSettlement, type RentEvent, type RentedMachine } from "../lib/market/renter.js";
import { ensureKeyPair } from "../../protocol/market/sshKeys.js";
import { chainNow, explainRentalError, type MarketMachine } from "../lib/market/marketplace.js";
import { chainClock } from "../lib/chain/clock.js";
import { SCALE_OPTION } from "../lib/data/scale.js";
import { readLiveness, withLiveness } from "../lib/market/liveness.js";
import { OrchestratorClient } from "../../orchestrator/client.js";
import type { ModelSpec } from "../../native/types.js";
import { clusterLiveness, planCluster, precheckCluster, rentCluster, uploadCluster } from "../lib/job/cluster.js";
import { addOrchestratorOption, orchestratorUrl, type OrchestratorFlags } from "../lib/job/connect.js";
import { emitCluster, notAcknowledged, renderClusterEvent } from "../views/clusterOutput.js";

interface RentFlags extends ChainOptions, OrchestratorFlags {
  count?: string;
  hours?: string;
  maxPrice?: string;
  minCores?: string;
  gpu?: boolean;
  job?: string;
  sshKey?: string;
  ackTimeout: string;
  train?: string;
  scale?: string;
  epochs?: string;
  batch?: string;
  lr?: string;
  momentum?: string;
  arbiter?: string;
  liveness: boolean;
}

export function rentCommand(): Command {
  const rent = new Command("rent").description("rent the cheapest matching machines for a job; end, cancel or list rentals").enablePositionalOptions();
  addChainOptions(rent, { defaultAccount: "requester" })
    .option("--count <n>", "how many machines (required to rent)")
    .option("--hours <h>", "hours to pay for (required to rent)")
    .option("--max-price <duck>", "highest price per hour accepted")
    .option("--min-cores <n>", "only machines with at least this many CPU cores")
    .option("--gpu", "only machines with a GPU")
    .option("--job <id>", "training job the machines serve", "0")
    .option("--arbiter <address|orchestrator>", "who signs the rentals' downtime statements: an address, or the orchestrator's evaluator (default: none; with --train always the orchestrator, which also rents only machines it has liveness records of)")
    .option("--no-liveness", "rent by the chain alone, without the orchestrator's liveness records (a dead machine then holds the rent until its acknowledgement window closes)")
    .option("--ssh-key <file>", "your SSH private key (its .pub is sent); default $QUACKMESH_HOME/ssh/id_ed25519, generated if absent")
    .option("--ack-timeout <seconds>", "how long to wait for the providers to acknowledge (with --train: and for the workers)", "120")
    .option("--train <dir>", "make the machines --job's cluster: hand this training data and the rentals' key to the orchestrator")
    .option(SCALE_OPTION[0], `with --train: ${SCALE_OPTION[1]}`)
    .option("--orchestrator <url>", "with --train: the orchestrator running the job (env QUACKMESH_ORCHESTRATOR)")
    .option(...TRAIN_OPTIONS.epochs("with --train: "))
    .option(...TRAIN_OPTIONS.batch("with --train: "))
    .option(...TRAIN_OPTIONS.lr("with --train: "))
    .option(...TRAIN_OPTIONS.momentum("with --train: "))
    .addHelpText(
      "after",
      `
Renting approves the marketplace for the total and escrows hours × price per machine. The
providers install your SSH key (worker and SFTP only) and acknowledge; the clock starts then.
On the local chain, \`rent cancel\` and \`rent settle\` mine an empty block first, so the chain's
clock is the wall clock when they check the acknowledgement window or the paid time.

Examples:
  $ quackmesh rent --count 3 --hours 2 --max-price 10 --job 1
  $ quackmesh rent --count 3 --hours 2 --job 1 --train ./train   # the orchestrator runs job 1 on them
  $ quackmesh rent list
  $ quackmesh rent end 4 6      # stop early: the unserved part comes back
  $ quackmesh rent cancel 5 7   # never acknowledged: full refund after the window
  $ quackmesh rent settle 4     # the arbiter's downtime statement refunds the time not served`,
    )
    .action((flags: RentFlags) => rentAction(flags));
  rent.addCommand(endCommand());
  rent.addCommand(cancelCommand());
  rent.addCommand(settleCommand());
  rent.addCommand(listCommand());
  return rent;
}

async function rentAction(flags: RentFlags): Promise<void> {
  const out = makeOutput(Boolean(flags.json));
  if (flags.count === undefined || flags.hours === undefined) {
    throw new QuackError("MISSING_OPTION", "Renting needs --count and --hours.", { fix: "e.g. quackmesh rent --count 3 --hours 2 (or `quackmesh rent --help`)." });
  }
  const count = parseWhole(flags.count, "--count", 1, 1000);
  const hours = parseWhole(flags.hours, "--hours", 1, 0xffffffff);
  const ackTimeoutMs = parseWhole(flags.ackTimeout, "--ack-timeout", 0, 86_400) * 1000;
  const filter = {
    maxPrice: flags.maxPrice === undefined ? undefined : parsePrice(flags.maxPrice, "--max-price"),
    minCores: flags.minCores === undefined ? undefined : parseWhole(flags.minCores, "--min-cores", 0, 1_000_000),
    gpu: Boolean(flags.gpu),
  };
  const jobId = BigInt(parseWhole(flags.job ?? "0", "--job", 0, Number.MAX_SAFE_INTEGER));
  if (flags.train !== undefined) return rentJobCluster(flags, out, { count, hours, jobId: Number(jobId), ackTimeoutMs });
  const ctx = await openChain(flags, { defaultAccount: "requester" });
  try {
    const keyFile = resolve(flags.sshKey ?? join(ctx.settings.home, "ssh", "id_ed25519"));
    const pair = await ensureKeyPair(keyFile);
    if (pair.created) out.info(`Generated the SSH key ${keyFile} (public part ${pair.publicKeyFile}).`);
    const contracts = await ctx.contracts();
    const arbiter = await resolveArbiter(flags);
    const target = { url: orchestratorUrl(flags), chainId: ctx.network.chainId, marketplace: contracts.deployment.contracts.ComputeMarketplace };
    const liveness = flags.liveness ? async (ms: MarketMachine[]) => withLiveness(ms, await readLiveness(target, new Map(ms.map((m) => [m.machineId, m.provider])))) : undefined;
    const rented = await rentMachines(contracts, ctx.provider, ctx.signer.address, contracts.deployment.block, { count, hours, jobId, sshPublicKey: `${pair.publicKey.type} ${pair.publicKey.base64}`, filter, arbiter, liveness }, (e) =>
      renderRentEvent(out, e),
    );
    out.info(`Waiting up to ${ackTimeoutMs / 1000} s for the providers to acknowledge…`);
    const acks = await waitForAcks(contracts.marketplace, rented.map((r) => r.rentalId), { timeoutMs: ackTimeoutMs });
    const machines = rented.map((r) => ({ ...clusterEntry(r, acks.acknowledged.includes(r.rentalId)), declined: acks.declined.includes(r.rentalId) }));
    const total = rented.reduce((s, r) => s + r.amount, 0n);
    out.emit(
      { event: "cluster", jobId: jobId.toString(), sshKey: keyFile, hostKeys: "pinned on first connection", total: formatAmount(total), machines },
      `Cluster (job ${jobId}, ${formatAmount(total)} DUCK escrowed, key ${keyFile}):\n` +
        machines.map((m) => `  rental ${m.rentalId}  machine ${m.machineId}  ${m.endpoint}  provider ${m.provider}  ${m.acknowledged ? "ready" : "NOT acknowledged"}`).join("\n"),
    );
    if (acks.declined.length > 0) {
      throw new QuackError("NOT_ACKNOWLEDGED", `Rental${acks.declined.length === 1 ? "" : "s"} ${acks.declined.join(", ")} ${acks.declined.length === 1 ? "was" : "were"} declined by the provider and refunded in full.`, {
        fix: arbiter ? `The provider does not trust the arbiter ${arbiter}; rent again without --arbiter, or pick other machines.` : "Rent again: other machines may accept.",
        details: { declined: acks.declined.map(String) },
      });
    }
    if (acks.pending.length > 0) {
      throw new QuackError("NOT_ACKNOWLEDGED", `Rental${acks.pending.length === 1 ? "" : "s"} ${acks.pending.join(", ")} ${acks.pending.length === 1 ? "was" : "were"} not acknowledged within ${ackTimeoutMs / 1000} s.`, {
        fix: `Wait longer (\`quackmesh rent list\`), or once the acknowledgement window closed get a full refund: ${acks.pending.map((id) => `quackmesh rent cancel ${id}`).join("; ")}.`,
        details: { pending: acks.pending.map(String) },
      });
    }
  } finally {
    ctx.close();
  }
}

/**
 * `rent --job ID --train DIR`: the rented machines become the cluster of an existing job. The
 * job's requester hands the orchestrator a key made for this job and the training data, then rents.
 */
async function rentJobCluster(flags: RentFlags, out: Output, r: { count: number; hours: number; jobId: number; ackTimeoutMs: number }): Promise<void> {
  if (r.jobId === 0) throw new QuackError("MISSING_OPTION", "--train needs --job ID: the job the machines train.", { fix: "e.g. quackmesh rent --count 3 --hours 2 --job 1 --train ./train" });
  const ctx = await openChain(flags, { defaultAccount: "requester" });
  try {
    const c = await ctx.contracts();
    const client = new OrchestratorClient(orchestratorUrl(flags), { signer: ctx.signer });
    const job = await client.getJob(r.jobId);
    if (job.requester.toLowerCase() !== ctx.signer.address.toLowerCase()) {
      throw new QuackError("NOT_REQUESTER", `Job ${r.jobId} was requested by ${job.requester}; only that wallet can give it a cluster.`, { fix: "Pass the requester's --key." });
    }
    const plan = await planCluster({ cluster: String(r.count), hours: String(r.hours), train: flags.train!, maxPrice: flags.maxPrice, epochs: flags.epochs, batch: flags.batch, lr: flags.lr, momentum: flags.momentum, scale: flags.scale }, job.spec as ModelSpec);
    await precheckCluster(c, ctx.provider, ctx.signer.address, c.deployment.block, plan, 0n, clusterLiveness(client, c.marketplace, ctx.provider));
    const keyFile = resolve(flags.sshKey ?? join(ctx.settings.home, "ssh", `cluster-job-${r.jobId}_ed25519`));
    const pair = await uploadCluster(client, { jobId: r.jobId }, keyFile, plan);
    out.info(`Handed the cluster key ${keyFile} and ${plan.train.samples} training samples to the orchestrator.`);
    const { rentals, cluster, pending } = await rentCluster(
      { marketplace: c.marketplace, duck: c.duck, provider: ctx.provider, renter: ctx.signer.address, fromBlock: c.deployment.block, client },
      r.jobId,
      pair,
      plan,
      { timeoutMs: r.ackTimeoutMs, onEvent: (e) => renderClusterEvent(out, e) },
    );
    emitCluster(out, r.jobId, rentals, cluster, keyFile);
    if (pending.length > 0) throw notAcknowledged(pending);
  } finally {
    ctx.close();
  }
}

/** --arbiter: an address, "orchestrator" (its evaluator address, from GET /api/info), or none. */
async function resolveArbiter(flags: RentFlags): Promise<string | undefined> {
  if (flags.arbiter === undefined || flags.arbiter === "none") return undefined;
  if (flags.arbiter !== "orchestrator") return parseAddress(flags.arbiter, "--arbiter");
  const info = (await new OrchestratorClient(orchestratorUrl(flags)).info()) as { evaluator: string };
  return parseAddress(info.evaluator, "The orchestrator's evaluator address");
}

/**
 * A subcommand's chain flags. The program hands `rent`'s options to `rent` wherever they stand
 * (`rent end 3 --json` sets rent's --json), so the subcommand reads its own merged over them.
 */
function chainFlags(self: Command): ChainOptions {
  const all = self.optsWithGlobals<ChainOptions>();
  return { network: all.network, rpc: all.rpc, key: all.key, account: all.account, json: all.json };
}

function clusterEntry(r: RentedMachine, acknowledged: boolean) {
  let host: string | null = null;
  let port: number | null = null;
  let user: string | null = null;
  try {
    const ep = parseEndpoint(r.endpoint, "The listed endpoint");
    ({ host, port } = ep);
    user = ep.user ?? null;
  } catch {
    // Shown as listed; the cluster manager refuses it later with the reason.
  }
  return { rentalId: r.rentalId.toString(), machineId: r.machineId.toString(), endpoint: r.endpoint, host, port, user, provider: r.provider, pricePerHour: formatAmount(r.pricePerHour), amount: formatAmount(r.amount), hours: r.hours, acknowledged, txHash: r.txHash };
}

function renderRentEvent(out: Output, e: RentEvent): void {
  if (e.event === "matched") out.info(`${e.matched} machine${e.matched === 1 ? "" : "s"} match; renting costs ${formatAmount(e.cost)} DUCK.`);
  else if (e.event === "approved") out.info(`Approved the marketplace for ${formatAmount(e.amount)} DUCK (tx ${e.txHash}).`);
  else if (e.event === "skipped") out.info(`Machine ${e.machineId} was taken meanwhile (${e.reason}); trying the next one.`);
  else out.info(`Rented machine ${e.rental.machineId} as rental ${e.rental.rentalId} for ${formatAmount(e.rental.amount)} DUCK.`);
}

/**
 * `rent end` and `rent cancel`: one transaction per rental id, in the order given. Every id is
 * checked before anything is sent; a rental the marketplace refuses is reported in plain words
 * and the others still go through; the command fails at the end when any was refused.
 */
function rentalActionCommand<R extends { refund: bigint; txHash: string }>(
  name: "end" | "cancel" | "settle",
  description: string,
  act: (marketplace: Contract, rentalId: bigint, orchestrator: string) => Promise<R>,
  report: (rentalId: bigint, r: R) => [Record<string, unknown>, string],
): Command {
  const cmd = new Command(name).argument("<rentals...>", "rental ids (one or more)").description(description);
  addChainOptions(cmd, { defaultAccount: "requester" });
  // The arbiter's orchestrator also after the ids (`rent settle 4 --orchestrator URL`), as job cancel's hint names it.
  if (name !== "cancel") addOrchestratorOption(cmd);
  return cmd.action(async (ids: string[], _own: ChainOptions, self: Command) => {
    const flags = chainFlags(self);
    const out = makeOutput(Boolean(flags.json));
    const rentalIds = [...new Set(ids.map((id) => parseId(id, "Rental")))];
    const ctx = await openChain(flags, { defaultAccount: "requester" });
    try {
      const { marketplace } = await ctx.contracts();
      // Cancelling and settling wait for a deadline: on the local chain, mine first so its clock is the wall clock (as job cancel does).
      if (name !== "end") await chainClock(ctx.provider, ctx.network.chainId);
      const failed: Array<{ rentalId: bigint; error: QuackError }> = [];
      for (const rentalId of rentalIds) {
        try {
          out.emit(...report(rentalId, await act(marketplace, rentalId, orchestratorUrl(self.optsWithGlobals<OrchestratorFlags>()))));
        } catch (err) {
          const explained = explainRentalError(err, name === "settle" ? "end" : name, rentalId, await chainNow(ctx.provider));
          if (rentalIds.length === 1 || !isQuackError(explained)) throw explained;
          failed.push({ rentalId, error: explained });
          out.emit({ event: "refused", rentalId: rentalId.toString(), ...explained.toJSON() }, `Rental ${rentalId}: ${explained.message}\n  fix: ${explained.fix ?? "-"}`);
        }
      }
      if (failed.length > 0) {
        const first = failed[0].error;
        throw new QuackError(first.code, `${failed.length} of ${rentalIds.length} rentals could not be ${name === "end" ? "ended" : "cancelled"} (${failed.map((f) => f.rentalId).join(", ")}); the others were.`, {
          fix: failed.map((f) => `rental ${f.rentalId}: ${f.error.fix ?? f.error.message}`).join(" "),
          details: { failed: failed.map((f) => ({ rentalId: f.rentalId.toString(), ...f.error.toJSON() })) },
        });
      }
    } finally {
      ctx.close();
    }
  });
}

/** End, then settle the arbiter's downtime statement when the rental named one (a failure there does not undo the end). */
async function endAndSettle(
  marketplace: Contract,
  rentalId: bigint,
  orchestrator: string,
): Promise<{ refund: bigint; earned: bigint; txHash: string; downtime?: DowntimeSettlement; settleError?: QuackError }> {
  const ended = await endRental(marketplace, rentalId);
  try {
    return { ...ended, downtime: await settleDowntime(marketplace, rentalId, orchestrator) };
  } catch (err) {
    return { ...ended, settleError: isQuackError(err) ? err : new QuackError("TX_FAILED", String(err)) };
  }
}

function endCommand(): Command {
  return rentalActionCommand("end", "end an acknowledged rental now; the unserved part is refunded, and its arbiter's downtime statement settled", endAndSettle, (rentalId, r) => [
    {
      event: "ended",
      rentalId: rentalId.toString(),
      refund: formatAmount(r.refund),
      earnedByProvider: formatAmount(r.earned),
      txHash: r.txHash,
      downtime: r.downtime ? { seconds: r.downtime.downtimeSeconds, refund: formatAmount(r.downtime.refund), fromStake: formatAmount(r.downtime.fromStake), txHash: r.downtime.txHash } : null,
      ...(r.settleError ? { settleError: r.settleError.toJSON() } : {}),
    },
    `Ended rental ${rentalId}: ${formatAmount(r.refund)} DUCK refunded, ${formatAmount(r.earned)} DUCK earned by the provider.` +
      (r.downtime ? `\n  Downtime ${r.downtime.downtimeSeconds} s settled: ${formatAmount(r.downtime.refund)} DUCK back (${formatAmount(r.downtime.fromStake)} DUCK of it from the provider's stake).` : "") +
      (r.settleError ? `\n  Downtime not settled: ${r.settleError.message}\n  fix: ${r.settleError.fix ?? "-"}` : ""),
  ]);
}

function settleCommand(): Command {
  return rentalActionCommand("settle", "settle the downtime of rentals that are over, with their arbiter's signed statement", async (marketplace, rentalId, orchestrator) => {
    const s = await settleDowntime(marketplace, rentalId, orchestrator);
    if (!s) throw new QuackError("BAD_ID", `Rental ${rentalId} names no arbiter, or its downtime was settled already.`, { fix: "See the rental with `quackmesh rent list`." });
    return s;
  }, (rentalId, s) => [
    { event: "settled", rentalId: rentalId.toString(), downtimeSeconds: s.downtimeSeconds, refund: formatAmount(s.refund), fromStake: formatAmount(s.fromStake), txHash: s.txHash },
    `Rental ${rentalId}: ${s.downtimeSeconds} s of downtime settled, ${formatAmount(s.refund)} DUCK back (${formatAmount(s.fromStake)} DUCK from the provider's stake).`,
  ]);
}

function cancelCommand(): Command {
  return rentalActionCommand("cancel", "cancel a rental the provider never acknowledged (after the window): full refund", cancelRental, (rentalId, r) => [
    { event: "cancelled", rentalId: rentalId.toString(), refund: formatAmount(r.refund), txHash: r.txHash },
    `Cancelled rental ${rentalId}: ${formatAmount(r.refund)} DUCK refunded.`,
  ]);
}

function listCommand(): Command {
  const cmd = new Command("list").description("your rentals, newest first, with status and endpoint");
  return addChainOptions(cmd, { defaultAccount: "requester" }).action(async (_own: ChainOptions, self: Command) => {
    const flags = chainFlags(self);
    const out = makeOutput(Boolean(flags.json));
    const ctx = await openChain(flags, { defaultAccount: "requester" });
    try {
      const c = await ctx.contracts();
      const rentals = await listRentals(c.marketplace, ctx.provider, ctx.signer.address, c.deployment.block);
      const costs = await rentalCosts(c.marketplace, ctx.provider, ctx.signer.address, c.deployment.block);
      const rows = rentals.map((r) => ({
        rentalId: r.rentalId.toString(),
        machineId: r.machineId.toString(),
        jobId: r.jobId.toString(),
        status: r.status,
        hours: r.hours,
        amount: formatAmount(r.amount),
        // The real cost once the rental is over (escrow less refunds); null while it runs.
        cost: costs.get(r.rentalId.toString())?.cost == null ? null : formatAmount(costs.get(r.rentalId.toString())!.cost!),
        refund: formatAmount(costs.get(r.rentalId.toString())?.refund ?? 0n),
        endpoint: r.endpoint,
        provider: r.provider,
        startedAt: r.startedAt || null,
        endsAt: r.endsAt || null,
      }));
      out.emit(
        { renter: ctx.signer.address, count: rows.length, rentals: rows },
        rows.length === 0 ? "No rentals." : rows.map((r) => `rental ${r.rentalId}  machine ${r.machineId}  job ${r.jobId}  ${r.status.padEnd(9)}  ${r.hours} h  ${r.cost === null ? `${r.amount} DUCK escrowed` : `cost ${r.cost} DUCK, refund ${r.refund} DUCK`}  ${r.endpoint}`).join("\n"),
      );
    } finally {
      ctx.close();
    }
  });
}
