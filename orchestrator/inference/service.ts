/**
 * Running one paid inference job: check it against InferencePool (the caller escrowed it, for
 * this orchestrator, for a model of the named training job, not settled yet), run the model on
 * the input, price the compute time and sign the usage statement that pays for it. The result is
 * stored once per job, so a retry gets the same predictions and the same statement.
 */
import { performance } from "node:perf_hooks";
import type { TypedDataDomain, Wallet } from "ethers";
import { Network, inputFeatures } from "../../native/index.js";
import { decodeSafetensors } from "../../native/safetensors.js";
import { ApiError } from "../errors.js";
import type { Semaphore } from "../rounds/semaphore.js";
import type { BlobStore } from "../store/blobs.js";
import type { InferenceRecord, JobRecord, Repository } from "../store/repository.js";
import type { InferencePoolReader, OnChainInference } from "./chain.js";
import { argmaxRows, decodeInput } from "./input.js";
import type { InferenceConfig } from "./options.js";
import { inferenceFee } from "./pricing.js";
import type { InferenceReply, UsageStatementReply } from "./schemas.js";
import { signUsage } from "../../protocol/chain/eip712.js";

export interface InferenceDeps {
  repo: Repository;
  blobs: BlobStore;
  /** Null when the orchestrator has no chain connection or no InferencePool address. */
  reader: InferencePoolReader | null;
  /** The evaluator's key: the orchestrator address requesters name on chain. */
  wallet: Wallet;
  domain: TypedDataDomain;
  chainId: number;
  config: InferenceConfig;
  slots: Semaphore;
  now: () => number;
}

export interface InferenceRequest {
  inferenceJobId: number;
  modelJobId: number;
  caller: string;
  count: number;
  body: Buffer;
  bodySha256: string;
}

const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

export class InferenceService {
  constructor(private readonly d: InferenceDeps) {}

  get address(): string {
    return this.d.wallet.address;
  }

  async run(req: InferenceRequest): Promise<InferenceRecord> {
    const stored = await this.d.repo.getInference(req.inferenceJobId);
    if (stored) return this.again(stored, req);
    const { job, onChain: chainJob } = await this.checkJob(req);
    const x = decodeInput(req.body, req.count, inputFeatures(job.spec));
    const tensors = decodeSafetensors(await this.d.blobs.get(chainJob.modelHash)).tensors;
    const { probabilities, classes, computeMs } = await this.d.slots.run(async () => {
      const net = Network.fromWeights(job.spec, tensors);
      const started = performance.now();
      const p = await net.predict(x, req.count);
      return { probabilities: p, classes: net.classes, computeMs: Math.ceil(performance.now() - started) };
    });
    const fee = inferenceFee(computeMs, this.d.config, chainJob.maxPayment);
    const payout = this.d.config.payout;
    const signature = signUsage(this.d.wallet, this.d.domain, { jobId: req.inferenceJobId, providers: [payout], amounts: [fee] });
    return this.d.repo.saveInference({
      inferenceJobId: req.inferenceJobId,
      modelJobId: job.jobId,
      requester: chainJob.requester,
      modelHash: chainJob.modelHash,
      inputSha256: req.bodySha256,
      count: req.count,
      classes,
      probabilities,
      computeMs,
      maxPayment: chainJob.maxPayment.toString(),
      fee: fee.toString(),
      payout,
      signature,
      createdAt: this.d.now(),
    });
  }

  /** A retry: the same requester, job and input get the stored answer; anything else is refused. */
  private again(stored: InferenceRecord, req: InferenceRequest): InferenceRecord {
    if (!same(stored.requester, req.caller)) {
      throw new ApiError("NOT_REQUESTER", `Inference job ${req.inferenceJobId} belongs to ${stored.requester}; this request is signed by ${req.caller}.`);
    }
    if (stored.modelJobId !== req.modelJobId || stored.inputSha256 !== req.bodySha256) {
      throw new ApiError(
        "INPUT_MISMATCH",
        `Inference job ${req.inferenceJobId} already ran on job ${stored.modelJobId}'s model with other input; send the same input again, or escrow a new inference job.`,
        { modelJobId: stored.modelJobId, inputSha256: stored.inputSha256 },
      );
    }
    return stored;
  }

