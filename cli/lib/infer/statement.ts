/**
 * The requester's check of a cluster run's answer before it settles: the usage statement must be
 * for this inference job, signed by the orchestrator the job names, within the escrow; every line
 * but the last must pay a provider of the rentals the run used, at most what its rentals' price
 * per hour makes of the time the requester saw the run take; the last line is the orchestrator's
 * fee, at most its advertised minimum fee. A complete run's predictions must cover every row.
 */
import type { ClusterRunReply } from "../../../orchestrator/client.js";
import { inferencePoolDomain, recoverUsageSigner } from "../../../protocol/chain/eip712.js";
import { QuackError } from "../../../protocol/errors.js";

/** A rental the run may use: who provides it, at what price. */
export interface RentalLine {
  rentalId: string;
  provider: string;
  /** DUCK wei per hour. */
  pricePerHour: bigint;
}

export interface StatementExpectation {
  inferenceJobId: number;
  /** The address InferencePool's job names as orchestrator. */
  orchestrator: string;
  /** Where the orchestrator says its fee goes, and that fee's most (GET /api/infer). */
  payout: string;
  minimumFee: bigint;
  maxPayment: bigint;
  chainId: number;
  inferencePool: string;
  rentals: RentalLine[];
  /** Milliseconds from the start request to the finished run, as the requester measured them. */
  elapsedMs: number;
  count: number;
}

export interface CheckedStatement {
  providers: string[];
  amounts: bigint[];
  signature: string;
  total: bigint;
  /** count × classes probabilities in input order; undefined when rows are missing. */
  probabilities?: Float32Array;
  classes: number;
  missingRows: number;
}

const MS_PER_HOUR = 3_600_000n;
const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

export function checkClusterStatement(run: ClusterRunReply, exp: StatementExpectation): CheckedStatement {
  const id = exp.inferenceJobId;
  const bad = (why: string) =>
    new QuackError("BAD_STATEMENT", `The orchestrator's answer for inference job ${id} cannot be used: ${why}.`, {
      fix: `Nothing was settled; report this to the orchestrator's operator. \`quackmesh infer --reclaim ${id}\` returns the escrow 24 h after it was made.`,
      details: { inferenceJobId: id },
    });
  const result = run.result;
  if (!result) throw bad(`the run is ${run.state} without a result`);
  const { usage, signature } = result.statement;
  if (run.inferenceJobId !== id || Number(usage.jobId) !== id) throw bad(`it is for job ${usage.jobId}`);
  if (usage.providers.length !== usage.amounts.length || usage.providers.length < 1) throw bad("its providers and amounts do not pair up");
  const amounts = usage.amounts.map((a) => BigInt(a));
  const total = amounts.reduce((a, b) => a + b, 0n);
  if (total > exp.maxPayment) throw bad(`it pays ${total} wei, above the escrow of ${exp.maxPayment}`);
  const signer = recoverUsageSigner(inferencePoolDomain(exp.chainId, exp.inferencePool), { jobId: id, providers: usage.providers, amounts }, signature);
  if (!same(signer, exp.orchestrator)) throw bad(`its usage is signed by ${signer}, not by ${exp.orchestrator}`);

  const last = usage.providers.length - 1;
  if (!same(usage.providers[last], exp.payout) || amounts[last] > exp.minimumFee) {
    throw bad(`its last line pays ${amounts[last]} wei to ${usage.providers[last]}, not at most the minimum fee ${exp.minimumFee} to ${exp.payout}`);
  }
  // A provider's machines worked at most the run's whole time each.
  const cap = new Map<string, bigint>();
  for (const r of exp.rentals) {
    const key = r.provider.toLowerCase();
    const most = (BigInt(Math.ceil(exp.elapsedMs)) * r.pricePerHour + MS_PER_HOUR - 1n) / MS_PER_HOUR;
    cap.set(key, (cap.get(key) ?? 0n) + most);
  }
  const paid = new Map<string, bigint>();
  for (let i = 0; i < last; i++) {
    const key = usage.providers[i].toLowerCase();
    if (!cap.has(key)) throw bad(`it pays ${usage.providers[i]}, who provides none of the rentals ${exp.rentals.map((r) => r.rentalId).join(", ")}`);
    paid.set(key, (paid.get(key) ?? 0n) + amounts[i]);
  }
  for (const [key, amount] of paid) {
    if (amount > cap.get(key)!) throw bad(`it pays ${key} ${amount} wei, above its rentals' price for the ${Math.ceil(exp.elapsedMs)} ms the run took (${cap.get(key)} wei)`);
  }

  let probabilities: Float32Array | undefined;
  if (result.missingRows === 0) {
    const bytes = Buffer.from(result.probabilities, "base64");
    if (result.count !== exp.count || !Number.isSafeInteger(result.classes) || result.classes < 1 || bytes.length !== exp.count * result.classes * 4) {
      throw bad(`it holds ${bytes.length} bytes of predictions for ${exp.count} samples × ${result.classes} classes`);
    }
    probabilities = new Float32Array(exp.count * result.classes);
    Buffer.from(probabilities.buffer).set(bytes);
  }
  return { providers: usage.providers, amounts, signature, total, probabilities, classes: result.classes, missingRows: result.missingRows };
}
