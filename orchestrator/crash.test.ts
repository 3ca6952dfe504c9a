import t from "tap";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Network } from "../native/index.js";
import { loadMnist, subset } from "../native/data.js";
import { encodeSafetensors, sha256Hex } from "../native/safetensors.js";
import type { Dataset } from "../native/types.js";
import { OrchestratorClient } from "./client.js";
import { isQuackError } from "../protocol/errors.js";
import { killHard, startChild, type Child } from "./testing/child.js";
import { SMALL_SPEC, mnistIdxPair, randomWallet, trainUpdate } from "./testing/fixtures.js";
import type { ChainEventRecord } from "./store/repository.js";

const ROUNDS = 4;
const CONTRIBUTORS = 3;
const SEED = 77;

interface Run {
  finalModel: Buffer;
  roundHashes: string[];
  restarts: number;
}

/**
 * One job of ROUNDS rounds with CONTRIBUTORS real updates each, driven over HTTP. With `kills`,
 * the orchestrator is killed with SIGKILL that many times at random moments and restarted on
 * the same data dir; the driver retries what failed, as a real client would.
 */
async function run(dataDir: string, shards: Dataset[], kills: number): Promise<Run> {
  const requester = randomWallet();
  const wallets = Array.from({ length: CONTRIBUTORS }, () => randomWallet());
  const modelHash = sha256Hex(encodeSafetensors(Network.create(SMALL_SPEC, { seed: SEED }).weights(), { format: "pt" }));
  const announce: ChainEventRecord = {
    txHash: "0x" + "ab".repeat(32),
    logIndex: 0,
    blockNumber: 1,
    source: "TrainingPool",
    name: "TrainingJobCreated",
    args: {
      jobId: "1", requester: requester.address, modelHash, evaluator: "", totalRewardPool: "1000", roundBudget: "100", maxPerContributor: "100", flatPerUpdate: "0", claimWindow: "60",
      rounds: String(ROUNDS), accuracyThresholdBps: "0", deadline: String(Math.floor(Date.now() / 1000) + 3600),
    },
  };
  const config = { dataDir, trainingPool: "0x" + "11".repeat(20), evalConcurrency: 1 };

  // The evaluator key is generated into the data dir on the first start; the event must name it.
  let child: Child = await startChild(config);
  announce.args.evaluator = child.evaluator;
  await killHard(child);
  child = await startChild({ ...config, announce });

  // Kills land at random API calls of the driver, a random few milliseconds after the call
  // starts: mid-request, mid-evaluation, mid-commit or mid-aggregation.
  const calls = ROUNDS * (CONTRIBUTORS + 1) + 3;
  const killAt = new Set<number>();
  while (killAt.size < Math.min(kills, calls)) killAt.add(Math.floor(Math.random() * calls));
  let callIndex = 0;
  let restarts = 0;
  let restarting: Promise<void> = Promise.resolve();
  const children: Child[] = [child];
  // One crash at a time: a kill that comes while a restart is under way waits for it.
  const crash = () => {
    restarting = restarting.then(async () => {
      await new Promise((r) => setTimeout(r, Math.random() * 40));
      await killHard(child);
      child = await startChild({ ...config, announce });
      children.push(child);
      restarts++;
    });
  };

  /** Call the API, retrying across crashes; the orchestrator's own refusals are returned. */
  async function call<T>(fn: (c: (w?: ReturnType<typeof randomWallet>) => OrchestratorClient) => Promise<T>): Promise<T> {
    const giveUp = Date.now() + 120_000;
    if (killAt.has(callIndex++)) crash();
    for (;;) {
      try {
        return await fn((w) => new OrchestratorClient(child.url, { signer: w ?? requester, timeoutMs: 30_000 }));
      } catch (err) {
        const transient = !isQuackError(err) || err.code === "ORCHESTRATOR_UNREACHABLE" || err.code === "UNAVAILABLE";
        if (!transient || Date.now() > giveUp) throw err;
        await restarting;
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  }

  const draft = await call((c) => c().createJob({ spec: SMALL_SPEC, seed: SEED, settings: { minUpdates: CONTRIBUTORS, roundDeadlineSeconds: 3600 } }));
  const { images, labels } = await mnistIdxPair("test", 500);
  await call((c) => c().uploadValidation(draft.draftId, { images, labels }));

  for (let round = 0; round < ROUNDS; round++) {
    const model = await call(async (c) => {
      for (;;) {
        const m = await c().getModel(1).catch((e) => {
          if (isQuackError(e) && e.code === "JOB_NOT_FOUND") return null;
          throw e;
        });
        if (m && !m.notModified && m.round === round) return m;
        await new Promise((r) => setTimeout(r, 30));
      }
    });
    for (let i = 0; i < CONTRIBUTORS; i++) {
      const update = await trainUpdate(SMALL_SPEC, model.bytes, shards[i], 1000 * round + i);
      const att = await call((c) => c(wallets[i]).submitUpdate(1, round, shards[i].count, update));
      if (att.round !== round) throw new Error("attestation for the wrong round");
    }
  }
  const final = await call(async (c) => {
    for (;;) {
      const m = await c().getModel(1);
      if (!m.notModified && m.status === "finished") return m;
      await new Promise((r) => setTimeout(r, 30));
    }
  });
  const job = await call((c) => c().getJob(1));
  await restarting;
  await Promise.all(children.map(killHard));
  return { finalModel: final.bytes, roundHashes: job.history.map((h) => h.modelHash ?? ""), restarts };
}

t.test("kill -9 at random moments: no accepted update lost, final model bit-identical", async (t) => {
  const train = await loadMnist("train", { limit: 1500 });
  const shards = [0, 1, 2].map((i) => subset(train, Array.from({ length: 500 }, (_, j) => i * 500 + j)));
  const dirs = await Promise.all([0, 1].map(() => mkdtemp(join(tmpdir(), "quackmesh-crash-"))));
  t.teardown(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

  const calm = await run(dirs[0], shards, 0);
  t.equal(calm.roundHashes.length, ROUNDS);
  const crashed = await run(dirs[1], shards, 6);
  t.comment(`restarted ${crashed.restarts} times`);
  t.equal(crashed.restarts, 6, "the orchestrator was killed and restarted 6 times");
  t.same(crashed.roundHashes, calm.roundHashes, "every round produced the same model");
  t.ok(crashed.finalModel.equals(calm.finalModel), "final model bytes are identical");
});
