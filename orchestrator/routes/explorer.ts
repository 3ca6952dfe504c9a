/**
 * Read-only routes for the dashboard and anyone curious: every contract event the chain
 * listener stored (paged, by address and kind), the marketplace's listings and rentals, one
 * address's history, a job's rounds and money, and an overview. Nothing here writes or signs.
 */
import type { FastifyInstance } from "fastify";
import { getAddress } from "ethers";
import { foldMarket } from "../ledger/market.js";
import { foldTraining, type JobMoney } from "../ledger/training.js";
import type { ChainEventRecord, UpdateRecord } from "../store/repository.js";
import {
  addressParams,
  addressReplySchema,
  eventsQuerySchema,
  eventsReplySchema,
  jobReportSchema,
  listingsReplySchema,
  overviewSchema,
  pageQuerySchema,
  rentalsReplySchema,
  type AddressReply,
  type EventsQuery,
  type EventsReply,
  type JobReport,
  type ListingsReply,
  type OverviewReply,
  type PageQuery,
  type RentalsReply,
} from "./explorer-schemas.js";
import { requireJob } from "./jobs.js";
import { jobProgress } from "./progress.js";
import { errorReplies, jobIdParams } from "./schemas.js";

/** Most events a ledger folds; far above what one deployment here produces (see README limits). */
const LEDGER_EVENTS = 100_000;

const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();
const sum = (values: string[]) => values.reduce((s, v) => s + BigInt(v), 0n).toString();

async function ledgerEvents(app: FastifyInstance, source: string): Promise<ChainEventRecord[]> {
  return app.repo.queryChainEvents({ sources: [source], ascending: true, limit: LEDGER_EVENTS });
}

async function market(app: FastifyInstance) {
  return foldMarket(await ledgerEvents(app, "ComputeMarketplace"), Math.floor(Date.now() / 1000));
}

async function training(app: FastifyInstance) {
  return foldTraining(await ledgerEvents(app, "TrainingPool"));
}

function money(j: JobMoney | undefined) {
  return j
    ? { pool: j.pool, committed: j.committed, paid: j.paid, flat: j.flat, refund: j.refund, left: j.left }
    : { pool: "0", committed: "0", paid: "0", flat: "0", refund: null, left: "0" };
}

function updateView(u: UpdateRecord) {
  return { jobId: u.jobId, round: u.round, status: u.status, reason: u.reason, accuracyBps: u.accuracyBps, numSamples: u.numSamples, updateHash: u.updateHash, receivedAt: u.receivedAt };
}

