/**
 * Inference on the requester's rented machines, run by this orchestrator. The requester escrows
 * an InferencePool job naming this orchestrator, rents machines and sends the input with the
 * rentals' SSH key; the orchestrator checks the job and every rental on chain, cuts the input
 * into parts, runs them on the machines' `quackmesh worker --infer` (dispatch.ts: a machine that
 * fails has its part redone by the others, and a part is accepted once) and signs one usage
 * statement: each provider's measured compute time at its rental's price per hour (never more
 * than the time this orchestrator saw the part take), plus this orchestrator's minimum fee when
 * every row was answered. The requester's CLI checks the statement and settles it.
 *
 * A run in flight lives in memory; the store records that it started (meta) and, once it is
 * over, its whole answer (a blob): a finished run is answered again after any restart, and a run
 * cut by a restart, which signed nothing, can be started again with the same request (the CLI
 * does so by itself).
 */
import { getAddress, type Contract, type TypedDataDomain, type Wallet } from "ethers";
import { inputFeatures } from "../../native/index.js";
import { signUsage } from "../../protocol/chain/eip712.js";
import { parseEndpoint } from "../../protocol/market/endpoint.js";
import { parseSpecs } from "../../protocol/market/specs.js";
import { ApiError } from "../errors.js";
import { KnownHosts } from "../cluster/knownHosts.js";
import type { BlobStore } from "../store/blobs.js";
import type { JobRecord, Repository } from "../store/repository.js";
import { dispatchParts, type DispatchEvent, type InferMachine } from "./dispatch.js";
import { decodeInput } from "./input.js";
import type { InferenceConfig } from "./options.js";
import { assemble, splitRows, usageOf, type RentalUsage } from "./parts.js";
import type { ClusterRunReply } from "./schemas.js";
import type { InferenceService } from "./service.js";

export interface ClusterInferenceDeps {
  repo: Repository;
  blobs: BlobStore;
  inference: InferenceService;
  /** ComputeMarketplace on this orchestrator's chain; null when it watches none. */
  marketplace: () => Contract | null;
  /** The chain's clock, unix seconds. */
  chainNow: () => Promise<number>;
  wallet: Wallet;
  domain: TypedDataDomain;
  config: InferenceConfig;
  now: () => number;
  /** Runs in flight at once (each holds its input in memory). */
  maxRuns?: number;
  partTimeoutMs?: number;
  /** Connect to machines on loopback, private and link-local addresses (options.ts allowsPrivateEndpoints). */
  privateEndpoints?: boolean;
  knownHosts?: KnownHosts;
  log?: { error(obj: unknown, msg?: string): void };
}

export interface ClusterRunRequest {
  inferenceJobId: number;
  modelJobId: number;
  caller: string;
  count: number;
  /** count × features float32 LE. */
  body: Buffer;
  bodySha256: string;
  rentals: string[];
  /** The rentals' SSH private key (OpenSSH text); empty: the training job's cluster key, for its own rentals. */
  privateKey: string;
  partRows: number;
}

export interface ClusterMachineState {
  rentalId: string;
  provider: string;
  state: "connecting" | "serving" | "failed";
  parts: number;
  rows: number;
  computeMs: number;
  error?: { code: string; message: string };
  /** The part it had in flight when it failed, handed to the others. */
  requeued?: number | null;
}

/** A part accepted from a machine (the first checked answer; redone parts appear once). */
export interface AnsweredPart {
  part: number;
  rentalId: string;
  rows: number;
  computeMs: number;
}

export interface ClusterRunResult {
  count: number;
  classes: number;
  /** count × classes float32 probabilities, row-major, in input order. */
  probabilities: Float32Array;
  rentals: RentalUsage[];
  /** The statement for InferencePool.settle: the providers' lines, then this orchestrator's fee line. */
  providers: string[];
  amounts: bigint[];
  signature: string;
  /** Rows no machine answered (0 when complete). */
  missingRows: number;
}

export interface ClusterRun {
  inferenceJobId: number;
  modelJobId: number;
  requester: string;
  inputSha256: string;
  state: "running" | "done" | "failed";
  rowsDone: number;
  rowsTotal: number;
  parts: number;
  startedAt: number;
  finishedAt: number | null;
  machines: ClusterMachineState[];
  answered: AnsweredPart[];
  result?: ClusterRunResult;
  error?: { code: string; message: string };
}

/** Rentals one run may use. */
export const MAX_CLUSTER_RENTALS = 64;

