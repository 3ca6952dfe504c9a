/**
 * The local training of a round: the job's settings (optimizer, FedProx μ) with the trainer's own
 * flags over them. A flag given wins for its field; naming another optimizer (or --nesterov, which
 * is SGD) replaces the job's optimizer together with the weight decay and Nesterov chosen for it.
 */
import type { JobTrainSettings } from "../../../protocol/settings.js";
import type { OptimizerSettings } from "../../../protocol/train.js";

/** What a round trains with beyond lr and momentum; absent fields take the engine's defaults. */
export type RoundTraining = OptimizerSettings;

export function roundTraining(job: JobTrainSettings | undefined, own: OptimizerSettings, momentum: number): RoundTraining {
  const asked = job ?? {};
  const ownOptimizer = own.optimizer ?? (own.nesterov ? "sgd" : undefined);
  const replaced = ownOptimizer !== undefined && ownOptimizer !== (asked.optimizer ?? "sgd");
  const out: RoundTraining = replaced ? { optimizer: ownOptimizer } : { optimizer: asked.optimizer, nesterov: asked.nesterov, weightDecay: asked.weightDecay };
  if (own.optimizer !== undefined) out.optimizer = own.optimizer;
  if (own.nesterov !== undefined) out.nesterov = own.nesterov;
  if (own.weightDecay !== undefined) out.weightDecay = own.weightDecay;
  out.proximalMu = own.proximalMu ?? asked.proximalMu;
  // Nesterov with no momentum is plain SGD: a job's nesterov under a trainer's --momentum 0 is dropped, not an error.
  if (out.nesterov && ((out.optimizer ?? "sgd") !== "sgd" || momentum === 0)) delete out.nesterov;
  if (!out.proximalMu) delete out.proximalMu;
  for (const k of Object.keys(out) as (keyof RoundTraining)[]) if (out[k] === undefined || out[k] === false) delete out[k];
  return out;
}
