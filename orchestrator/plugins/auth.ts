/**
 * Signed writes: `app.signed` is the route option set that checks the signature headers early
 * (before a large body is read) and verifies the signature over the body once it is parsed,
 * then applies the per-address rate limit and refuses replays (remembered in the store, so a
 * restart does not forget them).
 */
import type { FastifyReply, FastifyRequest, onRequestHookHandler, preHandlerHookHandler } from "fastify";
import { readSignatureHeaders, sha256HexOf, verifySignedRequest, type VerifiedCaller } from "../auth.js";
import { ApiError } from "../errors.js";
import type { Limits } from "../options.js";
import { TokenBuckets } from "../rate-limit.js";
import { definePlugin } from "./define.js";

declare module "fastify" {
  interface FastifyInstance {
    now: () => number;
    signed: { onRequest: onRequestHookHandler; preHandler: preHandlerHookHandler };
  }
  interface FastifyRequest {
    caller: VerifiedCaller | null;
    /** Lowercase hex sha256 of the raw body, set by the body parsers. */
    bodySha256: string | null;
  }
}

const EMPTY_SHA256 = sha256HexOf();

export const authPlugin = definePlugin<{ limits: Limits; now: () => number }>(
  async (app, opts) => {
    const { limits, now } = opts;
    const buckets = new TokenBuckets(limits.rate);
    app.decorate("now", now);
    app.decorateRequest("caller", null);
    app.decorateRequest("bodySha256", null);

    async function early(request: FastifyRequest, _reply: FastifyReply): Promise<void> {
      readSignatureHeaders(request.headers, now(), limits.maxSkewMs);
    }

    async function verify(request: FastifyRequest, _reply: FastifyReply): Promise<void> {
      const t = now();
      const caller = verifySignedRequest({
        method: request.method,
        url: request.url,
        headers: request.headers,
        bodySha256: request.bodySha256 ?? EMPTY_SHA256,
        now: t,
        maxSkewMs: limits.maxSkewMs,
      });
      const wait = buckets.take(caller.address, t);
      if (wait > 0) {
        throw new ApiError("RATE_LIMITED", `Too many requests from ${caller.address}; retry in ${wait} s.`, { retryAfterSeconds: wait }, { "retry-after": String(wait) });
      }
      // Remember the request until its timestamp can no longer pass the freshness check.
      if (!(await app.repo.useRequestId(caller.requestId, caller.timestamp + limits.maxSkewMs + 1000, t))) {
        throw new ApiError("SIGNATURE_REPLAYED", "This exact signed request was already received; sign each request anew.");
      }
      request.caller = caller;
    }

    app.decorate("signed", { onRequest: early, preHandler: verify });
  },
  { name: "quackmesh-auth", dependencies: ["quackmesh-store"] },
);