/** What the store keeps of a run: who asked for what, and once it is over, the blob of its answer. */
interface StoredRun {
  requester: string;
  modelJobId: number;
  inputSha256: string;
  /** Blob hash of the finished run's JSON answer; absent while it runs. */
  reply?: string;
}
const metaKey = (inferenceJobId: number) => `cluster-inference:${inferenceJobId}`;
/** Training-cluster machines inference may share. */
const TRAINING_LIVE = new Set(["acknowledged", "connecting", "ready", "running", "done"]);
/** ComputeMarketplace's RentalStatus.Active. */
const ACTIVE = 2;

const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

export class ClusterInference {
  private readonly runs = new Map<number, ClusterRun>();
  /** Jobs whose start is being checked: a second request meanwhile must not start a second run. */
  private readonly starting = new Set<number>();
  private readonly known: KnownHosts;

  constructor(private readonly d: ClusterInferenceDeps) {
    this.known = d.knownHosts ?? new KnownHosts();
  }

  /** The run of an inference job, to its requester only. */
  async get(inferenceJobId: number, caller: string): Promise<ClusterRunReply> {
    const run = this.runs.get(inferenceJobId);
    if (run) {
      this.mustBeRequester(inferenceJobId, run.requester, caller);
      return this.reply(run);
    }
    const stored = await this.stored(inferenceJobId);
    if (!stored) throw new ApiError("INFERENCE_JOB_NOT_FOUND", `Inference job ${inferenceJobId} has no cluster run on this orchestrator.`);
    this.mustBeRequester(inferenceJobId, stored.requester, caller);
    if (!stored.reply) {
      throw new ApiError(
        "INFERENCE_JOB_NOT_FOUND",
        `The orchestrator restarted during the cluster run of inference job ${inferenceJobId}; nothing was signed. Send the same request again to run it again.`,
        { lost: true },
      );
    }
    return JSON.parse((await this.d.blobs.get(stored.reply)).toString("utf8")) as ClusterRunReply;
  }

  /**
   * Every check that can refuse, then the run starts in the background. A retry of the same
   * request gets the same run (or its stored answer); a run a restart cut short starts again.
   */
  async start(req: ClusterRunRequest): Promise<ClusterRunReply> {
    const id = req.inferenceJobId;
    if (this.starting.has(id)) throw new ApiError("UNAVAILABLE", `Inference job ${id} is being started by another request; ask for it with GET in a moment.`);
    this.starting.add(id);
    try {
      return await this.startOnce(req);
    } finally {
      this.starting.delete(id);
    }
  }

