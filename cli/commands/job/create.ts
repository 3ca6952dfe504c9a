import { Command } from "commander";
import { join, resolve } from "node:path";
import { QuackError } from "../../../protocol/errors.js";
import { makeOutput } from "../../lib/output.js";
import { addChainOptions, type ChainOptions } from "../../lib/chain/options.js";
import { formatAmount } from "../../../protocol/chain/units.js";
import { addOrchestratorOption, connectJob, type OrchestratorFlags } from "../../lib/job/connect.js";
import { createJob, type CreateEvent } from "../../lib/job/create.js";
import { describeTraining, planJob, type JobCreateInput } from "../../lib/job/params.js";
import { parseWhole, TRAIN_OPTIONS } from "../../lib/flags.js";
import { clusterLiveness, planCluster, precheckCluster, rentCluster, uploadCluster, type ClusterInput } from "../../lib/job/cluster.js";
import type { KeyPairFiles } from "../../../protocol/market/sshKeys.js";
import { SCALE_HELP, SCALE_OPTION } from "../../lib/data/scale.js";
import { clusterDefaults, emitCluster, notAcknowledged, renderClusterEvent } from "../../views/clusterOutput.js";

type CreateFlags = ChainOptions & OrchestratorFlags & Partial<JobCreateInput> & Partial<ClusterInput> & { activationTimeout: string; sshKey?: string; clusterTimeout: string };

