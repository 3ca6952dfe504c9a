// Offline reproduction of cli/e2e/payments.test.ts's rounds (TINY_SPEC, three non-IID honest
// shards, a shuffled-label model, near-copies, a 7 → 1 flip claiming 2^53 − 1 samples) to measure
// scoring rules, in seconds: per round, each update's own accuracy per class, what the engine's
// scoreRound decides and pays, and the round model's test accuracy per class. The next round starts
// from that model. Optional: --known each update's loss change on the classes the input model
// recognizes (the learned-nothing rule's input), --loo each trained update's per-class effect on the
// round's model (its training replaced by none, and removed), --concentration where its own model
// sends each class the input model got right, --rows output-row similarity, --split the split rule,
// --lost the classes the input model recognizes that an update's own model gets under 40 % right
// (accuracy and loss: the unlearned-class rule's input). --iid gives the honest shards every class
// (cli/e2e/payments.test.ts's second job), --no-liar leaves the flip out (its first job).
// Run: npx tsx scripts/experiments/payments-scoring.ts --seed 0 --rounds 3 [--iid] [--no-liar] [--known] [--loo] ...
import { parseArgs } from "node:util";
import { loadMnist, splitHoldout, subset } from "../../native/data.js";
import { Network } from "../../native/index.js";
import { flatten, unflatten } from "../../native/tensors.js";
import type { Dataset, Tensor } from "../../native/types.js";
import { scoreRound } from "../../orchestrator/rounds/contribution.js";
import { classAccuracy, sampleFigures } from "../../orchestrator/rounds/runtime.js";
import { globalModel, type GlobalModel } from "../../orchestrator/rounds/checks.js";
import { makeStrategy, type FitResult, type RoundEval } from "../../orchestrator/strategy/index.js";
import { DEFAULT_SETTINGS } from "../../protocol/settings.js";
import { TINY_SPEC } from "../../cli/e2e/network.js";
import { payableScores, splitRewards } from "../../protocol/rewards.js";

const spec = TINY_SPEC;
// Flags, not environment variables: this is a measurement, not a setting of the product.
const { values: opt } = parseArgs({
  options: {
    seed: { type: "string", default: "0" },
    rounds: { type: "string", default: "3" },
    split: { type: "boolean", default: false },
    known: { type: "boolean", default: false },
    concentration: { type: "boolean", default: false },
    rows: { type: "boolean", default: false },
    loo: { type: "boolean", default: false },
    iid: { type: "boolean", default: false },
    "no-liar": { type: "boolean", default: false },
    lost: { type: "boolean", default: false },
  },
});
const SEED = Number(opt.seed);
const train = await loadMnist("train");
const test = await loadMnist("test", { limit: 2000 });
const validation = subset(train, Array.from({ length: 1000 }, (_, i) => 50_000 + i));
const trainSmall = subset(train, Array.from({ length: 20_000 }, (_, i) => i));

function byLabels(ds: Dataset, labels: number[], n: number, from = 0): Dataset {
  const idx: number[] = [];
  for (let i = from; i < ds.count && idx.length < n; i++) if (labels.includes(ds.y[i])) idx.push(i);
  return subset(ds, idx);
}
const relabel = (ds: Dataset, f: (y: number, i: number) => number): Dataset => ({ ...ds, y: Uint8Array.from(ds.y, (y, i) => f(y, i)) });

const evaluateOn = (ds: Dataset) => async (model: Tensor[]): Promise<RoundEval> => {
  const net = Network.fromWeights(spec, model);
  const ev = await net.evaluate(ds);
  const p = await net.predict(ds.x, ds.count);
  return { ...ev, classAccuracy: classAccuracy(p, ds.y, 10), perSample: sampleFigures(p, ds.y, 10) };
};
const evaluate = evaluateOn(validation);
const strategy = makeStrategy({ ...DEFAULT_SETTINGS }, evaluate);