  /**
   * The inference job as InferencePool holds it, refused unless the caller escrowed it, for this
   * orchestrator, for a model of the named training job, and it is not settled yet.
   */
  async checkJob(req: Pick<InferenceRequest, "inferenceJobId" | "modelJobId" | "caller">): Promise<{ job: JobRecord; onChain: OnChainInference }> {
    if (!this.d.reader) {
      throw new ApiError("UNAVAILABLE", "This orchestrator is not connected to an InferencePool; start it with a chain and a deployment that has one.");
    }
    const job = await this.d.repo.getJob(req.modelJobId);
    if (!job) throw new ApiError("JOB_NOT_FOUND", `No training job ${req.modelJobId} on this orchestrator; \`GET /api/jobs\` lists the jobs whose models it serves.`);
    const onChain = await this.d.reader.getInferenceJob(req.inferenceJobId);
    const id = req.inferenceJobId;
    if (!onChain) throw new ApiError("INFERENCE_JOB_NOT_FOUND", `InferencePool ${this.d.reader!.address} has no job ${id}; create it with createInferenceJob first.`);
    if (!same(onChain.requester, req.caller)) {
      throw new ApiError("NOT_REQUESTER", `Inference job ${id} was escrowed by ${onChain.requester}; this request is signed by ${req.caller}.`);
    }
    if (!same(onChain.orchestrator, this.address)) {
      throw new ApiError("WRONG_ORCHESTRATOR", `Inference job ${id} names orchestrator ${onChain.orchestrator}; this one signs as ${this.address}.`, {
        orchestrator: this.address,
      });
    }
    if (onChain.settled) throw new ApiError("INFERENCE_SETTLED", `Inference job ${id} is already settled or reclaimed on chain; escrow a new one.`);
    const models = await this.modelsOf(job);
    if (!models.has(onChain.modelHash)) {
      throw new ApiError("MODEL_MISMATCH", `Inference job ${id} is for model ${onChain.modelHash}, which is not a model of job ${job.jobId} (its current model is ${job.modelHash}).`, {
        modelHash: job.modelHash,
      });
    }
    return { job, onChain };
  }

  /** Every model of a job the orchestrator holds: the initial one and each round's result. */
  private async modelsOf(job: JobRecord): Promise<Set<string>> {
    const rounds = await this.d.repo.listRounds(job.jobId);
    const hashes = [job.initialModelHash, job.modelHash, ...rounds.map((r) => r.modelHash)].filter((h): h is string => h !== null);
    return new Set(hashes.map((h) => h.toLowerCase()));
  }

  statement(r: InferenceRecord): UsageStatementReply {
    return {
      inferenceJobId: r.inferenceJobId,
      usage: { jobId: r.inferenceJobId, providers: [r.payout], amounts: [r.fee] },
      signature: r.signature,
      orchestrator: this.address,
      inferencePool: String(this.d.domain.verifyingContract),
      chainId: this.d.chainId,
    };
  }

  /** The answer to a run: per row the most probable class and the softmax output, or a regression's outputs (no class: it has none). */
  async reply(r: InferenceRecord): Promise<InferenceReply> {
    const row = (i: number) => Array.from(r.probabilities.subarray(i * r.classes, (i + 1) * r.classes));
    const regression = (await this.d.repo.getJob(r.modelJobId))?.spec.loss === "mse";
    const predictions = regression
      ? Array.from({ length: r.count }, (_, i) => ({ outputs: row(i) }))
      : argmaxRows(r.probabilities, r.classes).map((c, i) => ({ class: c, probabilities: row(i) }));
    return {
      ...this.statement(r),
      jobId: r.modelJobId,
      modelHash: r.modelHash,
      requester: r.requester,
      count: r.count,
      classes: r.classes,
      predictions,
      computeMs: r.computeMs,
      fee: r.fee,
      maxPayment: r.maxPayment,
      payout: r.payout,
      createdAt: r.createdAt,
    };
  }
}
