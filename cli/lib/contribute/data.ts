/**
 * A contributor's (or cluster worker's) local data, read the way the job's model needs it: a
 * regression model ("loss":"mse") of N outputs takes N float targets from the first N CSV
 * columns, a classifier a label (native/data.ts csvForModel). The job's spec says which, so the
 * data is read once the orchestrator publishes the job, and checked against the model before any
 * training: a label set for a regression, targets for a classifier, another input size are
 * refused naming the spec's field.
 */
import { stat } from "node:fs/promises";
import { resolve } from "node:path";
import { checkFitsModel, csvForModel, loadDataset, parseImageSetName, type CsvOptions } from "../../../native/data.js";
import type { Dataset, ModelSpec } from "../../../native/types.js";
import type { OrchestratorClient } from "../../../orchestrator/client.js";
import { QuackError } from "../../../protocol/errors.js";
import { Backoff, isTransient, sleep } from "../job/wait.js";
import type { ContributorEvent } from "./events.js";
import { specOfJob } from "./spec.js";

/** Data in memory, or how to read it once the job's spec is known (null: an orchestrator that publishes none). */
export type JobData = Dataset | ((spec: ModelSpec | null) => Promise<Dataset>);

/**
 * Read `path` as the job's model needs it, checked against that model. A path that does not
 * exist (and names no image set) is refused now, before anything touches the network.
 */
export async function jobDataLoader(path: string, csv: CsvOptions = {}): Promise<(spec: ModelSpec | null) => Promise<Dataset>> {
  if (!parseImageSetName(path)) {
    await stat(resolve(path)).catch((cause: unknown) => {
      throw new QuackError("DATA_NOT_FOUND", `${resolve(path)}: no such file or folder.`, { fix: "Pass --data with your data: a folder (an MNIST IDX pair or data.csv), a .csv file, or a named set (mnist, fashion-mnist).", cause });
    });
  }
  return async (spec) => {
    const ds = await loadDataset(path, spec ? csvForModel(spec, csv) : csv);
    if (spec) checkFitsModel(ds, spec, `Your data ${path}`);
    return ds;
  };
}

/** The data itself: read with the job's spec, waiting (with waiting events) until the orchestrator has the job. */
export async function* resolveJobData(
  data: JobData,
  ctx: { client: OrchestratorClient; jobId: number; signal?: AbortSignal; poll?: { minMs?: number; maxMs?: number } },
): AsyncGenerator<ContributorEvent, Dataset> {
  if (typeof data !== "function") return data;
  const wait = new Backoff(ctx.poll?.minMs ?? 200, ctx.poll?.maxMs ?? 3000);
  for (;;) {
    try {
      return await data(specOfJob(await ctx.client.getJob(ctx.jobId)));
    } catch (err) {
      const code = (err as QuackError).code;
      if (!isTransient(err) && code !== "JOB_NOT_FOUND") throw err;
      const delayMs = wait.next();
      const reason = code === "JOB_NOT_FOUND" ? `the orchestrator has not activated job ${ctx.jobId} yet` : (err as Error).message;
      yield { event: "waiting", jobId: ctx.jobId, round: null, reason, delayMs };
      await sleep(delayMs, ctx.signal);
    }
  }
}
