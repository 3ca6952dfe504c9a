/**
 * Shared pieces of the orchestrator's tests and benchmarks: a small real model on real MNIST,
 * signed requests through app.inject(), and job activation through the same path the chain
 * listener takes (a stored TrainingJobCreated event handed to the activator).
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FastifyInstance, LightMyRequestResponse } from "fastify";
import { Wallet, getAddress } from "ethers";
import { loadMnist, subset } from "../../native/data.js";
import { Network } from "../../native/index.js";
import { decodeSafetensors, encodeSafetensors } from "../../native/safetensors.js";
import type { Dataset, ModelSpec } from "../../native/types.js";
import { buildApp } from "../app.js";
import { signRequest } from "../auth.js";
import type { AppOptions } from "../options.js";
import type { ChainEventRecord } from "../store/repository.js";
import type { DraftReply } from "../routes/schemas.js";
import type { JobSettingsInput } from "../../protocol/settings.js";

export const SMALL_SPEC: ModelSpec = {
  input: [784],
  layers: [
    { type: "dense", units: 16, activation: "relu" },
    { type: "dense", units: 10, activation: "none" },
  ],
  loss: "cross-entropy",
};

export function randomWallet(): Wallet {
  return new Wallet("0x" + randomBytes(32).toString("hex"));
}

/** MNIST samples [offset, offset + count) as one IDX pair (images then labels), the validation upload format. */
export async function mnistIdxPair(split: "train" | "test", count: number, offset = 0): Promise<{ images: Buffer; labels: Buffer; data: Dataset }> {
  const all = await loadMnist(split);
  const data = subset(all, Array.from({ length: count }, (_, i) => offset + i));
  const images = Buffer.alloc(16 + count * 784);
  images.writeUInt32BE(0x803, 0);
  images.writeUInt32BE(count, 4);
  images.writeUInt32BE(28, 8);
  images.writeUInt32BE(28, 12);
  for (let i = 0; i < data.x.length; i++) images[16 + i] = Math.round(data.x[i] * 255);
  const labels = Buffer.alloc(8 + count);
  labels.writeUInt32BE(0x801, 0);
  labels.writeUInt32BE(count, 4);
  labels.set(data.y, 8);
  return { images, labels, data };
}

export interface SignedOptions {
  method: "GET" | "POST" | "PUT";
  url: string;
  body?: Buffer | string | object;
  contentType?: string;
  /** Sign at this time instead of now. */
  at?: number;
  headers?: Record<string, string>;
}

/** app.inject() with the request signed by `wallet` exactly as the client signs it. */
export async function signedInject(app: FastifyInstance, wallet: Wallet, o: SignedOptions): Promise<LightMyRequestResponse> {
  const isJson = o.body !== undefined && !Buffer.isBuffer(o.body) && typeof o.body === "object";
  const payload = isJson ? JSON.stringify(o.body) : (o.body as Buffer | string | undefined);
  const headers = await signRequest(wallet, o.method, o.url, payload ?? null, o.at ?? Date.now());
  const contentType = o.contentType ?? (isJson ? "application/json" : payload !== undefined ? "application/octet-stream" : undefined);
  return app.inject({
    method: o.method,
    url: o.url,
    payload,
    headers: { ...(contentType ? { "content-type": contentType } : {}), ...headers, ...o.headers },
  });
}

/** Draft with random initial weights (seed) and an MNIST validation set: ready for the chain. */
export async function readyDraft(
  app: FastifyInstance,
  requester: Wallet,
  opts: { settings?: JobSettingsInput; seed?: number; validation?: number; spec?: ModelSpec } = {},
): Promise<DraftReply> {
  const created = await signedInject(app, requester, {
    method: "POST",
    url: "/api/job",
    body: { spec: opts.spec ?? SMALL_SPEC, settings: opts.settings ?? {}, seed: opts.seed ?? 1 },
  });
  if (created.statusCode !== 201) throw new Error(`create draft: ${created.statusCode} ${created.body}`);
  const draft = created.json() as DraftReply;
  const { images, labels } = await mnistIdxPair("test", opts.validation ?? 500);
  const up = await signedInject(app, requester, { method: "PUT", url: draft.uploads.validation, body: Buffer.concat([images, labels]) });
  if (up.statusCode !== 200) throw new Error(`upload validation: ${up.statusCode} ${up.body}`);
  return up.json() as DraftReply;
}

let fakeTx = 0;

/** A TrainingJobCreated event as the listener stores it, handed to the activator. */
export async function announceJob(
  app: FastifyInstance,
  e: { jobId: number; requester: string; modelHash: string; rounds?: number; thresholdBps?: number; evaluator?: string; roundBudget?: string; maxPerContributor?: string },
): Promise<ChainEventRecord> {
  const ev: ChainEventRecord = {
    txHash: "0x" + (++fakeTx).toString(16).padStart(64, "0"),
    logIndex: 0,
    blockNumber: fakeTx,
    source: "TrainingPool",
    name: "TrainingJobCreated",
    args: {
      jobId: String(e.jobId),
      requester: getAddress(e.requester),
      modelHash: e.modelHash,
      evaluator: e.evaluator ?? app.evaluator.address,
      totalRewardPool: "1000000000000000000000",
      roundBudget: e.roundBudget ?? "100000000000000000000",
      maxPerContributor: e.maxPerContributor ?? "50000000000000000000",
      flatPerUpdate: "0",
      claimWindow: "3600",
      rounds: String(e.rounds ?? 3),
      accuracyThresholdBps: String(e.thresholdBps ?? 0),
      deadline: String(Math.floor(Date.now() / 1000) + 86400),
    },
  };
  const fresh = await app.repo.recordChainEvents("TrainingPool", ev.blockNumber, [ev]);
  for (const f of fresh) await app.activator.handle(f);
  return ev;
}

/** Train the given global model on `data` for one epoch: a real update. */
export async function trainUpdate(spec: ModelSpec, globalBytes: Uint8Array, data: Dataset, seed: number, lr = 0.05): Promise<Buffer> {
  const net = Network.fromWeights(spec, decodeSafetensors(globalBytes).tensors);
  await net.train(data, { epochs: 1, batchSize: 32, lr, seed });
  return encodeSafetensors(net.weights());
}

/** An app on a fresh temp data dir (no chain listener); closed and removed at teardown. */
export async function testApp(
  t: { teardown(fn: () => unknown): void },
  opts: Partial<AppOptions> = {},
): Promise<{ app: FastifyInstance; dataDir: string; trainingPool: string }> {
  const dataDir = opts.dataDir ?? (await mkdtemp(join(tmpdir(), "quackmesh-orch-")));
  const trainingPool = opts.chain?.trainingPool ?? randomWallet().address;
  const app = await buildApp({
    dataDir,
    evaluatorKey: opts.evaluatorKey ?? randomWallet().privateKey,
    evalConcurrency: 2,
    ...opts,
    chain: { chainId: 31337, trainingPool, ...opts.chain },
  });
  await app.ready();
  t.teardown(async () => {
    await app.close();
    if (!opts.dataDir) await rm(dataDir, { recursive: true, force: true });
  });
  return { app, dataDir, trainingPool };
}
