// Invariant test: 1,000 seeded random call sequences over all three pools and many accounts.
// Before each call the model (model.ts) predicts success or the exact custom error; after each call
// every pool's DUCK balance must equal what the model says it owes and the TrainingPool invariants
// must hold in the model; after each sequence every account's balance and every training job's
// committed and claimed amounts must match the model, so nobody is ever paid twice, for time not
// served, or above what the evaluator committed.
// Reproduce a run with QUACKMESH_FUZZ_SEED=<seed printed in the output>.
import t from "tap";
import * as M from "./model.js";
import { StandardMerkleTree } from "@openzeppelin/merkle-tree";
import {
  ACK_WINDOW, DUCK, REWARD_LEAF, call, deploy, deploySystem, ethers, latestTime, revertData, send,
  signAttestation, signJobAborted, signJobFinished, signRoundCommitment, signUsage, type Signer,
} from "./fixtures.js";

const SEQUENCES = 1000;
const STEPS = 6;
const seed = Number(process.env.QUACKMESH_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));

/** mulberry32: small, fast, seedable. */
function prng(s: number) {
  let a = s >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = prng(seed);
const int = (n: number) => Math.floor(rand() * n);
const pick = <T>(xs: T[]): T => xs[int(xs.length)];
const chance = (p: number) => rand() < p;

const s = await deploySystem();
const all = await ethers.getSigners();
const actors = all.slice(1, 11);
const [evaluator, orchestrator, forger] = all.slice(11, 14);
const contracts = [s.market, s.training, s.inference];
const addresses = {
  market: await s.market.getAddress(),
  training: await s.training.getAddress(),
  inference: await s.inference.getAddress(),
};
// One poor account, so that short funds come up too.
await call(s.duck, actors[9]).transfer(s.owner.address, 1_000_000n * DUCK - 40n * DUCK);

const tracked = [...actors, evaluator, orchestrator, forger].map((a) => a.address);
let model: M.Model = {
  ackWindow: ACK_WINDOW,
  addresses,
  balances: new Map(),
  machines: [],
  rentals: [],
  jobs: [],
  inferences: [],
};
for (const a of [...tracked, ...Object.values(addresses)]) model.balances.set(a.toLowerCase(), await s.duck.balanceOf(a));
// Many balances in one call: the pools after every step, the accounts after every sequence.
const reader = await deploy("BalanceReader");
const duckAddress = await s.duck.getAddress();
const balancesOf = (accounts: string[]): Promise<bigint[]> => reader.balancesOf(duckAddress, accounts).then((b: bigint[]) => [...b]);
const pools = Object.values(addresses);
let clock = await latestTime();

interface Action { label: string; outcome: M.Outcome; run: () => Promise<unknown> }
const GAS = { gasLimit: 2_000_000 };

function errorName(e: unknown): string {
  const data = revertData(e);
  for (const c of contracts) {
    const parsed = data ? c.interface.parseError(data) : null;
    if (parsed) return parsed.name;
  }
  return `unparsed: ${(e as Error).message}`;
}

/** Sends one call at the next second and checks it against the model. Returns a problem or null. */
async function step(make: (now: bigint) => Promise<Action>): Promise<string | null> {
  clock += 1n;
  const action = await make(clock);
  await send("evm_setNextBlockTimestamp", [Number(clock)]);
  let error: string | undefined;
  try {
    await action.run();
  } catch (e) {
    error = errorName(e);
  }
  stats[action.label] ??= { ok: 0, reverted: 0 };
  const expected = "error" in action.outcome ? action.outcome.error : undefined;
  if (error !== expected) return `${action.label}: expected ${expected ?? "success"}, got ${error ?? "success"}`;
  if ("apply" in action.outcome) action.outcome.apply();
  stats[action.label][error ? "reverted" : "ok"] += 1;
  // A reverted call changes no state: the balances were checked after the last successful one.
  if (error) return null;
  if (TRAINING.has(action.label)) trainingTouched = true;
  const [market, training, inference] = await balancesOf(pools);
  const owed = [M.owedByMarket(model), M.owedByTraining(model), M.owedByInference(model)];
  if (market !== owed[0] || training !== owed[1] || inference !== owed[2]) {
    return `${action.label}: balances ${[market, training, inference]} but owed ${owed}`;
  }
  const broken = M.trainingInvariantProblem(model);
  return broken ? `${action.label}: ${broken}` : null;
}

/** Every training job's amounts on chain against the model: a description of the first mismatch, or null. */
async function trainingStateProblem(): Promise<string | null> {
  const checks = model.jobs.flatMap((j, i) => {
    const id = i + 1;
    const job = s.training.getJob(id).then((g: Record<string, bigint | boolean>) => {
      const want = [j.remaining, j.outstanding, BigInt(j.commitments.size), j.finished];
      const got = [g.remaining, g.outstanding, g.committedRounds, g.finished];
      return want.every((w, k) => w === got[k]) ? null : `job ${id}: chain ${got} model ${want}`;
    });
    const rounds = [...j.commitments].map(([round, c]) =>
      s.training.getRoundCommitment(id, round).then(([, total, claimed]: bigint[]) =>
        total === c.total && claimed === c.claimed ? null : `job ${id} round ${round}: chain ${total}/${claimed} model ${c.total}/${c.claimed}`));
    return [job, ...rounds];
  });
  return (await Promise.all(checks)).find((p) => p !== null) ?? null;
}

/** A rewards tree over `leaves` ([contributor, amount], indexed by position), with each leaf's proof. */
function tree(jobId: number, round: number, leaves: [string, bigint][]) {
  const merkle = StandardMerkleTree.of(leaves.map(([who, amount], i) => [BigInt(jobId), round, i, who, amount]), REWARD_LEAF);
  return { root: merkle.root, proofs: leaves.map((_, i) => merkle.getProof(i)) };
}
const stats: Record<string, { ok: number; reverted: number }> = {};
/** The label of claims of leaves past the 64 a round marks in its own slot (counted apart). */
const CLAIM_PAST_64 = "claim (leaf 64 on)";
const TRAINING = new Set(["createJob", "submit", "commit", "claim", CLAIM_PAST_64, "finish", "abort"]);
/** Whether a TrainingPool call succeeded in the current sequence (then its job state is compared at the end). */
let trainingTouched = false;

// ---- action builders: random arguments, mostly sensible, sometimes wrong ----
const by = (who: Signer) => ({ m: call(s.market, who), tp: call(s.training, who), ip: call(s.inference, who) });
const someone = (usual: string): Signer => (chance(0.8) ? actors.find((a) => a.address === usual) ?? pick(actors) : pick(actors));
const anyId = (count: number) => 1 + int(count + 1); // sometimes one past the end

const builders: Record<string, (now: bigint) => Promise<Action>> = {
  list: async () => {
    const who = pick(actors);
    const price = chance(0.05) ? 0n : BigInt(1 + int(10)) * DUCK + BigInt(int(1000));
    const maxHours = pick([0, 1, 3, 6]);
    return { label: "list", outcome: M.list(model, who.address, price, maxHours), run: () => by(who).m.listMachine("{}", price, "h:22", maxHours, GAS) };
  },
  unlist: async () => {
    const id = anyId(model.machines.length);
    const who = someone(model.machines[id - 1]?.provider ?? "");
    return { label: "unlist", outcome: M.unlist(model, who.address, id), run: () => by(who).m.unlistMachine(id, GAS) };
  },
  rent: async (now) => {
    const who = pick(actors);
    const id = anyId(model.machines.length);
    const hours = int(7);
    return { label: "rent", outcome: M.rent(model, who.address, id, hours, now), run: () => by(who).m.rentMachine(id, hours, 0n, "ssh-ed25519 AAAA", GAS) };
  },
  ack: async (now) => {
    const id = anyId(model.rentals.length);
    const r = model.rentals[id - 1];
    const who = someone(r ? model.machines[r.machineId - 1].provider : "");
    return { label: "ack", outcome: M.acknowledge(model, who.address, id, now), run: () => by(who).m.acknowledgeRental(id, GAS) };
  },
  cancel: async (now) => {
    const id = anyId(model.rentals.length);
    const who = someone(model.rentals[id - 1]?.renter ?? "");
    return { label: "cancel", outcome: M.cancel(model, who.address, id, now), run: () => by(who).m.cancelUnacknowledged(id, GAS) };
  },
  end: async (now) => {
    const id = anyId(model.rentals.length);
    const who = someone(model.rentals[id - 1]?.renter ?? "");
    return { label: "end", outcome: M.end(model, who.address, id, now), run: () => by(who).m.endRental(id, GAS) };
  },
  withdraw: async (now) => {
    const id = anyId(model.rentals.length);
    const r = model.rentals[id - 1];
    const who = someone(r ? model.machines[r.machineId - 1].provider : "");
    return { label: "withdraw", outcome: M.withdraw(model, who.address, id, now), run: () => by(who).m.withdrawEarnings(id, GAS) };
  },
  createJob: async (now) => {
    const who = pick(actors);
    const pool = BigInt(1 + int(30)) * DUCK;
    const budget = chance(0.04) ? pick([0n, pool + 1n]) : BigInt(1 + int(Number(pool / DUCK))) * DUCK;
    const maxPer = chance(0.04) ? budget + 1n : (budget * BigInt(1 + int(4))) / 4n;
    const flat = chance(0.5) ? 0n : chance(0.05) ? budget + 1n : budget / BigInt(2 + int(6));
    const claimWindow = chance(0.03) ? M.MAX_CLAIM_WINDOW + 1n : BigInt(pick([0, 60, 600, 3600]));
    const p = { pool, budget, maxPer, flat, rounds: int(4), threshold: int(10_200), evaluator: evaluator.address, deadline: now + BigInt(int(20_000)), claimWindow };
    const terms = {
      modelHash: ethers.ZeroHash, totalRewardPool: p.pool, roundBudget: p.budget, maxPerContributor: p.maxPer, flatPerUpdate: p.flat,
      rounds: p.rounds, accuracyThresholdBps: p.threshold, evaluator: p.evaluator, deadline: p.deadline, claimWindow: p.claimWindow,
    };
    return { label: "createJob", outcome: M.createJob(model, who.address, p, now), run: () => by(who).tp.createTrainingJob(terms, GAS) };
  },
  submit: async (now) => {
    const who = pick(actors);
    const id = anyId(model.jobs.length);
    const job = model.jobs[id - 1];
    const round = int((job?.rounds ?? 2) + 1);
    const accuracy = Math.min(10_000, Math.max(0, (job?.threshold ?? 5000) + int(2000) - 400));
    const signer = chance(0.9) ? evaluator : forger;
    const a = { jobId: BigInt(id), round, contributor: who.address, updateHash: ethers.ZeroHash, accuracyBps: accuracy, numSamples: 100n };
    const sig = await signAttestation(signer, s.training, a);
    return { label: "submit", outcome: M.submit(model, who.address, id, round, accuracy, signer.address, now), run: () => by(who).tp.submitUpdate(id, round, ethers.ZeroHash, accuracy, 100n, sig, GAS) };
  },
  commit: async (now) => {
    const id = anyId(model.jobs.length);
    const job = model.jobs[id - 1];
    const round = int((job?.rounds ?? 2) + 1);
    const maxPer = job?.maxPer ?? 5n * DUCK;
    // Now and then 64 leaves of nobody come first, so that claims also mark leaves past the 64 a
    // round keeps in its own slot.
    const filler: [string, bigint][] = chance(0.15) ? Array.from({ length: 64 }, (_, i) => nobody(i)) : [];
    const leaves: [string, bigint][] = [
      ...filler,
      ...Array.from({ length: 1 + int(4) }, (): [string, bigint] => [pick(actors).address, (maxPer * BigInt(int(chance(0.1) ? 130 : 100))) / 100n]),
    ];
    const sum = leaves.reduce((a, [, x]) => a + x, 0n);
    // Mostly the leaves' sum; sometimes less (a faulty evaluator), sometimes the whole budget.
    const total = chance(0.8) ? sum : chance(0.5) ? sum / 2n : (job?.budget ?? sum);
    const { root, proofs } = tree(id, round, leaves);
    const zeroRoot = chance(0.03);
    const signer = chance(0.9) ? evaluator : forger;
    const c = { jobId: BigInt(id), round, rewardsRoot: zeroRoot ? ethers.ZeroHash : root, updatesRoot: ethers.ZeroHash, modelHash: ethers.ZeroHash, total };
    const sig = await signRoundCommitment(signer, s.training, c);
    // The leaf count is an unsigned gas hint: mostly right, sometimes none or far too many; the model ignores it.
    const hint = chance(0.7) ? leaves.length : chance(0.5) ? 0 : leaves.length + int(600);
    return {
      label: "commit",
      outcome: M.commit(model, id, round, total, zeroRoot, signer.address, now, leaves, proofs),
      run: () => by(pick(actors)).tp.commitRound(id, round, c.rewardsRoot, c.updatesRoot, c.modelHash, total, hint, sig, GAS),
    };
  },
  claim: async () => {
    const id = anyId(model.jobs.length);
    const rounds = [...(model.jobs[id - 1]?.commitments ?? new Map<number, M.CommitmentModel>())];
    const [round, c] = rounds.length > 0 && chance(0.9) ? pick(rounds) : [int(4), undefined];
    const leaves = c?.leaves ?? [[pick(actors).address, DUCK] as [string, bigint]];
    // Mostly a leaf of an actor (fillers belong to nobody who can send).
    const own = leaves.map((_, i) => i).filter((i) => actors.some((a) => a.address === leaves[i][0]));
    const index = own.length > 0 && chance(0.9) ? pick(own) : int(leaves.length);
    // Without a chosen commitment no leaf is proven (-1); otherwise mostly the leaf's own proof,
    // sent with its own index (else another leaf's index: a proof for one leaf is no claim to another).
    const proofOf = !c ? -1 : chance(0.9) ? index : int(leaves.length + 1);
    const sentIndex = chance(0.92) ? index : int(leaves.length + 2);
    const who = chance(0.85) ? actors.find((a) => a.address === leaves[index][0]) ?? pick(actors) : pick(actors);
    const amount = leaves[index][1] + (chance(0.1) ? 1n : 0n);
    const proof = c?.proofs[proofOf] ?? [ethers.ZeroHash];
    return {
      label: sentIndex >= 64 ? CLAIM_PAST_64 : "claim",
      outcome: M.claim(model, who.address, id, round, sentIndex, amount, proofOf),
      run: () => by(who).tp.claim(id, round, sentIndex, amount, proof, GAS),
    };
  },
  finish: async (now) => {
    const id = anyId(model.jobs.length);
    const mode = pick(["evaluator", "empty", "empty", "forged"]);
    const who = mode === "empty" ? someone(model.jobs[id - 1]?.requester ?? "") : pick(actors);
    const signer = mode === "evaluator" ? evaluator : mode === "forged" ? forger : undefined;
    const sig = signer ? await signJobFinished(signer, s.training, BigInt(id)) : "0x";
    return { label: "finish", outcome: M.finish(model, who.address, id, signer?.address, now), run: () => by(who).tp.finishJob(id, sig, GAS) };
  },
  abort: async () => {
    const id = anyId(model.jobs.length);
    const j = model.jobs[id - 1];
    const who = someone(j?.requester ?? "");
    const committed = j?.commitments.size ?? 0;
    // Mostly between the committed rounds and the job's rounds; now and then one outside.
    const rounds = Math.max(0, committed + int((j?.rounds ?? 3) - committed + 2) - (chance(0.1) ? 1 : 0));
    const signer = chance(0.9) ? evaluator : forger;
    const signedRounds = chance(0.95) ? rounds : rounds + 1;
    const sig = await signJobAborted(signer, s.training, BigInt(id), signedRounds);
    return { label: "abort", outcome: M.abort(model, who.address, id, rounds, signer.address, signedRounds), run: () => by(who).tp.abortJob(id, rounds, sig, GAS) };
  },
  createInference: async (now) => {
    const who = pick(actors);
    const max = chance(0.05) ? 0n : BigInt(1 + int(40)) * DUCK;
    return { label: "createInference", outcome: M.createInference(model, who.address, max, orchestrator.address, now), run: () => by(who).ip.createInferenceJob(ethers.ZeroHash, max, orchestrator.address, GAS) };
  },
  settle: async () => {
    const id = anyId(model.inferences.length);
    const max = model.inferences[id - 1]?.max ?? 10n * DUCK;
    const providers = Array.from({ length: int(4) }, () => pick(actors).address);
    const amounts = providers.map(() => (max * BigInt(int(chance(0.1) ? 120 : 40))) / 100n);
    const signer = chance(0.9) ? orchestrator : forger;
    const sig = await signUsage(signer, s.inference, { jobId: BigInt(id), providers, amounts });
    return { label: "settle", outcome: M.settle(model, id, providers, amounts, signer.address), run: () => by(pick(actors)).ip.settle(id, providers, amounts, sig, GAS) };
  },
  reclaim: async (now) => {
    const id = anyId(model.inferences.length);
    const who = someone(model.inferences[id - 1]?.requester ?? "");
    return { label: "reclaim", outcome: M.reclaim(model, who.address, id, now), run: () => by(who).ip.reclaim(id, GAS) };
  },
};

function timeJump(): void {
  // A day now and then, so that inference escrows become reclaimable.
  clock += BigInt(pick([30, 599, 601, 1800, 3600, 7200, 20_000, 86_400]));
}

// ---- a common starting point: machines, a pending and an active rental, a job, an inference job ----
const [a0, a1, a2, a3, a4, a5, a6] = actors;
// Job 1: 25 DUCK, 10 per round, at most 6 per contributor, 1 flat per update, a 10-minute claim
// window, and round 0 already committed (9 DUCK to four contributors, one of them 0; 64 leaves of nobody among them).
const baseJob = { pool: 25n * DUCK, budget: 10n * DUCK, maxPer: 6n * DUCK, flat: DUCK, rounds: 3, threshold: 6000, evaluator: evaluator.address, claimWindow: 600n };
const baseTerms = (deadline: bigint) => ({
  modelHash: ethers.ZeroHash, totalRewardPool: baseJob.pool, roundBudget: baseJob.budget, maxPerContributor: baseJob.maxPer, flatPerUpdate: baseJob.flat,
  rounds: baseJob.rounds, accuracyThresholdBps: baseJob.threshold, evaluator: baseJob.evaluator, deadline, claimWindow: baseJob.claimWindow,
});
// 64 leaves of nobody between a1's and a2's put a2's and a3's past the 64 marks kept in the round's slot.
const nobody = (i: number): [string, bigint] => [ethers.zeroPadValue(ethers.toBeHex(i + 1), 20), 0n];
const baseLeaves: [string, bigint][] = [[a0.address, 4n * DUCK], [a1.address, 3n * DUCK], ...Array.from({ length: 64 }, (_, i) => nobody(i)), [a2.address, 2n * DUCK], [a3.address, 0n]];
const baseTree = tree(1, 0, baseLeaves);
const fixed = (label: string, outcome: (now: bigint) => M.Outcome, run: () => Promise<unknown>) =>
  async (now: bigint): Promise<Action> => ({ label, outcome: outcome(now), run });
const base = [
  fixed("list", () => M.list(model, a0.address, 2n * DUCK + 1n, 0), () => by(a0).m.listMachine("{}", 2n * DUCK + 1n, "h", 0)),
  fixed("list", () => M.list(model, a1.address, 3n * DUCK, 3), () => by(a1).m.listMachine("{}", 3n * DUCK, "h", 3)),
  fixed("list", () => M.list(model, a2.address, 5n * DUCK + 7n, 6), () => by(a2).m.listMachine("{}", 5n * DUCK + 7n, "h", 6)),
  fixed("rent", (n) => M.rent(model, a3.address, 1, 2, n), () => by(a3).m.rentMachine(1, 2, 0n, "k")),
  fixed("rent", (n) => M.rent(model, a4.address, 2, 3, n), () => by(a4).m.rentMachine(2, 3, 0n, "k")),
  fixed("ack", (n) => M.acknowledge(model, a1.address, 2, n), () => by(a1).m.acknowledgeRental(2)),
  fixed("createJob", (n) => M.createJob(model, a5.address, { ...baseJob, deadline: n + 14_400n }, n), () => by(a5).tp.createTrainingJob(baseTerms(clock + 14_400n))),
  async (now: bigint): Promise<Action> => {
    const c = { jobId: 1n, round: 0, rewardsRoot: baseTree.root, updatesRoot: ethers.ZeroHash, modelHash: ethers.ZeroHash, total: 9n * DUCK };
    const sig = await signRoundCommitment(evaluator, s.training, c);
    return {
      label: "commit",
      outcome: M.commit(model, 1, 0, c.total, false, evaluator.address, now, baseLeaves, baseTree.proofs),
      run: () => by(a6).tp.commitRound(1n, 0, c.rewardsRoot, c.updatesRoot, c.modelHash, c.total, baseLeaves.length, sig),
    };
  },
  fixed("createInference", (n) => M.createInference(model, a6.address, 30n * DUCK, orchestrator.address, n), () => by(a6).ip.createInferenceJob(ethers.ZeroHash, 30n * DUCK, orchestrator.address)),
];

t.test("invariants hold across random call sequences", async (t) => {
  t.comment(`seed=${seed} (set QUACKMESH_FUZZ_SEED to replay)`);
  for (const make of base) {
    const problem = await step(make);
    if (problem) throw new Error(`base state: ${problem}`);
  }
  const baseProblem = await trainingStateProblem();
  if (baseProblem) throw new Error(`base state: ${baseProblem}`);
  const baseModel = structuredClone(model);
  const baseClock = clock;
  const snapshot = async () => (await send("evm_snapshot")) as string;
  let id = await snapshot();
  const names = Object.keys(builders);
  let failures = 0;
  let steps = 0;
  for (let seq = 0; seq < SEQUENCES && failures < 5; seq++) {
    const log: string[] = [];
    for (let i = 0; i < STEPS; i++) {
      if (chance(0.25)) timeJump();
      const name = pick(names);
      log.push(name);
      const problem = await step(builders[name]);
      steps += 1;
      if (problem) {
        failures += 1;
        t.fail(`sequence ${seq} step ${i} [${log.join(", ")}]: ${problem}`, { seed });
        break;
      }
    }
    const [actual, training] = await Promise.all([balancesOf(tracked), trainingTouched ? trainingStateProblem() : null]);
    const mismatched = tracked.filter((a, i) => actual[i] !== model.balances.get(a.toLowerCase()));
    if (mismatched.length > 0) {
      failures += 1;
      t.fail(`sequence ${seq} [${log.join(", ")}]: balances differ from the model for ${mismatched.join(", ")}`, { seed });
    }
    if (training) {
      failures += 1;
      t.fail(`sequence ${seq} [${log.join(", ")}]: ${training}`, { seed });
    }
    await send("evm_revert", [id]);
    id = await snapshot();
    model = structuredClone(baseModel);
    clock = baseClock;
    trainingTouched = false;
  }
  t.equal(failures, 0, `${SEQUENCES} sequences, ${steps} calls: every outcome and balance as the model predicts`);
  t.comment(JSON.stringify(stats));
  for (const name of [...names, CLAIM_PAST_64]) {
    t.ok((stats[name]?.ok ?? 0) > 0, `${name} succeeded at least once`);
    t.ok((stats[name]?.reverted ?? 0) > 0, `${name} was refused at least once`);
  }
});