const ALL = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
const shards = opt.iid ? [ALL, ALL, ALL] : [[0, 1, 2, 3, 4, 5, 6], [3, 4, 5, 6, 7, 8, 9], [0, 1, 2, 4, 6, 7, 8, 9]];
const WITH_LIAR = !opt["no-liar"];
const honestData = shards.map((labels, i) => splitHoldout(byLabels(trainSmall, labels, 1500, 5000 * i), 0.1, 1).train);
const shuffled = relabel(byLabels(trainSmall, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 1500, 15_000), (_, i) => (i * 7 + 3) % 10);
const flipped = relabel(byLabels(trainSmall, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 3000, 16_500), (y) => (y === 7 ? 1 : y));

async function trainFrom(g: GlobalModel, data: Dataset, opts: { epochs: number; batchSize: number; lr: number; momentum?: number; seed: number }): Promise<Float32Array> {
  const m = Network.fromWeights(spec, g.tensors);
  await m.train(data, opts);
  return flatten(m.weights());
}
function nearCopy(g: GlobalModel, seed: number): Float32Array {
  let s = seed >>> 0;
  const rnd = () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32) - 0.5;
  return g.flat.map((v) => v + 3.4e-6 * rnd());
}

interface Upd { name: string; numSamples: number; weights: Float32Array }
async function roundUpdates(g: GlobalModel, round: number): Promise<Upd[]> {
  const ups: Upd[] = [];
  ups.push({ name: "mislabelled", numSamples: 1500, weights: await trainFrom(g, shuffled, { epochs: 1, batchSize: 32, lr: 0.1, seed: round }) });
  ups.push({ name: "freerider", numSamples: 1500, weights: nearCopy(g, 1000 + round) });
  for (let k = 0; k < 5; k++) ups.push({ name: `sybil${k}`, numSamples: 1500, weights: nearCopy(g, 2000 + 10 * k + round) });
  if (WITH_LIAR && round >= 1) ups.push({ name: "liar", numSamples: Number.MAX_SAFE_INTEGER, weights: await trainFrom(g, flipped, { epochs: 3, batchSize: 32, lr: 0.1, seed: round }) });
  for (let i = 0; i < 3; i++) ups.push({ name: `honest${i}`, numSamples: honestData[i].count, weights: await trainFrom(g, honestData[i], { epochs: 1, batchSize: 64, lr: 0.1, momentum: 0.9, seed: SEED * 1000 + 100 * round + i + 7 }) });
  return ups;
}

