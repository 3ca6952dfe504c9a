/**
 * Job uploads, in steps: POST /api/job (spec and settings as JSON, optionally a seed for random
 * initial weights) creates a draft; PUT …/weights and PUT …/validation stream raw bodies to
 * disk, content-addressed. The draft becomes a job when TrainingJobCreated names its modelHash.
 */
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { Network, parameterShapes, validateSpec } from "../../native/index.js";
import { decodeSafetensors, encodeSafetensors } from "../../native/safetensors.js";
import { allFinite, flatten, sameLayout } from "../../native/tensors.js";
import type { ModelSpec } from "../../native/types.js";
import { checkFits, formatFromContentType, loadUpload } from "../data/validation.js";
import { ApiError } from "../errors.js";
import { EVAL_BLOCK, type Limits } from "../options.js";
import { stagingParser } from "../plugins/body.js";
import { resolveSettings } from "../../protocol/settings.js";
import { parameterCount } from "../../protocol/spec.js";
import type { SignedCaller } from "../auth.js";
import type { DraftRecord } from "../store/repository.js";
import { createJobBodySchema, draftIdParams, draftReplySchema, errorReplies, type CreateJobBody } from "./schemas.js";
import { draftView } from "./views.js";

/** The spec, checked and normalized (activation defaults filled in) by the engine's own rules, within this server's size limits. */
function checkSpec(spec: unknown, limits: Limits): ModelSpec {
  try {
    return validateSpec(spec, { maxParameters: limits.modelParameters, maxActivationBytes: limits.activationBytes, batch: EVAL_BLOCK });
  } catch (e) {
    throw new ApiError("INVALID_MODEL_SPEC", `The model spec is not valid: ${(e as Error).message}`);
  }
}

/** A safetensors file of this many float32 parameters is at most this long (the JSON header's share is generous). */
export function safetensorsBound(parameters: number): number {
  return parameters * 4 + 64 * 1024;
}

/** The draft, if it exists, belongs to `caller` and is not bound to a job yet. */
async function ownDraft(app: FastifyInstance, id: string, caller: string): Promise<DraftRecord> {
  if (!/^[0-9a-f]{32}$/.test(id)) throw new ApiError("VALIDATION_FAILED", `'${id.slice(0, 80)}' is not a draft id (32 lowercase hex digits).`);
  const draft = await app.repo.getDraft(id);
  if (!draft) throw new ApiError("DRAFT_NOT_FOUND", `No draft '${id}'. Create one with POST /api/job.`);
  if (draft.uploader !== caller) {
    throw new ApiError("NOT_UPLOADER", `Draft ${draft.id} belongs to ${draft.uploader}; this request is signed by ${caller}.`);
  }
  if (draft.jobId !== null) throw new ApiError("DRAFT_LOCKED", `Draft ${draft.id} is already job ${draft.jobId}; create a new draft to change it.`);
  return draft;
}

/** A file of a draft is uploaded once: other bytes than those stored are refused (the same bytes again are fine). */
export function uploadOnce(what: string, draftId: string, stored: string | null, caller: SignedCaller): void {
  if (stored !== null && stored !== "0x" + caller.bodySha256) {
    throw new ApiError("DRAFT_UPLOADED", `Draft ${draftId} already has its ${what} (${stored}); create a new draft to upload other ${what}.`, { stored });
  }
}

function staged(request: FastifyRequest) {
  if (!request.staged || request.staged.size === 0) throw new ApiError("BODY_EMPTY", "The body is empty; send the file's bytes.");
  return request.staged;
}