  private async startOnce(req: ClusterRunRequest): Promise<ClusterRunReply> {
    const id = req.inferenceJobId;
    const mine = (r: { requester: string; modelJobId: number; inputSha256: string }) => {
      this.mustBeRequester(id, r.requester, req.caller);
      if (r.modelJobId !== req.modelJobId || r.inputSha256 !== req.bodySha256) {
        throw new ApiError("INPUT_MISMATCH", `Inference job ${id} already ran on the cluster for job ${r.modelJobId}'s model with other input; escrow a new inference job.`);
      }
    };
    const existing = this.runs.get(id);
    if (existing) {
      mine(existing);
      return this.reply(existing);
    }
    const stored = await this.stored(id);
    if (stored?.reply) {
      mine(stored);
      return this.get(id, req.caller);
    }
    if (await this.d.repo.getInference(id)) {
      throw new ApiError("INPUT_MISMATCH", `Inference job ${id} already ran on this orchestrator itself; escrow a new inference job for the cluster.`);
    }
    const running = [...this.runs.values()].filter((r) => r.state === "running").length;
    if (running >= (this.d.maxRuns ?? 2)) throw new ApiError("UNAVAILABLE", `This orchestrator already runs ${running} cluster inferences; retry when one finished.`);
    const { job, onChain } = await this.d.inference.checkJob(req);
    const x = decodeInput(req.body, req.count, inputFeatures(job.spec));
    const machines = await this.machinesOf(req.privateKey === "" ? await this.trainingCluster(req, job) : req);
    const model = await this.d.blobs.get(onChain.modelHash);
    const parts = splitRows(req.count, machines.length, req.partRows);
    const run: ClusterRun = {
      inferenceJobId: req.inferenceJobId,
      modelJobId: job.jobId,
      requester: getAddress(req.caller),
      inputSha256: req.bodySha256,
      state: "running",
      rowsDone: 0,
      rowsTotal: req.count,
      parts: parts.length,
      startedAt: this.d.now(),
      finishedAt: null,
      machines: machines.map((m) => ({ rentalId: m.rentalId, provider: m.provider, state: "connecting", parts: 0, rows: 0, computeMs: 0 })),
      answered: [],
    };
    this.runs.set(req.inferenceJobId, run);
    const record: StoredRun = { requester: run.requester, modelJobId: run.modelJobId, inputSha256: run.inputSha256 };
    await this.d.repo.setMeta(metaKey(id), JSON.stringify(record));
    const byRental = new Map(run.machines.map((m) => [m.rentalId, m]));
    const onEvent = (e: DispatchEvent): void => {
      const m = byRental.get(e.rentalId)!;
      if (e.event === "connected") m.state = "serving";
      else if (e.event === "part") {
        m.parts++;
        m.rows += e.rows;
        m.computeMs += e.computeMs;
        run.rowsDone = e.rowsDone;
        run.answered.push({ part: e.part, rentalId: e.rentalId, rows: e.rows, computeMs: e.computeMs });
      } else {
        m.state = "failed";
        m.error = { code: e.code, message: e.message };
        m.requeued = e.requeued;
      }
    };
    const maxPayment = onChain.maxPayment;
    void dispatchParts(
      { machines, parts, x, features: inputFeatures(job.spec), model: { safetensors: model, spec: job.spec, sha256: onChain.modelHash.slice(2) } },
      { onEvent, partTimeoutMs: this.d.partTimeoutMs, knownHosts: this.known, allowPrivateEndpoints: this.d.privateEndpoints },
    )
      .then((out) => {
        const missingRows = parts.filter((p) => !out.results[p.part]).reduce((n, p) => n + p.count, 0);
        // The fee is earned by a complete answer; the providers are paid for what they returned either way.
        const fee = missingRows === 0 ? (this.d.config.minimumFee < maxPayment ? this.d.config.minimumFee : maxPayment) : 0n;
        const usage = usageOf(parts, out.results, machines, maxPayment - fee);
        const providers = [...usage.providers, this.d.config.payout];
        const amounts = [...usage.amounts, fee];
        const signature = signUsage(this.d.wallet, this.d.domain, { jobId: req.inferenceJobId, providers, amounts });
        const first = out.results.find((r) => r !== undefined);
        const classes = first ? first.probabilities.length / parts[first.part].count : 0;
        const probabilities = missingRows === 0 ? assemble(parts, out.results, classes) : new Float32Array(0);
        run.result = { count: req.count, classes, probabilities, rentals: usage.rentals, providers, amounts, signature, missingRows };
        if (missingRows > 0) {
          run.state = "failed";
          run.error = { code: "INFERENCE_INCOMPLETE", message: `${missingRows} of ${req.count} rows have no answer: every machine failed (${out.failed.map((f) => `rental ${f.rentalId}: ${f.code}`).join("; ")}).` };
        } else run.state = "done";
      })
      .catch((err: unknown) => {
        run.state = "failed";
        run.error = { code: "INTERNAL", message: (err as Error)?.message ?? String(err) };
      })
      .then(async () => {
        run.finishedAt = this.d.now();
        const blob = await this.d.blobs.put(Buffer.from(JSON.stringify(this.reply(run))));
        await this.d.repo.setMeta(metaKey(id), JSON.stringify({ ...record, reply: blob }));
        this.runs.delete(id);
      })
      // Not stored: the run stays answerable from memory until the process ends.
      .catch((err: unknown) => this.d.log?.error({ err, inferenceJobId: id }, "storing a cluster inference run failed"));
    return this.reply(run);
  }

  private mustBeRequester(inferenceJobId: number, requester: string, caller: string): void {
    if (!same(requester, caller)) throw new ApiError("NOT_REQUESTER", `Inference job ${inferenceJobId} belongs to ${requester}; this request is signed by ${caller}.`);
  }

  private async stored(inferenceJobId: number): Promise<StoredRun | null> {
    const text = await this.d.repo.getMeta(metaKey(inferenceJobId));
    return text ? (JSON.parse(text) as StoredRun) : null;
  }