export async function explorerRoutes(app: FastifyInstance, opts: { version: string; contracts: Record<string, string> }): Promise<void> {
  const tags = ["explorer"];

  app.get<{ Querystring: EventsQuery }>(
    "/api/events",
    { schema: { tags, summary: "Stored contract events, newest first, a page at a time; filter by address and kind", querystring: eventsQuerySchema, response: { 200: eventsReplySchema, ...errorReplies } } },
    async (request): Promise<EventsReply> => {
      const q = request.query;
      const limit = q.limit ?? 50;
      const before = q.before ? { blockNumber: Number(q.before.split("-")[0]), logIndex: Number(q.before.split("-")[1]) } : undefined;
      const events = await app.repo.queryChainEvents({ address: q.address, names: q.kind?.split(","), before, limit: limit + 1 });
      const page = events.slice(0, limit);
      const last = page.at(-1);
      return { events: page, next: events.length > limit && last ? `${last.blockNumber}-${last.logIndex}` : null };
    },
  );

  app.get<{ Querystring: PageQuery }>(
    "/api/market/listings",
    { schema: { tags, summary: "ComputeMarketplace listings, newest first: specs, price, free or rented, rentals served", querystring: pageQuerySchema, response: { 200: listingsReplySchema, ...errorReplies } } },
    async (request): Promise<ListingsReply> => {
      const { limit = 50, offset = 0, address } = request.query;
      const all = (await market(app)).listings.filter((l) => !address || same(l.provider, address));
      return { listings: all.slice(offset, offset + limit), total: all.length };
    },
  );

  app.get<{ Querystring: PageQuery }>(
    "/api/market/rentals",
    { schema: { tags, summary: "ComputeMarketplace rentals, newest first: renter, hours, escrow, earned, refunded, status", querystring: pageQuerySchema, response: { 200: rentalsReplySchema, ...errorReplies } } },
    async (request): Promise<RentalsReply> => {
      const { limit = 50, offset = 0, address } = request.query;
      const all = (await market(app)).rentals.filter((r) => !address || same(r.renter, address) || same(r.provider, address));
      return { rentals: all.slice(offset, offset + limit), total: all.length };
    },
  );

  app.get<{ Params: { jobId: number } }>(
    "/api/job/:jobId/report",
    { schema: { tags, summary: "A job's rounds (accepted, rejected with codes, duration, commitment), its contributors' rewards and its pool", params: jobIdParams, response: { 200: jobReportSchema, ...errorReplies } } },
    async (request): Promise<JobReport> => {
      const job = await requireJob(app, request.params.jobId);
      const [rounds, updates, ledger, progress] = await Promise.all([app.repo.listRounds(job.jobId), app.repo.listJobUpdates(job.jobId), training(app), jobProgress(app.repo, job, app.now())]);
      const chainMoney = ledger.jobs.get(job.jobId);
      const people = new Map<string, { address: string; accepted: number; rejected: number; owed: bigint }>();
      const person = (address: string) => {
        const key = address.toLowerCase();
        let p = people.get(key);
        if (!p) people.set(key, (p = { address: getAddress(address), accepted: 0, rejected: 0, owed: 0n }));
        return p;
      };
      for (const u of updates) person(u.contributor)[u.status]++;
      for (const r of rounds) for (const u of r.rewards?.updates ?? []) person(u.contributor).owed += BigInt(u.amount);
      return {
        jobId: job.jobId,
        progress,
        rounds: rounds.map((r) => {
          const mine = updates.filter((u) => u.round === r.round);
          return {
            round: r.round,
            status: r.status,
            accuracy: r.accuracy,
            loss: r.loss,
            modelHash: r.modelHash,
            openedAt: r.openedAt,
            closedAt: r.closedAt,
            durationMs: r.closedAt === null ? null : r.closedAt - r.openedAt,
            contributors: r.contributors,
            accepted: mine.filter((u) => u.status === "accepted").length,
            rejected: mine.filter((u) => u.status === "rejected").map((u) => ({ contributor: u.contributor, code: u.reason ?? "REJECTED" })),
            committed: r.rewards?.total ?? "0",
          };
        }),
        contributors: [...people.values()].map((p) => ({
          address: p.address,
          accepted: p.accepted,
          rejected: p.rejected,
          owed: p.owed.toString(),
          received: Object.entries(chainMoney?.byContributor ?? {}).find(([a]) => same(a, p.address))?.[1] ?? "0",
        })),
        money: money(chainMoney),
      };
    },
  );

  app.get<{ Params: { address: string } }>(
    "/api/address/:address",
    { schema: { tags, summary: "One address as contributor (updates, attested accuracy, DUCK received), provider (machines, earnings) and requester (jobs, spend)", params: addressParams, response: { 200: addressReplySchema, ...errorReplies } } },
    async (request): Promise<AddressReply> => {
      const address = getAddress(request.params.address.toLowerCase());
      const [updates, ledger, mkt] = await Promise.all([app.repo.listContributorUpdates(address, 100), training(app), market(app)]);
      let received = 0n;
      const jobs: AddressReply["requester"]["jobs"] = [];
      for (const j of ledger.jobs.values()) {
        for (const [who, amount] of Object.entries(j.byContributor)) if (same(who, address)) received += BigInt(amount);
        if (same(j.requester, address)) jobs.push({ jobId: j.jobId, ...money(j) });
      }
      const machines = mkt.listings.filter((l) => same(l.provider, address));
      const rentals = mkt.rentals.filter((r) => same(r.renter, address));
      return {
        address,
        contributor: {
          updates: updates.map(updateView),
          accepted: updates.filter((u) => u.status === "accepted").length,
          rejected: updates.filter((u) => u.status === "rejected").length,
          received: received.toString(),
        },
        provider: { machines, earned: sum(machines.map((m) => m.earned)) },
        requester: {
          jobs,
          spent: (BigInt(sum(jobs.map((j) => j.pool))) - BigInt(sum(jobs.map((j) => j.refund ?? "0")))).toString(),
          rentals,
          rentSpent: (BigInt(sum(rentals.map((r) => r.escrow))) - BigInt(sum(rentals.map((r) => r.refunded)))).toString(),
        },
      };
    },
  );

  app.get(
    "/api/overview",
    { schema: { tags, summary: "Chain, contracts, health, jobs, DUCK paid, machines and the latest events at a glance", response: { 200: overviewSchema, ...errorReplies } } },
    async (): Promise<OverviewReply> => {
      const [jobs, ledger, mkt, latest, cursor] = await Promise.all([
        app.repo.listJobs(),
        training(app),
        market(app),
        app.repo.queryChainEvents({ limit: 10 }),
        app.repo.getChainCursor("TrainingPool"),
      ]);
      const counts = await Promise.all(jobs.map((j) => app.repo.countUpdates(j.jobId)));
      return {
        version: opts.version,
        chainId: app.evaluator.chainId,
        evaluator: app.evaluator.address,
        contracts: { TrainingPool: app.evaluator.trainingPool, ...opts.contracts },
        uptimeSeconds: Math.round(process.uptime()),
        chainBlock: cursor,
        jobs: { active: jobs.filter((j) => j.status === "active").length, finished: jobs.filter((j) => j.status === "finished").length },
        paidToContributors: ledger.paidTotal.toString(),
        providersEarned: sum(mkt.listings.map((l) => l.earned)),
        machines: { listed: mkt.listings.filter((l) => l.status !== "unlisted").length, rented: mkt.listings.filter((l) => l.status === "rented").length },
        updates: { accepted: counts.reduce((s, c) => s + c.accepted, 0), rejected: counts.reduce((s, c) => s + c.rejected, 0) },
        latest,
      };
    },
  );
}
