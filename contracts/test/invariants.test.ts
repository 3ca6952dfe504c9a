// Invariant test: 1,000 seeded random call sequences over all three pools and many accounts.
// Before each call the model (model.ts) predicts success or the exact custom error; after each call
// every pool's DUCK balance must equal what the model says it owes, and after each sequence every
// account's balance must match the model, so nobody is ever paid twice or for time not served.
// Reproduce a run with QUACKMESH_FUZZ_SEED=<seed printed in the output>.
import t from "tap";
import * as M from "./model.js";
import { ACK_WINDOW, DUCK, call, deploySystem, ethers, latestTime, revertData, send, signAttestation, signJobFinished, signUsage, type Signer } from "./fixtures.js";

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
  const [market, training, inference] = await Promise.all(Object.values(addresses).map((a) => s.duck.balanceOf(a)));
  const owed = [M.owedByMarket(model), M.owedByTraining(model), M.owedByInference(model)];
  if (market !== owed[0] || training !== owed[1] || inference !== owed[2]) {
    return `${action.label}: balances ${[market, training, inference]} but owed ${owed}`;
  }
  return null;
}
const stats: Record<string, { ok: number; reverted: number }> = {};

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
    const reward = chance(0.05) ? pool + 1n : BigInt(1 + int(Number(pool / DUCK))) * DUCK;
    const p = { pool, reward, rounds: int(4), threshold: int(10_200), evaluator: evaluator.address, deadline: now + BigInt(int(20_000)) };
    const args = [ethers.ZeroHash, p.pool, p.reward, p.rounds, p.threshold, p.evaluator, p.deadline, GAS];
    return { label: "createJob", outcome: M.createJob(model, who.address, p, now), run: () => by(who).tp.createTrainingJob(...args) };
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
  finish: async (now) => {
    const id = anyId(model.jobs.length);
    const mode = pick(["evaluator", "empty", "empty", "forged"]);
    const who = mode === "empty" ? someone(model.jobs[id - 1]?.requester ?? "") : pick(actors);
    const signer = mode === "evaluator" ? evaluator : mode === "forged" ? forger : undefined;
    const sig = signer ? await signJobFinished(signer, s.training, BigInt(id)) : "0x";
    return { label: "finish", outcome: M.finish(model, who.address, id, signer?.address, now), run: () => by(who).tp.finishJob(id, sig, GAS) };
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
const fixed = (label: string, outcome: (now: bigint) => M.Outcome, run: () => Promise<unknown>) =>
  async (now: bigint): Promise<Action> => ({ label, outcome: outcome(now), run });
const base = [
  fixed("list", () => M.list(model, a0.address, 2n * DUCK + 1n, 0), () => by(a0).m.listMachine("{}", 2n * DUCK + 1n, "h", 0)),
  fixed("list", () => M.list(model, a1.address, 3n * DUCK, 3), () => by(a1).m.listMachine("{}", 3n * DUCK, "h", 3)),
  fixed("list", () => M.list(model, a2.address, 5n * DUCK + 7n, 6), () => by(a2).m.listMachine("{}", 5n * DUCK + 7n, "h", 6)),
  fixed("rent", (n) => M.rent(model, a3.address, 1, 2, n), () => by(a3).m.rentMachine(1, 2, 0n, "k")),
  fixed("rent", (n) => M.rent(model, a4.address, 2, 3, n), () => by(a4).m.rentMachine(2, 3, 0n, "k")),
  fixed("ack", (n) => M.acknowledge(model, a1.address, 2, n), () => by(a1).m.acknowledgeRental(2)),
  fixed("createJob", (n) => M.createJob(model, a5.address, { pool: 25n * DUCK, reward: 4n * DUCK, rounds: 3, threshold: 6000, evaluator: evaluator.address, deadline: n + 14_400n }, n),
    () => by(a5).tp.createTrainingJob(ethers.ZeroHash, 25n * DUCK, 4n * DUCK, 3, 6000, evaluator.address, clock + 14_400n)),
  fixed("createInference", (n) => M.createInference(model, a6.address, 30n * DUCK, orchestrator.address, n), () => by(a6).ip.createInferenceJob(ethers.ZeroHash, 30n * DUCK, orchestrator.address)),
];

t.test("invariants hold across random call sequences", async (t) => {
  t.comment(`seed=${seed} (set QUACKMESH_FUZZ_SEED to replay)`);
  for (const make of base) {
    const problem = await step(make);
    if (problem) throw new Error(`base state: ${problem}`);
  }
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
    const actual = await Promise.all(tracked.map((a) => s.duck.balanceOf(a)));
    const mismatched = tracked.filter((a, i) => actual[i] !== model.balances.get(a.toLowerCase()));
    if (mismatched.length > 0) {
      failures += 1;
      t.fail(`sequence ${seq} [${log.join(", ")}]: balances differ from the model for ${mismatched.join(", ")}`, { seed });
    }
    await send("evm_revert", [id]);
    id = await snapshot();
    model = structuredClone(baseModel);
    clock = baseClock;
  }
  t.equal(failures, 0, `${SEQUENCES} sequences, ${steps} calls: every outcome and balance as the model predicts`);
  t.comment(JSON.stringify(stats));
  for (const name of names) {
    t.ok((stats[name]?.ok ?? 0) > 0, `${name} succeeded at least once`);
    t.ok((stats[name]?.reverted ?? 0) > 0, `${name} was refused at least once`);
  }
});
