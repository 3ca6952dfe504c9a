/**
 * Splits MNIST (or Fashion-MNIST) into the folders of a federated run: one per contributor (IID, or non-IID with
 * Dirichlet(α) label proportions), a validation set for the requester taken from train and
 * disjoint from every contributor, and the MNIST test set for the final evaluation.
 *
 *   node dist/scripts/split-mnist.js --out DIR --clients 3 [--iid | --alpha 0.5] [--seed 1]
 *        [--validation 2000] [--per-client N]
 */
import { resolve, join } from "node:path";
import { QuackError } from "../../../protocol/errors.js";
import { IMAGE_SETS, labelHistogram, loadImageSet, makeRng, permutation, subset, writeIdx, type ImageSetName, type Rng } from "../../../native/data.js";

export interface SplitOptions {
  out: string;
  /** The image set split (default "mnist"); "fashion-mnist" from Debian's dataset-fashion-mnist. */
  dataset?: ImageSetName;
  clients: number;
  /** IID is the default when no alpha is given. */
  iid?: boolean;
  /** Dirichlet concentration: small (0.1) gives each contributor few classes, large tends to IID. */
  alpha?: number;
  seed?: number;
  /** samples held out of train for the requester's validation set (default 2000) */
  validation?: number;
  /** samples per contributor: exactly this many for IID, at most this many for Dirichlet */
  perClient?: number;
}

export interface PartSummary {
  name: string;
  dir: string;
  count: number;
  /** samples per class 0…9 */
  labels: number[];
}

export interface SplitSummary {
  out: string;
  dataset: ImageSetName;
  mode: "iid" | "dirichlet";
  alpha: number | null;
  seed: number;
  clients: PartSummary[];
  validation: PartSummary;
  test: PartSummary;
  /** train samples given to nobody */
  unused: number;
  /** mean total-variation distance of contributors' label mix from the pool's (0 = identical, 1 = disjoint) */
  skew: number;
}

export interface SplitPlan {
  validation: Uint32Array;
  clients: Uint32Array[];
}

const badArg = (message: string, fix: string) => new QuackError("BAD_ARGUMENT", message, { fix });
const isCount = (n: unknown, min: number): n is number => typeof n === "number" && Number.isSafeInteger(n) && n >= min;

/** A standard normal draw (Box–Muller). */
function gaussian(rng: Rng): number {
  return Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
}

/**
 * log of a Gamma(shape, 1) draw by Marsaglia–Tsang; shapes below 1 use the boost
 * Gamma(a) = Gamma(a + 1) · U^(1/a). Logs, because for small shapes the draw itself underflows.
 */
