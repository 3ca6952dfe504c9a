/**
 * Bodies. `BodyCheck` sits between the socket and every parser of a signed request: it cuts the
 * body at its budget and checks, as the bytes pass, that they hash to the signed value. Parsers:
 * JSON is size-limited, depth-limited, then parsed by Fastify's own (prototype-poisoning-safe)
 * parser; raw bodies: `bufferParser` keeps the bytes in memory (updates), `stagingParser` streams
 * them to a temp file (weights, data sets).
 */
import { createHash, type Hash } from "node:crypto";
import { Transform, type TransformCallback } from "node:stream";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { ApiError } from "../errors.js";
import { BlobTooLargeError, type StagedBlob } from "../store/blobs.js";
import { definePlugin } from "./define.js";

declare module "fastify" {
  interface FastifyRequest {
    staged: StagedBlob | null;
  }
}

/** How large one request's body may be, and what answers a larger one. */
export interface UploadBudget {
  limit: number;
  /** The refusal of a body over `limit` (BODY_TOO_LARGE, or a quota's code). */
  refuse(limit: number): ApiError;
  /** Called when the request is answered or aborted (frees a quota reservation); may be called twice. */
  release?(): void;
}

/**
 * Passes a body through, counting and hashing: more than `limit` bytes fails at once with
 * `tooLarge()` (nothing past the limit is passed on), and at the end a hash other than the
 * signed one fails with SIGNATURE_INVALID.
 */
export class BodyCheck extends Transform {
  private readonly hash: Hash = createHash("sha256");
  /** Read by Fastify's body reader to compare with content-length. */
  receivedEncodedLength = 0;

  constructor(
    private readonly opts: { limit: number; expectedSha256: string; tooLarge: () => Error; onVerified: (sha256: string) => void },
  ) {
    super();
  }

  /**
   * Pipe `source` through this check; the source's errors and aborts end it too. A route that
   * never reads its body (a GET, a 404) leaves the check's error unheard: the no-op listener keeps
   * it from becoming an uncaught exception that would end the process.
   */
  from(source: NodeJS.ReadableStream): this {
    this.on("error", () => {});
    source.on("error", (err: Error) => this.destroy(err));
    source.on("aborted", () => this.destroy(new Error("client aborted the upload")));
    source.pipe(this);
    return this;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.receivedEncodedLength += chunk.length;
    if (this.receivedEncodedLength > this.opts.limit) return callback(this.opts.tooLarge());
    this.hash.update(chunk);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    const got = this.hash.digest("hex");
    if (got !== this.opts.expectedSha256) {
      return callback(new ApiError("SIGNATURE_INVALID", `The body's sha256 is ${got}, not the ${this.opts.expectedSha256} that was signed (x-quackmesh-content-sha256).`));
    }
    this.opts.onVerified(got);
    callback();
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
      const text = (body as Buffer).toString("utf8");
      if (jsonDepth(text, opts.jsonDepth) > opts.jsonDepth) {
        done(new ApiError("JSON_TOO_DEEP", `The JSON body nests deeper than ${opts.jsonDepth} levels.`), undefined);
        return;
      }
      parse(request, text, done);
    });
  },
  { name: "quackmesh-json-body", dependencies: ["quackmesh-auth"] },
);

/** Raw body into memory (for a route scope); its hash was checked on the way in. */
export function bufferParser(app: FastifyInstance, type: string, limit: number): void {
  app.addContentTypeParser(type, { parseAs: "buffer", bodyLimit: limit }, (_request, body, done) => done(null, body));
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
