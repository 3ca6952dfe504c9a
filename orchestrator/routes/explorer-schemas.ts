/**
 * Schemas of the read-only explorer routes the dashboard reads (events, market, addresses, job
 * reports, overview). DUCK amounts are wei as decimal strings; addresses are checksummed.
 */
import { schema, type FromSchema } from "../../protocol/schema.js";
import { progressSchema } from "./progress.js";

const address = { type: "string", pattern: "^0x[0-9a-fA-F]{40}$" } as const;
const wei = { type: "string", pattern: "^[0-9]+$", description: "DUCK wei, decimal" } as const;
const limit = { type: "integer", minimum: 1, maximum: 200, default: 50 } as const;
const offset = { type: "integer", minimum: 0, maximum: 1_000_000, default: 0 } as const;

export const chainEventSchema = schema({
  type: "object",
  required: ["blockNumber", "txHash", "logIndex", "source", "name", "args"],
  properties: {
    blockNumber: { type: "integer" },
    txHash: { type: "string" },
    logIndex: { type: "integer" },
    source: { type: "string", description: "the contract: TrainingPool, ComputeMarketplace or InferencePool" },
    name: { type: "string", description: "the event, e.g. RewardClaimed" },
    args: { type: "object", additionalProperties: true, description: "the event's arguments by name (integers as decimal strings)" },
  },
});
export type ChainEventView = FromSchema<typeof chainEventSchema>;

export const eventsQuerySchema = schema({
  type: "object",
  additionalProperties: false,
  properties: {
    limit,
    before: { type: "string", pattern: "^[0-9]{1,12}-[0-9]{1,9}$", description: "page cursor: `next` of the previous page (block-logIndex)" },
    address: { ...address, description: "only events naming this address" },
    kind: { type: "string", pattern: "^[A-Za-z]{1,40}(,[A-Za-z]{1,40}){0,20}$", description: "only these event names, comma-separated" },
  },
});
export type EventsQuery = FromSchema<typeof eventsQuerySchema>;

export const eventsReplySchema = schema({
  type: "object",
  required: ["events", "next"],
  properties: {
    events: { type: "array", items: chainEventSchema },
    next: { type: ["string", "null"], description: "cursor of the next (older) page; null on the last page" },
  },
});
export type EventsReply = FromSchema<typeof eventsReplySchema>;

export const pageQuerySchema = schema({
  type: "object",
  additionalProperties: false,
  properties: { limit, offset, address: { ...address, description: "only those of this address (provider or renter)" } },
});
export type PageQuery = FromSchema<typeof pageQuerySchema>;

const listingSchema = schema({
  type: "object",
  required: ["machineId", "provider", "pricePerHour", "maxHours", "endpoint", "cores", "ramMiB", "gpus", "bench", "cpu", "specsValid", "status", "rentalsServed", "earned", "stake", "stakeLost", "downtimeSeconds", "blockNumber", "txHash"],
  properties: {
    machineId: { type: "integer" },
    provider: address,
    pricePerHour: wei,
    maxHours: { type: "integer", description: "0: no limit" },
    endpoint: { type: "string" },
    cores: { type: "integer" },
    ramMiB: { type: "integer" },
    gpus: { type: "array", items: { type: "object", required: ["name", "memoryMiB"], properties: { name: { type: "string" }, memoryMiB: { type: "integer" } } } },
    bench: { type: ["number", "null"] },
    cpu: { type: "string" },
    specsValid: { type: "boolean", description: "false when the listed specs did not parse" },
    status: { type: "string", enum: ["free", "rented", "unlisted"] },
    rentalsServed: { type: "integer" },
    earned: wei,
    stake: { ...wei, description: "DUCK wei staked on the machine now" },
    stakeLost: { ...wei, description: "DUCK wei taken from its stake for renters (its on-chain record)" },
    downtimeSeconds: { type: "integer", description: "downtime settled by arbiters' statements (its on-chain record)" },
    blockNumber: { type: "integer" },
    txHash: { type: "string" },
  },
});

const rentalSchema = schema({
  type: "object",
  required: ["rentalId", "machineId", "provider", "renter", "jobId", "hours", "escrow", "earned", "refunded", "status", "startedAt", "blockNumber", "txHash"],
  properties: {
    rentalId: { type: "integer" },
    machineId: { type: "integer" },
    provider: { type: "string" },
    renter: address,
    jobId: { type: "integer", description: "the training job it serves (0: none)" },
    hours: { type: "integer" },
    escrow: wei,
    earned: { ...wei, description: "final once ended; accrued so far while active" },
    refunded: wei,
    status: { type: "string", enum: ["pending", "active", "expired", "ended", "cancelled"] },
    startedAt: { type: ["integer", "null"], description: "chain seconds of the provider's acknowledgement" },
    blockNumber: { type: "integer" },
    txHash: { type: "string" },
  },
});

export const listingsReplySchema = schema({
  type: "object",
  required: ["listings", "total"],
  properties: { listings: { type: "array", items: listingSchema }, total: { type: "integer" } },
});
export type ListingsReply = FromSchema<typeof listingsReplySchema>;

export const rentalsReplySchema = schema({
  type: "object",
  required: ["rentals", "total"],
  properties: { rentals: { type: "array", items: rentalSchema }, total: { type: "integer" } },
});
export type RentalsReply = FromSchema<typeof rentalsReplySchema>;

