/**
 * Signed writes: `app.signed` is the route option set that does everything a signed request needs
 * before its body is read: it verifies the signature over the body hash the request declares,
 * applies the per-address rate limit, sizes the body (the route's limit, or what its
 * `config.uploadBudget` allows: a model's size, the caller's storage quota), refuses a larger
 * declared content-length, and refuses replays (remembered in the store, so a restart does not
 * forget them). Then, as the body streams in, it is cut at that size and hashed; a body that does
 * not hash to the signed value is refused.
 */
import type { FastifyReply, FastifyRequest, onRequestHookHandler, preParsingHookHandler } from "fastify";
import { verifySignedHeaders, type SignedCaller } from "../auth.js";
import { ApiError } from "../errors.js";
import type { Limits } from "../options.js";
import { TokenBuckets } from "../rate-limit.js";
import { UploadQuotas } from "../quotas.js";
import { BodyCheck, type UploadBudget } from "./body.js";
import { definePlugin } from "./define.js";

/** A route's own body size for this caller (looked up before the body is read); null: the route's bodyLimit. */
export type UploadBudgetFn = (request: FastifyRequest, caller: SignedCaller) => Promise<UploadBudget | null>;

declare module "fastify" {
  interface FastifyInstance {
    now: () => number;
    signed: { onRequest: onRequestHookHandler; preParsing: preParsingHookHandler };
    quotas: UploadQuotas;
  }
  interface FastifyRequest {
    /** The verified signer, with the body hash it signed. */
    caller: SignedCaller | null;
    /** Lowercase hex sha256 of the raw body, once the body was read and matched the signature. */
    bodySha256: string | null;
    uploadBudget: UploadBudget | null;
  }
  interface FastifyContextConfig {
    uploadBudget?: UploadBudgetFn;
  }
}

/** A refused request's unread body up to this size is drained rather than cut off with the connection. */
const DRAIN_BYTES = 1024 * 1024;

function tooLarge(limit: number): ApiError {
  return new ApiError("BODY_TOO_LARGE", `The body is larger than ${limit} bytes, the most this endpoint accepts.`, { limit });
}

export const authPlugin = definePlugin<{ limits: Limits; now: () => number }>(
  async (app, opts) => {
    const { limits, now } = opts;
    const buckets = new TokenBuckets(limits.rate);
    app.decorate("now", now);
    app.decorate("quotas", new UploadQuotas({ repo: app.repo, blobs: app.blobs, limits, now }));
    app.decorateRequest("caller", null);
    app.decorateRequest("bodySha256", null);
    app.decorateRequest("uploadBudget", null);

    async function admit(request: FastifyRequest): Promise<void> {
      const t = now();
      const caller = verifySignedHeaders({ method: request.method, url: request.url, headers: request.headers, now: t, maxSkewMs: limits.maxSkewMs });
      const wait = buckets.take(caller.address, t);
      if (wait > 0) {
        throw new ApiError("RATE_LIMITED", `Too many requests from ${caller.address}; retry in ${wait} s.`, { retryAfterSeconds: wait }, { "retry-after": String(wait) });
      }
      const own = await request.routeOptions.config.uploadBudget?.(request, caller);
      const budget: UploadBudget = own ?? { limit: request.routeOptions.bodyLimit, refuse: tooLarge };
      request.uploadBudget = budget;
      const declared = Number(request.headers["content-length"]);
      if (Number.isFinite(declared) && declared > budget.limit) throw budget.refuse(budget.limit);
      // Remember the request until its timestamp can no longer pass the freshness check.
      if (!(await app.repo.useRequestId(caller.requestId, caller.timestamp + limits.maxSkewMs + 1000, t))) {
        throw new ApiError("SIGNATURE_REPLAYED", "This exact signed request was already received; sign each request anew.");
      }
      request.caller = caller;
    }

    async function early(request: FastifyRequest, reply: FastifyReply): Promise<void> {
      try {
        await admit(request);
      } catch (err) {
        // The body is not read. A small one is drained (the connection stays usable and the client
        // surely reads the answer); a large or unsized one is not: the connection is closed.
        const declared = Number(request.headers["content-length"]);
        if (!(Number.isFinite(declared) && declared <= DRAIN_BYTES)) void reply.header("connection", "close");
        throw err;
      }
    }

    async function streamed(request: FastifyRequest, _reply: FastifyReply, payload: NodeJS.ReadableStream) {
      const budget = request.uploadBudget;
      if (!request.caller || !budget) return payload;
      const check = new BodyCheck({
        limit: budget.limit,
        expectedSha256: request.caller.bodySha256,
        tooLarge: () => budget.refuse(budget.limit),
        onVerified: (sha256) => (request.bodySha256 = sha256),
      });
      return check.from(payload);
    }

    const release = async (request: FastifyRequest) => {
      request.uploadBudget?.release?.();
    };
    app.addHook("onResponse", release);
    app.addHook("onRequestAbort", release);

    app.decorate("signed", { onRequest: early, preParsing: streamed as unknown as preParsingHookHandler });
  },
  { name: "quackmesh-auth", dependencies: ["quackmesh-store"] },
);