async function predictOf(flat: Float32Array): Promise<number[]> {
  const net = Network.fromWeights(spec, unflatten(flat, g.layout));
  const p = await net.predict(validation.x, validation.count);
  return Array.from({ length: validation.count }, (_, k) => { let b = 0; for (let c = 1; c < 10; c++) if (p[k * 10 + c] > p[k * 10 + b]) b = c; return b; });
}
async function sampleLoss(flat: Float32Array): Promise<number[]> {
  const net = Network.fromWeights(spec, unflatten(flat, g.layout));
  const p = await net.predict(validation.x, validation.count);
  return Array.from({ length: validation.count }, (_, k) => -Math.log(Math.max(p[k * 10 + validation.y[k]], 1e-30)));
}
async function classLoss(flat: Float32Array): Promise<number[]> {
  const net = Network.fromWeights(spec, unflatten(flat, g.layout));
  const p = await net.predict(validation.x, validation.count);
  const sum = new Array(10).fill(0), n = new Array(10).fill(0);
  for (let k = 0; k < validation.count; k++) { const y = validation.y[k]; sum[y] += -Math.log(Math.max(p[k * 10 + y], 1e-12)); n[y]++; }
  return sum.map((v, c) => v / Math.max(1, n[c]));
}
const fmt = (a: number[]) => a.map((v) => (v * 100).toFixed(0).padStart(4)).join("");
const ROUNDS = Number(opt.rounds);
let g = globalModel("0x" + "0".repeat(64), Network.create(spec, { seed: 3 }).weights());
for (let round = 0; round < ROUNDS; round++) {
  const base = await evaluate(g.tensors);
  const all = await roundUpdates(g, round);
  const accepted: Upd[] = [];
  const own = new Map<Upd, RoundEval>();
  for (const u of all) {
    const ev = await evaluate(unflatten(u.weights, g.layout));
    own.set(u, ev);
    if (ev.accuracy >= 0.3) accepted.push(u);
  }
  console.log(`\n=== round ${round}: base acc ${(base.accuracy * 100).toFixed(1)} loss ${base.loss.toFixed(4)} classes ${fmt(base.classAccuracy)}`);
  const basePred = await predictOf(g.flat);
  if (opt.split) {
    // Synthetic temperature attackers: the global model with its output layer scaled.
    let off = 0;
    for (const l of g.layout) { if (l.name === "2.weight") break; off += l.shape.reduce((a, b) => a * b, 1); }
    const scaled = [0.7, 1.5].map((k) => ({ name: `scale${k}`, numSamples: 1500, weights: g.flat.map((v, j) => (j >= off ? v * k : v)) }));
    const baseSL = await sampleLoss(g.flat);
    for (const u of [...all, ...scaled]) {
      if (u.name.startsWith("sybil") || u.name === "freerider") continue;
      const sl = await sampleLoss(u.weights);
      const cells: string[] = [];
      let both = false;
      for (let c = 0; c < 10; c++) {
        let r = 0, rn = 0, w = 0, wn = 0;
        for (let k = 0; k < validation.count; k++) {
          if (validation.y[k] !== c) continue;
          if (basePred[k] === c) { r += sl[k] - baseSL[k]; rn++; } else { w += sl[k] - baseSL[k]; wn++; }
        }
        const dr = rn ? r / rn : NaN, dw = wn ? w / wn : NaN;
        if (dr < -1e-3 && dw < -1e-3) both = true;
        cells.push(`${Number.isNaN(dr) ? "  -  " : dr.toFixed(2).padStart(5)}/${Number.isNaN(dw) ? "  -  " : dw.toFixed(2).padStart(5)}`);
      }
      console.log(`   ${u.name.padEnd(12)} right/wrong dLoss ${both ? "BOTH " : "none "} ${cells.join(" ")}`);
    }
  }
  const baseCL = await classLoss(g.flat);

  for (const u of all) {
    const ev = own.get(u)!;
    if (u.name.startsWith("sybil") || u.name === "freerider") continue;
    const pred = await predictOf(u.weights);
    // Per class c: of the class-c samples the global model got right, the largest share the own model sends to one other class.
    const conc: string[] = [];
    for (let c = 0; c < 10; c++) {
      const counts = new Array(10).fill(0);
      let n = 0;
      for (let k = 0; k < validation.count; k++) if (validation.y[k] === c && basePred[k] === c) { n++; counts[pred[k]]++; }
      counts[c] = 0;
      const top = counts.indexOf(Math.max(...counts));
      conc.push(n >= 10 ? `${c}>${top}:${((counts[top] / n) * 100).toFixed(0)}` : `${c}:-`);
    }
    const cl = await classLoss(u.weights);
    if (opt.lost) {
      const lost = baseCL.map((_, c) => c).filter((c) => base.classAccuracy[c] >= 0.5 && ev.classAccuracy[c] < 0.4);
      console.log(`   ${u.name.padEnd(12)} lost classes ${lost.map((c) => `${c}: acc ${(ev.classAccuracy[c] * 100).toFixed(0)} loss ${baseCL[c].toFixed(2)}→${cl[c].toFixed(2)} conc ${conc[c]}`).join(" | ")}`);
    }
    const known = baseCL.map((_, c) => c).filter((c) => base.classAccuracy[c] >= 0.5);
    const gainsC = known.map((c) => baseCL[c] - cl[c]);
    const rel = known.map((c) => (baseCL[c] - cl[c]) / baseCL[c]);
    const accG = known.map((c) => ev.classAccuracy[c] - base.classAccuracy[c]);
    if (opt.known) console.log(`   ${u.name.padEnd(12)} known-class loss gain max ${Math.max(...gainsC).toFixed(3)} rel ${Math.max(...rel).toFixed(2)} accgain ${(Math.max(...accG) * 100).toFixed(0)} | ${gainsC.map((v) => v.toFixed(2)).join(" ")}`);
    if (opt.concentration) console.log(`   ${u.name.padEnd(12)} concentration ${conc.join(" ")}`);
    console.log(`${u.name.padEnd(12)} own acc ${(ev.accuracy * 100).toFixed(1)} loss ${ev.loss.toFixed(4)} ${accepted.includes(u) ? "accepted" : "refused "} classes ${fmt(ev.classAccuracy)}`);
  }
  // Sort by a pseudo hash (name) as the store does by update hash.
  const results: FitResult[] = accepted.map((u, i) => ({ contributor: u.name, updateHash: "0x" + Buffer.from(u.name).toString("hex").padEnd(64, "0"), numSamples: u.numSamples, weights: u.weights }));
  results.sort((a, b) => (a.updateHash < b.updateHash ? -1 : 1));
  const losses = results.map((r) => own.get(accepted.find((u) => u.name === r.contributor)!)!.loss);
  const scored = await scoreRound(round, results, losses, [], g, strategy, DEFAULT_SETTINGS);
  const shares = splitRewards(payableScores(scored.updates), 30n * 10n ** 18n, 30n * 10n ** 18n);
  const total = shares.reduce((a, s) => a + s.amount, 0n);
  console.log(`useful ${scored.useful}`);
  for (const [i, u] of scored.updates.entries()) {
    if (u.contributor.startsWith("sybil") || u.contributor === "freerider") continue;
    const pct = total > 0n ? Number((shares[i].amount * 10000n) / total) / 100 : 0;
    console.log(`  ${u.contributor.padEnd(12)} w ${u.weight} norm ${u.deltaNorm.toFixed(3)} score ${u.score.toExponential(2)} gain ${u.gain.toExponential(2)} ${u.excluded ?? "counted"} paid ${pct}%`);
  }
  if (opt.rows) {
    // Output layer rows: each trained update's change of class c's row against the others' weighted sum.
    const kept = scored.updates.map((u, i) => ({ u, r: results[i] })).filter(({ u }) => u.deltaNorm > 1e-3);
    let off = 0;
    for (const l of g.layout) { if (l.name === "2.weight") break; off += l.shape.reduce((a, b) => a * b, 1); }
    const H = 32;
    for (const k of kept) {
      const cos: number[] = [];
      for (let c = 0; c < 10; c++) {
        let dot = 0, a2 = 0, b2 = 0;
        for (let h = 0; h < H; h++) {
          const j = off + c * H + h;
          const d = k.r.weights[j] - g.flat[j];
          let o = 0;
          for (const m of kept) if (m !== k) o += (m.r.weights[j] - g.flat[j]);
          dot += d * o; a2 += d * d; b2 += o * o;
        }
        cos.push(dot / Math.sqrt(a2 * b2));
      }
      console.log(`  ${k.u.contributor.padEnd(12)} row cos ${cos.map((v) => v.toFixed(2).padStart(6)).join("")}`);
    }
  }
  if (opt.loo) {
    const kept = scored.updates.map((u, i) => ({ u, r: results[i] })).filter(({ u }) => u.deltaNorm > 1e-3);
    const agg = async (set: FitResult[]) => strategy.aggregate(round, set.map((r) => ({ ...r, numSamples: Math.min(r.numSamples, 1500) })), [], g.flat);
    const evalFlat = (f: Float32Array) => evaluate(unflatten(f, g.layout));
    const fullEv = await evalFlat(await agg(kept.map((k) => k.r)));
    console.log(`  all trained updates averaged: acc ${(fullEv.accuracy * 100).toFixed(1)} classes ${fmt(fullEv.classAccuracy)}`);
    for (const k of kept) {
      const cf = await evalFlat(await agg(kept.map((o) => (o === k ? { ...o.r, weights: g.flat } : o.r))));
      const rm = await evalFlat(await agg(kept.filter((o) => o !== k).map((o) => o.r)));
      const dcf = fullEv.classAccuracy.map((a, c) => a - cf.classAccuracy[c]);
      const drm = fullEv.classAccuracy.map((a, c) => a - rm.classAccuracy[c]);
      console.log(`  ${k.u.contributor.padEnd(12)} per class, with − replaced ${fmt(dcf)} (worst ${(Math.min(...dcf) * 100).toFixed(0)}) | with − removed ${fmt(drm)}`);
    }
  }
  const modelEval = await evaluateOn(test)(unflatten(scored.model, g.layout));
  console.log(`round model test acc ${(modelEval.accuracy * 100).toFixed(2)} classes ${fmt(modelEval.classAccuracy)}`);
  g = globalModel("0x" + "0".repeat(64), unflatten(scored.model, g.layout));
}
