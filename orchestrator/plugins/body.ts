/**
 * Body parsers. JSON: size-limited, depth-limited, hashed for the signature check, then parsed
 * by Fastify's own (prototype-poisoning-safe) parser. Raw bodies: `bufferParser` keeps the
 * bytes in memory (updates); `stagingParser` streams them to a temp file (weights, data sets).
 */
import { createHash } from "node:crypto";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { ApiError } from "../errors.js";
import { BlobTooLargeError, type StagedBlob } from "../store/blobs.js";
import { definePlugin } from "./define.js";

declare module "fastify" {
  interface FastifyRequest {
    staged: StagedBlob | null;
  }
}

/** Deepest nesting of objects and arrays in JSON text (strings skipped), stopping past `limit`. */
export function jsonDepth(text: string, limit: number): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > max && (max = depth) > limit) return max;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return max;
}

export const jsonBodyPlugin = definePlugin<{ jsonBytes: number; jsonDepth: number }>(
  async (app, opts) => {
    const parse = app.getDefaultJsonParser("error", "error");
    // Only parsers that record the body hash: every other type is refused with 415.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser("application/json", { parseAs: "buffer", bodyLimit: opts.jsonBytes }, (request, body, done) => {
      const buf = body as Buffer;
      request.bodySha256 = createHash("sha256").update(buf).digest("hex");
      const text = buf.toString("utf8");
      if (jsonDepth(text, opts.jsonDepth) > opts.jsonDepth) {
        done(new ApiError("JSON_TOO_DEEP", `The JSON body nests deeper than ${opts.jsonDepth} levels.`), undefined);
        return;
      }
      parse(request, text, done);
    });
  },
  { name: "quackmesh-json-body", dependencies: ["quackmesh-auth"] },
);

/** Raw body into memory, hashed (for a route scope). */
export function bufferParser(app: FastifyInstance, type: string, limit: number): void {
  app.addContentTypeParser(type, { parseAs: "buffer", bodyLimit: limit }, (request, body, done) => {
    request.bodySha256 = createHash("sha256").update(body as Buffer).digest("hex");
    done(null, body);
  });
}

function tooLarge(limit: number): ApiError {
  return new ApiError("BODY_TOO_LARGE", `The body is larger than ${limit} bytes, the most this endpoint accepts.`, { limit });
}

/** Raw body streamed to a temp file in the blob store, hashed on the way (for a route scope). */
export function stagingParser(app: FastifyInstance, types: string[], limit: number): void {
  app.decorateRequest("staged", null);
  app.addContentTypeParser(types, (request: FastifyRequest, payload, done) => {
    const declared = Number(request.headers["content-length"]);
    if (Number.isFinite(declared) && declared > limit) {
      payload.resume();
      done(tooLarge(limit), undefined);
      return;
    }
    app.blobs.stage(payload, limit).then(
      (staged) => {
        request.staged = staged;
        request.bodySha256 = staged.hash.slice(2);
        done(null, staged);
      },
      (err: unknown) => done(err instanceof BlobTooLargeError ? tooLarge(limit) : (err as Error), undefined),
    );
  });
  // A staged file that no handler committed (refused request) is removed once answered.
  app.addHook("onResponse", async (request) => {
    if (request.staged) await app.blobs.discard(request.staged);
  });
}