  /**
   * The request with the training job's cluster key, when every rental named is a live machine of
   * that job's cluster, rented by its requester with that key: the orchestrator holds the key.
   */
  private async trainingCluster(req: ClusterRunRequest, job: JobRecord): Promise<ClusterRunRequest> {
    const spec = await this.d.repo.getClusterSpec(job.draftId);
    if (!spec?.sshPrivateKey) {
      throw new ApiError("INVALID_SSH_KEY", `Job ${job.jobId} has no cluster of rented machines here; send the rentals' SSH private key with the request.`);
    }
    const machines = await this.d.repo.listClusterMachines(job.jobId);
    for (const id of new Set(req.rentals)) {
      const m = machines.find((c) => String(c.rentalId) === id);
      if (!m || !TRAINING_LIVE.has(m.status) || !same(m.renter ?? "", job.requester) || m.keyFingerprint !== spec.keyFingerprint) {
        throw new ApiError("RENTAL_NOT_USABLE", `Rental ${id} is not a live machine of job ${job.jobId}'s cluster${m ? ` (it is ${m.status})` : ""}; name those GET /api/cluster/${job.jobId} shows ready or running, or send the rentals' key.`, { rentalId: id });
      }
    }
    return { ...req, privateKey: spec.sshPrivateKey };
  }

  /** Each named rental: the caller's, active with time left, on a machine listed with an endpoint. */
  private async machinesOf(req: ClusterRunRequest): Promise<InferMachine[]> {
    const market = this.d.marketplace();
    if (!market) throw new ApiError("NO_MARKETPLACE", "This orchestrator watches no ComputeMarketplace; run the inference on it without --cluster.");
    const ids = [...new Set(req.rentals)];
    if (ids.length === 0 || ids.length > MAX_CLUSTER_RENTALS) {
      throw new ApiError("VALIDATION_FAILED", `Name 1 to ${MAX_CLUSTER_RENTALS} distinct rentals; got ${ids.length}.`);
    }
    const now = await this.d.chainNow();
    const out: InferMachine[] = [];
    for (const id of ids) {
      const refuse = (why: string) => new ApiError("RENTAL_NOT_USABLE", `Rental ${id} ${why}.`, { rentalId: id });
      const r = (await market.getFunction("getRental")(BigInt(id)).catch(() => null)) as Record<string, unknown> | null;
      if (!r || Number(r.status) === 0) throw refuse("does not exist");
      if (!same(String(r.renter), req.caller)) throw refuse(`was rented by ${String(r.renter)}, not by ${req.caller}`);
      const endsAt = Number(r.startedAt) + Number(r.numHours) * 3600;
      if (Number(r.status) !== ACTIVE || endsAt <= now) throw refuse("is not active with time left");
      const listing = await this.d.repo.getMarketMachine(Number(r.machineId));
      if (!listing) throw refuse(`runs on machine ${String(r.machineId)}, whose listing this orchestrator has not seen`);
      let endpoint;
      try {
        endpoint = parseEndpoint(listing.endpoint, `The endpoint of machine ${listing.machineId}`);
      } catch {
        throw refuse(`runs on machine ${listing.machineId}, whose listed endpoint '${listing.endpoint}' is not host:port`);
      }
      const hours = BigInt(Number(r.numHours));
      out.push({
        rentalId: id,
        provider: getAddress(listing.provider),
        pricePerHour: BigInt(r.amount as bigint) / hours,
        target: { host: endpoint.host, port: endpoint.port, username: endpoint.user ?? "quackmesh", privateKey: req.privateKey, hostKeyFingerprint: parseSpecs(listing.specs).hostKey },
      });
    }
    return out;
  }

  /** A run as the API answers it: the predictions as base64 float32, amounts as decimal strings. */
  reply(run: ClusterRun): ClusterRunReply {
    const { result, modelJobId, inputSha256: _input, ...rest } = run;
    const out: ClusterRunReply = { ...rest, jobId: modelJobId, machines: run.machines.map((m) => ({ ...m })), answered: run.answered.slice() };
    if (result) {
      out.result = {
        count: result.count,
        classes: result.classes,
        probabilities: Buffer.from(result.probabilities.buffer, result.probabilities.byteOffset, result.probabilities.byteLength).toString("base64"),
        missingRows: result.missingRows,
        rentals: result.rentals.map((r) => ({ ...r, pricePerHour: r.pricePerHour.toString(), amount: r.amount.toString() })),
        statement: {
          inferenceJobId: run.inferenceJobId,
          usage: { jobId: run.inferenceJobId, providers: result.providers, amounts: result.amounts.map(String) },
          signature: result.signature,
          orchestrator: this.d.wallet.address,
          inferencePool: String(this.d.domain.verifyingContract),
          chainId: Number(this.d.domain.chainId),
        },
      };
    }
    return out;
  }

}