function logGamma(shape: number, rng: Rng): number {
  if (shape < 1) return logGamma(shape + 1, rng) + Math.log(1 - rng()) / shape;
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number;
    let v: number;
    do {
      x = gaussian(rng);
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = rng();
    if (u < 1 - 0.0331 * x ** 4 || Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return Math.log(d * v);
  }
}

export function sampleGamma(shape: number, rng: Rng): number {
  if (!(shape > 0 && Number.isFinite(shape))) throw badArg(`Gamma shape ${shape} is not a positive number.`, "Pass a shape above 0.");
  return Math.exp(logGamma(shape, rng));
}

/** k proportions summing to 1 from a symmetric Dirichlet(alpha). */
export function sampleDirichlet(alpha: number, k: number, rng: Rng): number[] {
  if (!(alpha > 0 && Number.isFinite(alpha))) throw badArg(`Dirichlet alpha ${alpha} is not a positive number.`, "Pass --alpha above 0, e.g. 0.5.");
  const logs = Array.from({ length: k }, () => logGamma(alpha, rng));
  const max = Math.max(...logs);
  const w = logs.map((l) => Math.exp(l - max));
  const sum = w.reduce((a, b) => a + b, 0);
  return w.map((x) => x / sum);
}

function checkOptions(o: SplitOptions): void {
  if (typeof o.out !== "string" || o.out === "") throw badArg("no output folder given.", "Pass --out DIR.");
  if (o.dataset !== undefined && !IMAGE_SETS.includes(o.dataset)) throw badArg(`--dataset ${JSON.stringify(o.dataset)} is not a known image set.`, `Pass one of ${IMAGE_SETS.join(", ")}.`);
  if (!isCount(o.clients, 1)) throw badArg(`--clients ${o.clients} is not a whole number ≥ 1.`, "Pass --clients 3, for example.");
  if (o.iid && o.alpha !== undefined) throw badArg("both --iid and --alpha were given.", "Pick one: --iid for identical label mixes, --alpha for Dirichlet skew.");
  if (o.alpha !== undefined && !(o.alpha > 0 && Number.isFinite(o.alpha))) throw badArg(`--alpha ${o.alpha} is not a positive number.`, "Pass --alpha 0.5, for example (smaller is more skewed).");
  if (o.seed !== undefined && !Number.isSafeInteger(o.seed)) throw badArg(`--seed ${o.seed} is not an integer.`, "Pass --seed 1, for example.");
  if (o.validation !== undefined && !isCount(o.validation, 1)) throw badArg(`--validation ${o.validation} is not a whole number ≥ 1.`, "Pass --validation 2000, for example.");
  if (o.perClient !== undefined && !isCount(o.perClient, 1)) throw badArg(`--per-client ${o.perClient} is not a whole number ≥ 1.`, "Pass --per-client 5000, for example, or leave it out.");
}

/**
 * Which train indices go where. Validation comes first from one seeded shuffle; the rest is the
 * contributors' pool. Dirichlet splits each class across contributors by Dirichlet(α) shares
 * (the usual federated-learning benchmark partition), redrawing until everyone has a minimum.
 */
export function planSplit(labels: Uint8Array, opts: Omit<SplitOptions, "out">): SplitPlan {
  checkOptions({ ...opts, out: "-" });
  const rng = makeRng(opts.seed ?? 1);
  const nValidation = opts.validation ?? 2000;
  const order = permutation(labels.length, rng);
  const pool = order.subarray(nValidation);
  if (nValidation >= labels.length || pool.length < opts.clients) {
    throw badArg(`--validation ${nValidation} leaves ${Math.max(0, pool.length)} samples for ${opts.clients} contributors.`, "Hold out fewer samples or use fewer contributors.");
  }
  const validation = order.slice(0, nValidation).sort();
  const k = opts.clients;
  if (opts.alpha === undefined) {
    const per = opts.perClient ?? Math.floor(pool.length / k);
    if (per * k > pool.length) {
      throw badArg(`${k} contributors × ${per} samples need ${per * k}, but only ${pool.length} remain after validation.`, "Lower --per-client or --clients.");
    }
    return { validation, clients: Array.from({ length: k }, (_, c) => pool.slice(c * per, (c + 1) * per).sort()) };
  }
  const byClass: number[][] = [];
  for (const i of pool) (byClass[labels[i]] ??= []).push(i);
  const minSize = Math.min(10, opts.perClient ?? 10, Math.floor(pool.length / k));
  for (let attempt = 0; attempt < 1000; attempt++) {
    const parts: number[][] = Array.from({ length: k }, () => []);
    for (const members of byClass) {
      if (!members) continue;
      const shares = sampleDirichlet(opts.alpha, k, rng);
      let acc = 0;
      let start = 0;
      for (let c = 0; c < k; c++) {
        acc += shares[c];
        const end = c === k - 1 ? members.length : Math.round(acc * members.length);
        for (let j = start; j < end; j++) parts[c].push(members[j]);
        start = Math.max(start, end);
      }
    }
    if (parts.every((p) => p.length >= minSize)) {
      const clients = parts.map((p) => {
        const all = Uint32Array.from(p);
        if (opts.perClient === undefined || all.length <= opts.perClient) return all.sort();
        // a random subset keeps the contributor's label mix in expectation
        const pick = permutation(all.length, rng).subarray(0, opts.perClient);
        return Uint32Array.from(pick, (j) => all[j]).sort();
      });
      return { validation, clients };
    }
  }
  throw badArg(`Dirichlet(α = ${opts.alpha}) kept leaving a contributor with fewer than ${minSize} samples.`, "Raise --alpha or lower --clients.");
}

function totalVariation(h: number[], ref: number[]): number {
  const n = h.reduce((a, b) => a + b, 0);
  const m = ref.reduce((a, b) => a + b, 0);
  if (n === 0) return 0;
  return 0.5 * ref.reduce((s, r, i) => s + Math.abs((h[i] ?? 0) / n - r / m), 0);
}

/** Writes the folders and returns what went where; each folder reads back with loadDataset. */
export async function splitMnist(opts: SplitOptions): Promise<SplitSummary> {
  checkOptions(opts);
  const out = resolve(opts.out);
  const seed = opts.seed ?? 1;
  const dataset = opts.dataset ?? "mnist";
  const train = await loadImageSet(dataset, "train");
  const test = await loadImageSet(dataset, "test");
  const plan = planSplit(train.y, opts);

  const write = async (name: string, indices: Uint32Array | null, prefix: string): Promise<PartSummary> => {
    const ds = indices ? subset(train, indices) : test;
    const dir = join(out, name);
    await writeIdx(dir, ds, prefix);
    return { name, dir, count: ds.count, labels: labelHistogram(ds.y) };
  };
  const clients: PartSummary[] = [];
  for (let c = 0; c < plan.clients.length; c++) clients.push(await write(`contributor-${c + 1}`, plan.clients[c], "train"));
  const validation = await write("validation", plan.validation, "validation");
  const testPart = await write("test", null, "t10k");

  const used = clients.reduce((a, c) => a + c.count, 0) + validation.count;
  const poolHist = labelHistogram(train.y).map((n, i) => n - validation.labels[i]);
  const skew = clients.reduce((s, c) => s + totalVariation(c.labels, poolHist), 0) / clients.length;
  return {
    out,
    dataset,
    mode: opts.alpha === undefined ? "iid" : "dirichlet",
    alpha: opts.alpha ?? null,
    seed,
    clients,
    validation,
    test: testPart,
    unused: train.count - used,
    skew: Math.round(skew * 1e4) / 1e4,
  };
}
