/**
 * The demo's cluster job: `quackmesh market list` shows the three providers' machines, then the
 * requester runs `quackmesh job create --cluster 3` (a short job on a slice of MNIST train): the
 * machines are rented for it, the orchestrator ships each its shard and starts `quackmesh worker`
 * through the provider's SSH gateway, the rounds close. Then the requester ends the rentals early (the
 * unserved rent comes back; the providers withdraw what they earned) and finishes the job (the
 * pool, which pays no worker, comes back whole). Skipped with --no-market.
 */
import { join } from "node:path";
import { writeFile } from "node:fs/promises";
import { Network } from "../../../native/index.js";
import { loadMnist, subset, writeIdx } from "../../../native/data.js";
import { MNIST_NORMALIZE } from "../../../native/spec.js";
import { decodeSafetensors } from "../../../native/safetensors.js";
import type { ModelSpec } from "../../../native/types.js";
import { QuackError } from "../../../protocol/errors.js";
import { formatAmount, parseAmount } from "../../../protocol/chain/units.js";
import { faucet } from "../chain/wallet.js";
import { finishJob } from "../job/finish.js";
import { sleep } from "../job/wait.js";
import { endRental } from "../market/renter.js";
import { PRICES, marketList, marketSkipped, need } from "./market.js";
import { spawnCli } from "./processes.js";
import type { DemoContext } from "./types.js";

const MACHINES = PRICES.length;
const SAMPLES_PER_MACHINE = 4000;
const ROUNDS = 3;

/** Run `quackmesh job create --cluster …`; resolves with its JSON lines once it exits 0. */
function createClusterJob(ctx: DemoContext, args: string[]): Promise<Array<Record<string, unknown>>> {
  const lines: Array<Record<string, unknown>> = [];
  const child = spawnCli(["job", "create", ...args, "--json"], {
    name: "requester",
    env: ctx.childEnv,
    onStdout: (l) => {
      try {
        const e = JSON.parse(l) as Record<string, unknown>;
        lines.push(e);
        if (["escrowed", "rented", "acknowledged", "deployed"].includes(String(e.event))) ctx.emit({ event: "log", source: "job create --cluster", text: summary(e) });
      } catch {
        // not a JSON line
      }
    },
  });
  ctx.onCleanup(() => child.stop());
  return child.exited.then(({ code }) => {
    if (code !== 0) throw new QuackError("DEMO_CLUSTER_FAILED", `quackmesh job create --cluster exited with code ${code}: ${child.stderrTail().split("\n").at(-1) ?? ""}`);
    return lines;
  });
}

function summary(e: Record<string, unknown>): string {
  if (e.event === "escrowed") return `job ${e.jobId} escrowed`;
  if (e.event === "rented") return `rented machine ${(e.rental as { machineId: string }).machineId}`;
  if (e.event === "acknowledged") return `acknowledged: rentals ${(e.acknowledged as string[]).join(", ")}`;
  return `workers: ${(e.machines as Array<{ rentalId: number; status: string }>).map((m) => `${m.rentalId} ${m.status}`).join(", ")}`;
}

export async function clusterStep(ctx: DemoContext): Promise<string> {
  const skipped = marketSkipped(ctx);
  if (skipped) return skipped;
  const providers = need(ctx.providers, "the providers");
  for (const row of await marketList(ctx)) ctx.emit({ event: "log", source: "market list", text: row });
  const contracts = need(ctx.contracts, "the contracts");
  const provider = need(ctx.provider, "the chain");
  const requester = need(ctx.requester, "the requester");
  const client = need(ctx.client, "the orchestrator");
  const rent = PRICES.reduce((s, p) => s + parseAmount(p, "price"), 0n);
  // The contributor job's pool is funded apart: this pays an hour of rent and a 1 DUCK pool.
  await faucet(contracts, provider, requester.address, { duck: rent + 10n ** 18n, eth: 0n });

  const dir = join(ctx.workDir, "cluster");
  const spec: ModelSpec = {
    input: [784],
    layers: [{ type: "dense", units: 128, activation: "relu" }, { type: "dense", units: 10, activation: "none" }],
    loss: "cross-entropy",
    normalize: { ...MNIST_NORMALIZE },
  };
  const specFile = join(ctx.workDir, "cluster-mlp.json");
  await writeFile(specFile, JSON.stringify(spec));
  const train = await loadMnist("train");
  // The last samples of MNIST train: the contributors' split draws from the whole set, this is a demo slice.
  const from = train.count - MACHINES * SAMPLES_PER_MACHINE;
  await writeIdx(join(dir, "train"), subset(train, Array.from({ length: MACHINES * SAMPLES_PER_MACHINE }, (_, i) => from + i)));

  const lines = await createClusterJob(ctx, [
    "--rpc", need(ctx.chain, "the chain").url, "--orchestrator", need(ctx.server, "the orchestrator").url,
    "--model", specFile, "--validation", need(ctx.split, "the data").validation.dir, "--train", join(dir, "train"),
    "--cluster", String(MACHINES), "--hours", "1", "--rounds", String(ROUNDS), "--epochs", "2", "--threshold", "0.5", "--seed", "1",
  ]);
  const cluster = lines.at(-1) as { jobId: number; machines: Array<{ rentalId: string; status: string }> };
  const jobId = cluster.jobId;
  for (;;) {
    const job = await client.getJob(jobId);
    if (job.status === "finished") break;
    if ((await client.cluster(jobId)).machines.every((m) => m.status === "failed")) throw new QuackError("DEMO_CLUSTER_FAILED", `Every machine of cluster job ${jobId} failed.`);
    await sleep(200, ctx.opts.signal);
  }
  const model = await client.getModel(jobId);
  if (model.notModified) throw new QuackError("DEMO_CLUSTER_FAILED", "The orchestrator answered 304 to a plain model download.");
  const accuracy = (await Network.fromWeights(spec, decodeSafetensors(model.bytes).tensors).evaluate(await loadMnist("test"))).accuracy;

  let refund = 0n;
  let earned = 0n;
  for (const m of cluster.machines) {
    const ended = await endRental(contracts.marketplace, BigInt(m.rentalId));
    refund += ended.refund;
    earned += ended.earned;
  }
  // Each provider withdraws what its rental earned once it sees the end.
  const deadline = Date.now() + 20_000;
  while (providers.reduce((s, p) => s + p.withdrawn, 0n) < earned && Date.now() < deadline) await sleep(100, ctx.opts.signal);
  const finished = await finishJob({ client, pool: need(ctx.pool, "TrainingPool") }, jobId);
  return (
    `cluster job ${jobId} on the ${MACHINES} rented machines (${formatAmount(rent)} DUCK of rent for 1 h): ${ROUNDS} rounds, ` +
    `test accuracy ${(accuracy * 100).toFixed(2)} %; rentals ended early: ${formatAmount(refund)} DUCK refunded, ` +
    `${formatAmount(earned)} DUCK earned and ${formatAmount(providers.reduce((s, p) => s + p.withdrawn, 0n))} withdrawn by the providers; pool ${formatAmount(finished.refund)} DUCK back`
  );
}
