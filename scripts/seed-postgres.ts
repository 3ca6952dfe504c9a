/**
 * Seed an orchestrator's PostgreSQL store with a sample job, staged: the requester's draft with
 * its model spec, initial weights and an MNIST validation set, ready for the requester's
 * `quackmesh job create` with the same weights to bind on chain (activation binds the oldest
 * ready draft of that model hash and requester):
 *   node dist/scripts/seed-postgres.js --database postgres://… --data-dir DIR [--account requester] [--samples 2000] [--seed 1]
 * The uploads go through the orchestrator's own API (an instance started here on 127.0.0.1 with
 * no chain), so they are checked exactly as a requester's are. DIR is the data dir the
 * orchestrators use (the files live there; the rows in the database). Prints a JSON summary.
 */
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Wallet } from "ethers";
import { Network } from "../native/index.js";
import { encodeSafetensors, sha256Hex } from "../native/safetensors.js";
import type { ModelSpec } from "../native/types.js";
import { OrchestratorClient } from "../orchestrator/client.js";
import { startServer } from "../orchestrator/index.js";
import { PostgresRepository } from "../orchestrator/store/postgres.js";
import { mnistIdxPair } from "../orchestrator/testing/fixtures.js";
import { devAccount } from "../cli/lib/chain/accounts.js";
import { QuackError } from "../protocol/errors.js";

export const SAMPLE_SPEC: ModelSpec = {
  input: [784],
  layers: [{ type: "dense", units: 128, activation: "relu" }, { type: "dense", units: 10, activation: "none" }],
  loss: "cross-entropy",
};

export interface SeedOptions {
  database: string;
  dataDir: string;
  /** The requester's key (the dev account "requester" on the local chain by default). */
  privateKey: string;
  samples: number;
  seed: number;
}

export interface SeedResult {
  draftId: string;
  uploader: string;
  modelHash: string;
  validationSamples: number;
  /** The initial weights, for `job create --weights` (the same bytes give the same model hash). */
  weights: Buffer;
}

export async function seedJob(o: SeedOptions): Promise<SeedResult> {
  if (!Number.isSafeInteger(o.samples) || o.samples < 1 || o.samples > 10000) {
    throw new QuackError("BAD_ARGUMENT", `--samples ${o.samples} is not between 1 and 10,000 (the MNIST test set).`, { fix: "Pass --samples 2000." });
  }
  const repo = await PostgresRepository.open(o.database);
  const server = await startServer({ repository: repo, dataDir: o.dataDir, port: 0, chain: { chainId: 31337, trainingPool: "0x" + "00".repeat(20) } });
  try {
    const requester = new Wallet(o.privateKey);
    const client = new OrchestratorClient(server.url, { signer: requester });
    const weights = encodeSafetensors(Network.create(SAMPLE_SPEC, { seed: o.seed }).weights(), { format: "pt" });
    const draft = await client.createJob({ spec: SAMPLE_SPEC, settings: { rounds: 5, minUpdates: 2 } });
    await client.uploadWeights(draft.draftId, weights);
    const { images, labels } = await mnistIdxPair("test", o.samples);
    await client.uploadValidation(draft.draftId, { images, labels });
    return { draftId: draft.draftId, uploader: requester.address, modelHash: sha256Hex(weights), validationSamples: o.samples, weights };
  } finally {
    await server.close();
  }
}

const USAGE = `usage: node dist/scripts/seed-postgres.js --database postgres://USER:PASSWORD@HOST:5432/DB --data-dir DIR [--account requester | --key 0x…] [--samples 2000] [--seed 1] [--weights-out FILE]`;

async function main(argv: string[]): Promise<void> {
  try {
    const { values } = parseArgs({
      args: argv,
      options: {
        database: { type: "string" }, "data-dir": { type: "string" }, account: { type: "string" }, key: { type: "string" },
        samples: { type: "string" }, seed: { type: "string" }, "weights-out": { type: "string" }, help: { type: "boolean", short: "h" },
      },
    });
    if (values.help) {
      process.stdout.write(USAGE + "\n");
      return;
    }
    const database = values.database ?? process.env.QUACKMESH_DATABASE_URL;
    if (!database || !values["data-dir"]) throw new QuackError("MISSING_OPTION", "--database and --data-dir are required.", { fix: USAGE });
    const r = await seedJob({
      database,
      dataDir: resolve(values["data-dir"]),
      privateKey: values.key ?? devAccount(values.account ?? "requester").privateKey,
      samples: Number(values.samples ?? "2000"),
      seed: Number(values.seed ?? "1"),
    });
    if (values["weights-out"]) await (await import("node:fs/promises")).writeFile(values["weights-out"], r.weights);
    process.stdout.write(JSON.stringify({ draftId: r.draftId, uploader: r.uploader, modelHash: r.modelHash, validationSamples: r.validationSamples }) + "\n");
  } catch (e) {
    const err = e instanceof QuackError ? e.toJSON() : { error: "INTERNAL", message: (e as Error).message };
    process.stderr.write(JSON.stringify(err) + "\n");
    process.exitCode = e instanceof QuackError ? e.exitCode : 2;
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) void main(process.argv.slice(2));