export async function draftRoutes(app: FastifyInstance, opts: { uploadBytes: number; limits: Limits }): Promise<void> {
  stagingParser(app, ["application/octet-stream", "text/csv"], opts.uploadBytes);
  const tags = ["jobs"];
  const declaredLength = (request: FastifyRequest) => Number(request.headers["content-length"]);

  /** Checked before the body is read: the draft is the caller's, the file new, the size within the model's and the quota's. */
  async function weightsBudget(request: FastifyRequest, caller: SignedCaller) {
    const draft = await ownDraft(app, (request.params as { id: string }).id, caller.address);
    uploadOnce("weights", draft.id, draft.modelHash, caller);
    return app.quotas.uploadBudget(caller.address, Math.min(opts.uploadBytes, safetensorsBound(parameterCount(draft.spec))), declaredLength(request));
  }
  async function validationBudget(request: FastifyRequest, caller: SignedCaller) {
    const draft = await ownDraft(app, (request.params as { id: string }).id, caller.address);
    uploadOnce("validation set", draft.id, draft.validationHash, caller);
    return app.quotas.uploadBudget(caller.address, Math.min(opts.uploadBytes, opts.limits.datasetBytes), declaredLength(request));
  }

  app.post<{ Body: CreateJobBody }>(
    "/api/job",
    {
      ...app.signed,
      schema: {
        tags,
        summary: "Create a draft job from a model spec and settings (signed)",
        body: createJobBodySchema,
        response: { 201: draftReplySchema, ...errorReplies },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const resolved = resolveSettings(body.settings);
      if ("error" in resolved) throw new ApiError("INVALID_SETTINGS", resolved.error);
      const spec = checkSpec(body.spec, opts.limits);
      const seeded = body.seed === undefined ? 0 : safetensorsBound(parameterCount(spec));
      const admitted = await app.quotas.admitDraft(request.caller!.address, seeded);
      try {
        const draft: DraftRecord = {
          id: randomBytes(16).toString("hex"),
          uploader: request.caller!.address,
          spec,
          settings: resolved.settings,
          createdAt: app.now(),
          modelHash: null,
          validationHash: null,
          validationFormat: null,
          validationSamples: null,
          jobId: null,
        };
        if (body.seed !== undefined) {
          const net = await Network.create(spec, { seed: body.seed });
          draft.modelHash = await app.blobs.put(encodeSafetensors(await net.weights(), { format: "pt" }));
        }
        await app.repo.insertDraft(draft);
        app.events.emit("draft:created", { draftId: draft.id, uploader: draft.uploader });
        return reply.code(201).send(draftView(draft, app.evaluator.address));
      } finally {
        admitted();
      }
    },
  );

  app.get<{ Params: { id: string } }>(
    "/api/job/draft/:id",
    { schema: { tags, summary: "A draft job's upload status", params: draftIdParams, response: { 200: draftReplySchema, ...errorReplies } } },
    async (request) => {
      const draft = await app.repo.getDraft(request.params.id);
      if (!draft) throw new ApiError("DRAFT_NOT_FOUND", `No draft '${request.params.id}'.`);
      return draftView(draft, app.evaluator.address);
    },
  );

  /** Activation may be waiting for this upload: try, then answer with the draft as it is now. */
  async function afterUpload(id: string) {
    const draft = (await app.repo.getDraft(id))!;
    if (draft.modelHash && draft.validationHash) {
      app.events.emit("draft:ready", { draftId: id, modelHash: draft.modelHash });
      await app.activator.activatePending();
    }
    return draftView((await app.repo.getDraft(id))!, app.evaluator.address);
  }

  app.put<{ Params: { id: string } }>(
    "/api/job/draft/:id/weights",
    {
      ...app.signed,
      bodyLimit: opts.uploadBytes,
      config: { uploadBudget: weightsBudget },
      schema: {
        tags,
        summary: "Upload the initial weights (raw safetensors body, application/octet-stream; signed)",
        params: draftIdParams,
        response: { 200: draftReplySchema, ...errorReplies },
      },
    },
    async (request) => {
      const draft = await ownDraft(app, request.params.id, request.caller!.address);
      uploadOnce("weights", draft.id, draft.modelHash, request.caller!);
      const file = staged(request);
      if (formatFromContentType(request.headers["content-type"]) !== "idx") {
        throw new ApiError("UNSUPPORTED_MEDIA_TYPE", "Send the weights as application/octet-stream.");
      }
      let tensors;
      try {
        tensors = decodeSafetensors(await readFile(file.file)).tensors;
      } catch (e) {
        throw new ApiError("MALFORMED_SAFETENSORS", `The weights are not valid safetensors: ${(e as Error).message}`, { reason: (e as { code?: string }).code });
      }
      const expected = await parameterShapes(draft.spec);
      const byName = new Map(tensors.map((t) => [t.name, t]));
      const ordered = expected.every((l) => byName.has(l.name)) && byName.size === expected.length ? expected.map((l) => byName.get(l.name)!) : tensors;
      const diff = sameLayout(expected, ordered);
      if (diff) throw new ApiError("INVALID_WEIGHTS", `The weights do not fit the model spec: ${diff}.`, { expected });
      if (allFinite(flatten(ordered)) >= 0) throw new ApiError("INVALID_WEIGHTS", "The weights hold NaN or infinite values.");
      const modelHash = await app.blobs.commit(file);
      await app.repo.setDraftWeights(draft.id, modelHash);
      return afterUpload(draft.id);
    },
  );

  app.put<{ Params: { id: string } }>(
    "/api/job/draft/:id/validation",
    {
      ...app.signed,
      bodyLimit: opts.uploadBytes,
      config: { uploadBudget: validationBudget },
      schema: {
        tags,
        summary: "Upload the validation set: text/csv (label first; a regression model's N targets first), or application/octet-stream = images IDX then labels IDX (signed)",
        params: draftIdParams,
        response: { 200: draftReplySchema, ...errorReplies },
      },
    },
    async (request) => {
      const draft = await ownDraft(app, request.params.id, request.caller!.address);
      uploadOnce("validation set", draft.id, draft.validationHash, request.caller!);
      const file = staged(request);
      const format = formatFromContentType(request.headers["content-type"])!;
      // Checked before it is committed: a refused set leaves nothing behind.
      const ds = await loadUpload(app.dataDir, app.blobs, file, format, opts.limits.datasetBytes, draft.spec, (ds) => checkFits(ds, draft.spec, "The validation set"));
      const hash = await app.blobs.commit(file);
      await app.repo.setDraftValidation(draft.id, { hash, format, samples: ds.count });
      return afterUpload(draft.id);
    },
  );
}
