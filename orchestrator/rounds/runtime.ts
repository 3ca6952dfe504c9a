/**
 * What the engine keeps in memory per job: the validation set, the strategy and the decoded
 * global model of the round being trained. Everything here can be rebuilt from the store, so a
 * restart only costs a reload.
 */
import { Network, outputCount } from "../../native/index.js";
import type { Dataset, Tensor } from "../../native/types.js";
import { loadValidation, type ValidationFormat } from "../data/validation.js";
import type { BlobStore } from "../store/blobs.js";
import type { DraftRecord, JobRecord, Repository } from "../store/repository.js";
import { makeStrategy, type RoundEval, type SampleFigures, type Strategy } from "../strategy/index.js";
import { decodeInLayout, globalModel, type GlobalModel } from "./checks.js";
import { decodeSafetensors } from "../../native/safetensors.js";
import { Semaphore } from "./semaphore.js";
import { totalSquares } from "../../protocol/regression.js";
import { regressionEval } from "../evaluator/regression.js";

export interface JobRuntime {
  job: JobRecord;
  validation: Dataset;
  strategy: Strategy;
  evaluate(model: Tensor[]): Promise<RoundEval>;
}

/** Accuracy per class (index = label) from softmax probabilities, count × classes. */
export function classAccuracy(probabilities: Float32Array, labels: Uint8Array, classes: number): number[] {
  const seen = new Array<number>(classes).fill(0);
  const right = new Array<number>(classes).fill(0);
  for (let i = 0; i < labels.length; i++) {
    const row = probabilities.subarray(i * classes, (i + 1) * classes);
    let best = 0;
    for (let c = 1; c < classes; c++) if (row[c] > row[best]) best = c;
    seen[labels[i]]++;
    if (best === labels[i]) right[labels[i]]++;
  }
  return seen.map((n, c) => (n === 0 ? 1 : right[c] / n));
}

/** Per sample: cross-entropy and whether the top class is the label, from softmax probabilities, count × classes. */
export function sampleFigures(probabilities: Float32Array, labels: Uint8Array, classes: number): SampleFigures {
  const loss = new Float32Array(labels.length);
  const correct = new Uint8Array(labels.length);
  for (let i = 0; i < labels.length; i++) {
    const row = probabilities.subarray(i * classes, (i + 1) * classes);
    let best = 0;
    for (let c = 1; c < classes; c++) if (row[c] > row[best]) best = c;
    correct[i] = best === labels[i] ? 1 : 0;
    // The floor keeps a confidently wrong sample finite (float32 probabilities underflow to 0).
    loss[i] = -Math.log(Math.max(row[labels[i]], 1e-30));
  }
  return { labels, loss, correct };
}

export class RuntimeCache {
  private readonly runtimes = new Map<number, Promise<JobRuntime>>();
  private readonly models = new Map<string, Promise<GlobalModel>>();

  constructor(
    private readonly deps: { repo: Repository; blobs: BlobStore; dataDir: string; evalSlots: Semaphore },
  ) {}

  /** Evaluate weights of `spec` on a data set, at most `evalSlots` at a time. */
  evaluator(spec: JobRecord["spec"], validation: Dataset): (model: Tensor[]) => Promise<RoundEval> {
    const classes = outputCount(spec);
    if (spec.loss === "mse") {
      const targets = validation.targets!;
      const sst = totalSquares(targets, classes);
      return (model) =>
        this.deps.evalSlots.run(async () => regressionEval(await Network.fromWeights(spec, model).predict(validation.x, validation.count), targets, classes, sst));
    }
    return (model) =>
      this.deps.evalSlots.run(async () => {
        const net = Network.fromWeights(spec, model);
        const ev = await net.evaluate(validation);
        const probabilities = await net.predict(validation.x, validation.count);
        return { ...ev, classAccuracy: classAccuracy(probabilities, validation.y, classes), perSample: sampleFigures(probabilities, validation.y, classes) };
      });
  }

  job(job: JobRecord): Promise<JobRuntime> {
    let p = this.runtimes.get(job.jobId);
    if (!p) {
      p = (async () => {
        const draft = (await this.deps.repo.getDraft(job.draftId)) as DraftRecord;
        const validation = await loadValidation(this.deps.dataDir, this.deps.blobs, job.validationHash, (draft.validationFormat ?? "csv") as ValidationFormat, job.spec);
        const evaluate = this.evaluator(job.spec, validation);
        return { job, validation, evaluate, strategy: makeStrategy(job.settings, evaluate) };
      })();
      this.runtimes.set(job.jobId, p);
      p.catch(() => this.runtimes.delete(job.jobId));
    }
    return p;
  }

  /** A stored model, decoded; the few most recent stay in memory. */
  model(hash: string, layoutFrom?: GlobalModel): Promise<GlobalModel> {
    let p = this.models.get(hash);
    if (!p) {
      p = (async () => {
        const bytes = await this.deps.blobs.get(hash);
        const tensors = layoutFrom ? decodeInLayout(bytes, layoutFrom.layout) : decodeSafetensors(bytes).tensors;
        return globalModel(hash, tensors);
      })();
      this.models.set(hash, p);
      p.catch(() => this.models.delete(hash));
      // Keep memory bounded: drop the oldest entries (Map keeps insertion order).
      while (this.models.size > 16) this.models.delete(this.models.keys().next().value as string);
    }
    return p;
  }

  forget(jobId: number): void {
    this.runtimes.delete(jobId);
  }
}
