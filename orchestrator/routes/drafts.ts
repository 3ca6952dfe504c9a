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
import { checkFeatures, formatFromContentType, loadValidation } from "../data/validation.js";
import { ApiError } from "../errors.js";
import { EVAL_BLOCK, type Limits } from "../options.js";
import { stagingParser } from "../plugins/body.js";
import { resolveSettings } from "../../protocol/settings.js";
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

/** The draft, if it exists, belongs to the caller and is not bound to a job yet. */
async function ownDraft(app: FastifyInstance, request: FastifyRequest<{ Params: { id: string } }>): Promise<DraftRecord> {
  const draft = await app.repo.getDraft(request.params.id);
  if (!draft) throw new ApiError("DRAFT_NOT_FOUND", `No draft '${request.params.id}'. Create one with POST /api/job.`);
  if (draft.uploader !== request.caller!.address) {
    throw new ApiError("NOT_UPLOADER", `Draft ${draft.id} belongs to ${draft.uploader}; this request is signed by ${request.caller!.address}.`);
  }
  if (draft.jobId !== null) throw new ApiError("DRAFT_LOCKED", `Draft ${draft.id} is already job ${draft.jobId}; create a new draft to change it.`);
  return draft;
}

function staged(request: FastifyRequest) {
  if (!request.staged || request.staged.size === 0) throw new ApiError("BODY_EMPTY", "The body is empty; send the file's bytes.");
  return request.staged;
}

export async function draftRoutes(app: FastifyInstance, opts: { uploadBytes: number; limits: Limits }): Promise<void> {
  stagingParser(app, ["application/octet-stream", "text/csv"], opts.uploadBytes);
  const tags = ["jobs"];

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
      schema: {
        tags,
        summary: "Upload the initial weights (raw safetensors body, application/octet-stream; signed)",
        params: draftIdParams,
        response: { 200: draftReplySchema, ...errorReplies },
      },
    },
    async (request) => {
      const draft = await ownDraft(app, request);
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
      schema: {
        tags,
        summary: "Upload the validation set: text/csv (label first), or application/octet-stream = images IDX then labels IDX (signed)",
        params: draftIdParams,
        response: { 200: draftReplySchema, ...errorReplies },
      },
    },
    async (request) => {
      const draft = await ownDraft(app, request);
      const file = staged(request);
      const format = formatFromContentType(request.headers["content-type"])!;
      const hash = await app.blobs.commit(file);
      const ds = await loadValidation(app.dataDir, app.blobs, hash, format);
      checkFeatures(ds, draft.spec.input);
      const classes = draft.spec.layers[draft.spec.layers.length - 1].units;
      const maxLabel = ds.y.reduce((m, v) => Math.max(m, v), 0);
      if (maxLabel >= classes) {
        throw new ApiError("INVALID_DATASET", `The validation set has label ${maxLabel} but the model has ${classes} outputs (labels 0–${classes - 1}).`);
      }
      await app.repo.setDraftValidation(draft.id, { hash, format, samples: ds.count });
      return afterUpload(draft.id);
    },
  );
}