export function jobCreateCommand(): Command {
  const cmd = new Command("create").description("upload a model and validation set, escrow the reward pool, start the job");
  addChainOptions(cmd, { defaultAccount: "requester" });
  addOrchestratorOption(cmd)
    .option("--model <file>", "model spec (JSON), e.g. 784-128-10 dense")
    .option("--weights <file>", "initial weights (safetensors, PyTorch names); default: random, drawn by the orchestrator from --seed")
    .option("--validation <dir>", "validation set: a folder with an MNIST IDX pair or data.csv, or a .csv file (label first; a regression's target columns first)")
    .option(...SCALE_OPTION)
    .option("--reward <duck>", "reward pool to escrow, in DUCK")
    .option("--round-budget <duck>", "DUCK a round shares among its contributors by contribution (default: --reward / --rounds)")
    .option("--max-per-contributor <duck>", "most DUCK one contributor may get for one round (default: the round budget)")
    .option("--flat-per-update <duck>", "DUCK paid at once for each accepted update, on top of the contribution share", "0")
    .option("--claim-window <seconds>", "time contributors have to claim after the last round before anyone may finish the job (default 86400; 120 on the local chain)")
    .option("--norm-bound <L2>", "refuse updates farther than this from the global model (default: derived from each round)")
    .option("--norm-multiple <k>", "without --norm-bound: leave out updates farther than k × the round's median distance", "3")
    .option("--trust-num-samples", "weigh updates by their claimed sample counts as given (default: no claim counts above the round's median)")
    .option("--rounds <n>", "federated rounds", "10")
    .option("--min-updates <n>", "useful updates (contribution above zero) that close a round", "2")
    .option("--threshold <fraction>", "least validation accuracy (a regression: R²) an update must reach to be paid (0-1)", "0.7")
    .option("--strategy <name>", "aggregation: fedavg | median | trimmed-mean | krum", "fedavg")
    .option("--deadline-hours <h>", "after this the requester may reclaim what is left", "24")
    .option("--round-deadline <seconds>", "a round closes at this age with fewer updates (orchestrator default 600)")
    .option("--seed <n>", "seed of the random initial weights (without --weights)")
    .option(...TRAIN_OPTIONS.optimizer("local training asked of contributors and workers: "))
    .option(...TRAIN_OPTIONS.weightDecay("asked of trainers: "))
    .option(...TRAIN_OPTIONS.nesterov("asked of trainers: "))
    .option(...TRAIN_OPTIONS.proxMu("asked of trainers: "))
    .option("--force", "create the job even when its settings cannot complete (each problem is printed as a warning)")
    .option("--activation-timeout <seconds>", "how long to wait for the orchestrator to start the job", "120")
    .option("--cluster <n>", "train on N rented machines instead of pool contributors (with --hours and --train)")
    .option("--hours <h>", "cluster: hours to rent each machine for")
    .option("--train <dir>", "cluster: training data the machines share (MNIST IDX pair or data.csv folder, or a .csv)")
    .option("--max-price <duck>", "cluster: highest price per machine-hour accepted")
    .option(...TRAIN_OPTIONS.epochs("cluster: "))
    .option(...TRAIN_OPTIONS.batch("cluster: "))
    .option(...TRAIN_OPTIONS.lr("cluster: "))
    .option(...TRAIN_OPTIONS.momentum("cluster: "))
    .option("--ssh-key <file>", "cluster: SSH key of the rentals; default a new key for this job under $QUACKMESH_HOME/ssh")
    .option("--cluster-timeout <seconds>", "cluster: how long to wait for acknowledgements and workers", "180")
    .addHelpText(
      "after",
      `
Checks first and spends nothing when a check fails: the spec, the weights and the validation set
are read here; DUCK and ETH balances and the orchestrator (reachable, same chain and TrainingPool)
are checked. Settings that cannot complete are refused (--force: created with a warning): a pool
below rounds × round budget (+ rounds × min-updates × flat part), a deadline shorter than rounds ×
round deadline, and a threshold above what round 0 can plausibly reach: the initial model's
validation accuracy a plus 90 % of its error, a + 0.9 × (1 − a) (measured here on the same
weights the orchestrator will use). Then the model and validation set go to the orchestrator, the pool is approved and
escrowed in TrainingPool naming the orchestrator's evaluator, and the command waits until the
orchestrator has opened round 0 (rounds count from 0 everywhere).
${SCALE_HELP} A validation CSV (and with --cluster the --train CSV)
read with --scale is uploaded with its features divided, so the orchestrator and the machines see
exactly what was checked here.

With --cluster N the job is trained by N rented machines: the job is created, then the N
cheapest matching machines the orchestrator has fresh liveness records of are rented for it,
naming the orchestrator as arbiter (its downtime statement, settled when the rentals end,
refunds the time a machine did not serve); the orchestrator gets the rentals' SSH key and the
training data (sharded, one shard per machine) and runs a worker on each. Workers are paid by
rent, not by the pool, so --reward defaults to 1 DUCK (returned by \`job finish\`) and
--min-updates to N. The rentals keep running (and charging) until \`job finish\` or \`job abort\`
ends them, or \`quackmesh rent end ID\`.

--optimizer, --weight-decay, --nesterov and --prox-mu are stored with the job's settings (\`job
status\` shows them) and used by every contributor's and cluster worker's local training (and
written into round.json for a --trainer program); a contributor's own flag for a setting wins,
since only what an update adds to the model is measured and paid. --prox-mu adds FedProx's
proximal term μ/2‖w − w_global‖², which keeps non-IID contributors near the global model.

Regression: a spec with "loss":"mse" and a last dense layer of N units is a regression of N
targets. Its CSVs (--validation, --train, contributors' data) hold the N float targets in the
first N columns, then the features; IDX data (class labels) is refused, and so is a validation
set whose targets do not vary. The evaluator scores it by mean squared error and R² = 1 − SSE/SST:
"accuracy" is R² throughout (--threshold 0.6 asks every update for R² ≥ 0.6; the attestation
carries R² in basis points, clipped to 0-10000).

How contributors are paid: when a round closes, the evaluator measures what each accepted update
adds to the model on the validation set (leave-one-out). The round budget is split in proportion
to positive contributions (each share at most --max-per-contributor); near-copies of the model,
noise, sign flips and mislabelled updates get nothing. Contributors claim their share on chain
with a Merkle proof; what no one earned stays in the pool and comes back at \`job finish\`.

Examples:
  $ quackmesh job create --model mlp.json --validation ./val --reward 1000 --rounds 10
  $ quackmesh job create --model mlp.json --validation pixels.csv --scale 255 --reward 100 --rounds 5
  $ quackmesh job create --model mlp.json --validation ./val --cluster 3 --hours 2 --train ./train --rounds 5
  $ quackmesh job create --model cnn.json --validation ./val --reward 100 --rounds 5 --optimizer adam --prox-mu 0.01
  $ quackmesh job create --model regression.json --validation targets-first.csv --reward 100 --rounds 5 --threshold 0.5
  $ quackmesh job create --model mlp.json --weights init.safetensors --validation val.csv \\
      --reward 500 --rounds 20 --max-per-contributor 10 --min-updates 3 --threshold 0.8 --json`,
    )
    .action(async (flags: CreateFlags) => {
      const out = makeOutput(Boolean(flags.json));
      const clustered = clusterDefaults(cmd, flags);
      for (const [key, flag] of [["model", "--model"], ["validation", "--validation"], ["reward", "--reward"]] as const) {
        if (flags[key] === undefined) throw new QuackError("MISSING_OPTION", `${flag} is required.`, { fix: "See `quackmesh job create --help` for an example." });
      }
      const timeout = parseWhole(flags.activationTimeout, "--activation-timeout", 1, 86400);
      const plan = await planJob(flags as JobCreateInput);
      for (const w of plan.dataWarnings) out.json ? out.emit({ event: "warning", warning: w, force: false }) : out.info(`warning: ${w}`);
      for (const w of plan.warnings) out.json ? out.emit({ event: "warning", warning: w, force: true }) : out.info(`warning: ${w} (created anyway: --force)`);
      const cluster = clustered ? await planCluster(flags as ClusterInput, plan.spec) : undefined;
      const conn = await connectJob(flags, "requester");
      try {
        let pair: KeyPairFiles | undefined;
        if (cluster) {
          const liveness = clusterLiveness(conn.client, conn.contracts.marketplace, conn.chain.provider);
          await precheckCluster(conn.contracts, conn.chain.provider, conn.chain.signer.address, conn.contracts.deployment.block, cluster, plan.reward, liveness);
        }
        const created = await createJob(plan, { signer: conn.chain.signer, provider: conn.chain.provider, contracts: conn.contracts, chainId: conn.chain.network.chainId, client: conn.client }, {
          activationTimeoutMs: timeout * 1000,
          onEvent: (e) => (out.json ? out.emit({ ...e }) : out.info(describe(e))),
          beforeEscrow: cluster
            ? async ({ draftId }) => {
                const keyFile = resolve(flags.sshKey ?? join(conn.chain.settings.home, "ssh", `cluster-${draftId.slice(0, 12)}_ed25519`));
                pair = await uploadCluster(conn.client, { draftId }, keyFile, cluster);
                out.json ? out.emit({ event: "cluster-uploaded", draftId, sshKey: keyFile, trainSamples: cluster.train.samples, machines: cluster.machines }) : out.info(`Handed the cluster key ${keyFile} and ${cluster.train.samples} training samples to the orchestrator.`);
              }
            : undefined,
        });
        out.emit(
          {
            event: "created",
            jobId: created.jobId,
            txHash: created.txHash,
            modelHash: created.modelHash,
            evaluator: created.evaluator,
            requester: created.requester,
            deadline: created.deadline,
            rewardPool: plan.reward,
            roundBudget: plan.roundBudget,
            maxPerContributor: plan.maxPerContributor,
            flatPerUpdate: plan.flatPerUpdate,
            rounds: plan.rounds,
            thresholdBps: plan.thresholdBps,
            train: plan.train,
            orchestrator: conn.client.baseUrl,
          },
          `Job ${created.jobId} created\n  tx          ${created.txHash}\n  model hash  ${created.modelHash}\n  evaluator   ${created.evaluator}\n` +
            `  pool        ${formatAmount(plan.reward)} DUCK, up to ${formatAmount(plan.roundBudget)} a round by contribution, ${plan.rounds} rounds, threshold ${plan.spec.loss === "mse" ? `R² ${plan.thresholdBps / 10000}` : `${plan.thresholdBps / 100} %`}\n` +
            (Object.keys(plan.train).length > 0 ? `  training    ${describeTraining(plan.train)}\n` : "") +
            `Watch it: quackmesh job watch ${created.jobId}`,
        );
        if (cluster && pair) {
          const c = conn.contracts;
          const { rentals, cluster: machines, pending } = await rentCluster(
            { marketplace: c.marketplace, duck: c.duck, provider: conn.chain.provider, renter: conn.chain.signer.address, fromBlock: c.deployment.block, client: conn.client },
            created.jobId,
            pair,
            cluster,
            { timeoutMs: parseWhole(flags.clusterTimeout, "--cluster-timeout", 1, 86400) * 1000, onEvent: (e) => renderClusterEvent(out, e) },
          );
          emitCluster(out, created.jobId, rentals, machines, pair.privateKeyFile);
          if (pending.length > 0) throw notAcknowledged(pending);
        }
      } finally {
        conn.close();
      }
    });
  return cmd;
}

function describe(e: CreateEvent): string {
  switch (e.event) {
    case "checked":
      return `Checked: ${e.requester} holds ${formatAmount(e.duck)} DUCK and ${formatAmount(e.eth)} ETH; orchestrator ${e.orchestrator} (evaluator ${e.evaluator}).`;
    case "uploaded":
      return `Uploaded the model (${e.modelHash}) and ${e.validationSamples} validation samples (draft ${e.draftId}).`;
    case "approved":
      return `Approved TrainingPool to take ${formatAmount(e.amount)} DUCK (tx ${e.txHash}).`;
    case "escrowed":
      return `Escrowed the pool: job ${e.jobId} (tx ${e.txHash}); waiting for the orchestrator to start it…`;
    case "activated":
      return `The orchestrator runs job ${e.jobId}: round ${e.currentRound} (of rounds 0–${e.rounds - 1}) is open.`;
  }
}
