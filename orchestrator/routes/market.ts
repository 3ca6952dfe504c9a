/**
 * The marketplace as this orchestrator sees it: providers' signed liveness records (the latest
 * per machine, in the store), and, as the arbiter a rental named, its signed downtime statement
 * (from the down spans the cluster service stored).
 */
import type { FastifyInstance } from "fastify";
import { getAddress, type Contract, type Provider } from "ethers";
import { contractAt } from "../../protocol/chain/contracts.js";
import { marketplaceDomain, signDowntime } from "../../protocol/chain/eip712.js";
import { LIVENESS_STALE_S, isFresh, livenessProblem, livenessSigner, type LivenessRecord } from "../../protocol/market/liveness.js";
import { schema } from "../../protocol/schema.js";
import { ApiError } from "../errors.js";
import { errorReplies } from "./schemas.js";

const livenessBody = schema({
  type: "object",
  required: ["machineId", "at", "signature"],
  additionalProperties: false,
  properties: { machineId: { type: "string", maxLength: 32 }, at: { type: "integer", minimum: 0 }, signature: { type: "string", maxLength: 140 } },
});

const livenessRecord = schema({
  type: "object",
  required: ["machineId", "provider", "at", "signature"],
  properties: { machineId: { type: "string" }, provider: { type: "string" }, at: { type: "integer" }, signature: { type: "string" } },
});

const livenessList = schema({
  type: "object",
  required: ["staleAfterSeconds", "records"],
  properties: { staleAfterSeconds: { type: "integer" }, records: { type: "array", items: livenessRecord } },
});

const downtimeReply = schema({
  type: "object",
  required: ["rentalId", "arbiter", "downtimeSeconds", "servedSeconds", "signature"],
  properties: {
    rentalId: { type: "string" },
    arbiter: { type: "string" },
    downtimeSeconds: { type: "integer" },
    servedSeconds: { type: "integer" },
    signature: { type: "string" },
  },
});

/** The most machines whose liveness is kept; a flood of fresh machine ids cannot grow memory past it. */
const MAX_RECORDS = 10_000;

export async function marketRoutes(app: FastifyInstance, opts: { marketplace?: string }): Promise<void> {
  const tags = ["market"];
  /** Chain reads cached: a machine's provider never changes. */
  const providers = new Map<string, string>();

  function marketplace(): Contract {
    if (!opts.marketplace || !app.chainProvider) throw new ApiError("NO_MARKETPLACE", "This orchestrator watches no ComputeMarketplace.");
    return contractAt("ComputeMarketplace", opts.marketplace, chain());
  }
  // The chain plugin's provider is an ethers provider (it reads contracts too).
  const chain = () => app.chainProvider as unknown as Provider;
  const domain = () => marketplaceDomain(app.evaluator.chainId, opts.marketplace!);
  const nowSeconds = () => Math.floor(app.now() / 1000);

  /** A machine's provider never changes, so one chain read per machine id suffices. */
  async function providerOf(machineId: string): Promise<string | null> {
    const known = providers.get(machineId);
    if (known) return known;
    const m = await marketplace().getFunction("getMachine")(BigInt(machineId)).catch(() => null);
    if (!m) return null;
    const address = getAddress(m.provider as string);
    providers.set(machineId, address);
    return address;
  }

  app.post(
    "/api/market/liveness",
    { schema: { tags, summary: "A provider's signed Liveness(machineId, at): kept as the machine's latest", body: livenessBody, response: { 200: livenessRecord, ...errorReplies } } },
    async (request) => {
      const record = request.body as LivenessRecord;
      const problem = livenessProblem(record);
      if (problem) throw new ApiError("BAD_LIVENESS", `The liveness record is malformed: ${problem}.`);
      marketplace();
      if (!isFresh(record.at, nowSeconds())) throw new ApiError("BAD_LIVENESS", `The record was signed at ${record.at}, more than ${LIVENESS_STALE_S} s from this orchestrator's clock (${nowSeconds()}).`);
      // The signature first (no chain read for forgeries), then whose machine it is.
      const signer = livenessSigner(domain(), record);
      const provider = signer === null ? null : await providerOf(record.machineId);
      if (signer === null || provider === null || signer !== provider) {
        throw new ApiError("BAD_LIVENESS", `The record of machine ${record.machineId} is not signed by its provider${provider ? ` ${provider}` : " (no such machine)"}.`);
      }
      return app.repo.saveLiveness({ machineId: record.machineId, provider, at: record.at, signature: record.signature }, MAX_RECORDS);
    },
  );

  app.get(
    "/api/market/liveness",
    { schema: { tags, summary: "Every machine's latest liveness record; check each signature against the machine's provider", response: { 200: livenessList, ...errorReplies } } },
    async () => ({ staleAfterSeconds: LIVENESS_STALE_S, records: await app.repo.listLiveness() }),
  );

  app.get(
    "/api/market/downtime/:rentalId",
    {
      schema: {
        tags,
        summary: "As the rental's arbiter: the signed Downtime(rentalId, downtimeSeconds) once the rental is over",
        params: schema({ type: "object", required: ["rentalId"], properties: { rentalId: { type: "string", pattern: "^[1-9][0-9]{0,30}$" } } }),
        response: { 200: downtimeReply, ...errorReplies },
      },
    },
    async (request) => {
      const rentalId = BigInt((request.params as { rentalId: string }).rentalId);
      const market = marketplace();
      const r = await market.getFunction("getRental")(rentalId).catch(() => null);
      if (!r) throw new ApiError("UNKNOWN_RENTAL", `There is no rental ${rentalId}.`);
      const arbiter = app.evaluator.address;
      if ((r.arbiter as string).toLowerCase() !== arbiter.toLowerCase()) {
        throw new ApiError("NOT_ARBITER", `Rental ${rentalId} names ${r.arbiter} as its arbiter, not this orchestrator (${arbiter}).`);
      }
      const status = Number(r.status);
      const startedAt = Number(r.startedAt);
      if (status !== 2 && status !== 3) throw new ApiError("RENTAL_NOT_OVER", `Rental ${rentalId} was never acknowledged; no downtime applies (cancel it for a full refund).`);
      const end = status === 3 ? Number(r.endedAt) : startedAt + Number(r.numHours) * 3600;
      const block = await chain().getBlock("latest");
      // Signed only once it is over: an earlier statement could be replayed to hide later downtime.
      if (!block || block.timestamp < end) throw new ApiError("RENTAL_NOT_OVER", `Rental ${rentalId} runs until ${new Date(end * 1000).toISOString()}; its statement is signed after that.`);
      const served = end - startedAt;
      const downtimeSeconds = Math.min(served, await app.clusters.downtime.secondsDown(rentalId.toString(), startedAt * 1000, end * 1000));
      const signature = signDowntime(app.evaluatorWallet, domain(), { rentalId, downtimeSeconds: BigInt(downtimeSeconds) });
      return { rentalId: rentalId.toString(), arbiter, downtimeSeconds, servedSeconds: served, signature };
    },
  );
}