const jobMoneySchema = schema({
  type: "object",
  required: ["pool", "committed", "paid", "flat", "refund", "left"],
  properties: { pool: wei, committed: wei, paid: wei, flat: wei, refund: { type: ["string", "null"] }, left: wei },
});

export const jobReportSchema = schema({
  type: "object",
  required: ["jobId", "rounds", "contributors", "money"],
  properties: {
    jobId: { type: "integer" },
    progress: progressSchema,
    rounds: {
      type: "array",
      items: {
        type: "object",
        required: ["round", "status", "accuracy", "loss", "modelHash", "openedAt", "closedAt", "durationMs", "contributors", "accepted", "rejected", "committed"],
        properties: {
          round: { type: "integer" },
          status: { type: "string" },
          accuracy: { type: ["number", "null"] },
          loss: { type: ["number", "null"] },
          modelHash: { type: ["string", "null"] },
          openedAt: { type: "integer" },
          closedAt: { type: ["integer", "null"] },
          durationMs: { type: ["integer", "null"] },
          contributors: { type: "array", items: { type: "string" }, description: "whose updates the round's model counts" },
          accepted: { type: "integer" },
          rejected: {
            type: "array",
            items: { type: "object", required: ["contributor", "code"], properties: { contributor: { type: "string" }, code: { type: "string" } } },
            description: "updates refused after evaluation, with their error code",
          },
          committed: { ...wei, description: "what the round's commitment owes its contributors (0 before it closed)" },
        },
      },
    },
    contributors: {
      type: "array",
      items: {
        type: "object",
        required: ["address", "accepted", "rejected", "owed", "received"],
        properties: {
          address,
          accepted: { type: "integer" },
          rejected: { type: "integer" },
          owed: { ...wei, description: "what the closed rounds' commitments owe it" },
          received: { ...wei, description: "claims and flat parts seen on chain" },
        },
      },
    },
    money: { ...jobMoneySchema, description: "the pool as TrainingPool's events tell it; `left` is neither committed, paid as flat parts nor refunded" },
  },
});
export type JobReport = FromSchema<typeof jobReportSchema>;

export const addressParams = schema({ type: "object", required: ["address"], properties: { address } });

export const addressReplySchema = schema({
  type: "object",
  required: ["address", "contributor", "provider", "requester"],
  properties: {
    address,
    contributor: {
      type: "object",
      required: ["updates", "accepted", "rejected", "received"],
      properties: {
        updates: {
          type: "array",
          items: {
            type: "object",
            required: ["jobId", "round", "status", "reason", "accuracyBps", "numSamples", "updateHash", "receivedAt"],
            properties: {
              jobId: { type: "integer" },
              round: { type: "integer" },
              status: { type: "string" },
              reason: { type: ["string", "null"] },
              accuracyBps: { type: "integer", description: "the accuracy the evaluator measured and attested" },
              numSamples: { type: "integer" },
              updateHash: { type: "string" },
              receivedAt: { type: "integer" },
            },
          },
          description: "its latest 100 updates on this orchestrator",
        },
        accepted: { type: "integer" },
        rejected: { type: "integer" },
        received: { ...wei, description: "DUCK received from TrainingPool (claims and flat parts)" },
      },
    },
    provider: {
      type: "object",
      required: ["machines", "earned"],
      properties: { machines: { type: "array", items: listingSchema }, earned: wei },
    },
    requester: {
      type: "object",
      required: ["jobs", "spent", "rentals", "rentSpent"],
      properties: {
        jobs: {
          type: "array",
          items: {
            type: "object",
            required: ["jobId", ...jobMoneySchema.required],
            properties: { jobId: { type: "integer" }, ...jobMoneySchema.properties },
          },
        },
        spent: { ...wei, description: "pools escrowed minus refunds" },
        rentals: { type: "array", items: rentalSchema },
        rentSpent: { ...wei, description: "rent escrowed minus refunds" },
      },
    },
  },
});
export type AddressReply = FromSchema<typeof addressReplySchema>;

export const overviewSchema = schema({
  type: "object",
  required: ["version", "chainId", "evaluator", "contracts", "uptimeSeconds", "jobs", "paidToContributors", "providersEarned", "machines", "updates", "latest"],
  properties: {
    version: { type: "string" },
    chainId: { type: "integer" },
    evaluator: address,
    contracts: { type: "object", additionalProperties: { type: "string" } },
    uptimeSeconds: { type: "integer" },
    chainBlock: { type: ["integer", "null"], description: "the last block the chain listener has read" },
    jobs: { type: "object", required: ["active", "finished"], properties: { active: { type: "integer" }, finished: { type: "integer" } } },
    paidToContributors: wei,
    providersEarned: wei,
    machines: { type: "object", required: ["listed", "rented"], properties: { listed: { type: "integer" }, rented: { type: "integer" } } },
    updates: { type: "object", required: ["accepted", "rejected"], properties: { accepted: { type: "integer" }, rejected: { type: "integer" } } },
    latest: { type: "array", items: chainEventSchema, description: "the 10 newest contract events" },
  },
});
export type OverviewReply = FromSchema<typeof overviewSchema>;
