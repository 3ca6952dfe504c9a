/**
 * Clusters: GET /api/cluster/:jobId shows a job's rented machines as the cluster service sees
 * them. The requester uploads what the service needs, signed, to the draft (so the job is a
 * cluster job from its first round) or to the job: the SSH private key its rentals name and the
 * training data the machines share.
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { ModelSpec } from "../../native/types.js";
import { TRAIN_DEFAULTS } from "../../protocol/train.js";
import { checkFits, formatFromContentType, loadUpload } from "../data/validation.js";
import { ApiError, isApiError } from "../errors.js";
import { stagingParser } from "../plugins/body.js";
import { keyFingerprint } from "../cluster/privateKey.js";
import type { ClusterSpecRecord } from "../store/repository.js";
import { requireJob } from "./jobs.js";
import { uploadOnce } from "./drafts.js";
import type { SignedCaller } from "../auth.js";
import {
  clusterKeyBodySchema,
  clusterSchema,
  clusterSpecReplySchema,
  draftIdParams,
  errorReplies,
  jobIdParams,
  type ClusterKeyBody,
  type ClusterReply,
  type ClusterSpecReply,
} from "./schemas.js";

/** Where a cluster upload goes: a draft of the caller, or a job the caller requested. */
interface Target {
  draftId: string;
  spec: ModelSpec;
  jobId: number | null;
}

const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

async function target(app: FastifyInstance, params: { id?: string; jobId?: number | string }, caller: string): Promise<Target> {
  if (params.id !== undefined) {
    if (!/^[0-9a-f]{32}$/.test(params.id)) throw new ApiError("VALIDATION_FAILED", `'${params.id.slice(0, 80)}' is not a draft id (32 lowercase hex digits).`);
    const draft = await app.repo.getDraft(params.id);
    if (!draft) throw new ApiError("DRAFT_NOT_FOUND", `No draft '${params.id}'. Create one with POST /api/job.`);
    if (!same(draft.uploader, caller)) throw new ApiError("NOT_UPLOADER", `Draft ${draft.id} belongs to ${draft.uploader}; this request is signed by ${caller}.`);
    return { draftId: draft.id, spec: draft.spec, jobId: draft.jobId };
  }
  const jobId = Number(params.jobId);
  if (!Number.isSafeInteger(jobId) || jobId < 1 || !/^\d+$/.test(String(params.jobId))) throw new ApiError("VALIDATION_FAILED", `'${String(params.jobId).slice(0, 80)}' is not a job id.`);
  const job = await requireJob(app, jobId);
  if (!same(job.requester, caller)) throw new ApiError("NOT_REQUESTER", `Job ${job.jobId} was requested by ${job.requester}; this request is signed by ${caller}.`);
  return { draftId: job.draftId, spec: job.spec, jobId: job.jobId };
}

function view(s: ClusterSpecRecord): ClusterSpecReply {
  return { draftId: s.draftId, machines: s.machines, keyFingerprint: s.keyFingerprint, trainSamples: s.trainSamples, train: s.train };
}

export async function clusterRoutes(app: FastifyInstance, opts: { uploadBytes: number; datasetBytes: number }): Promise<void> {
  stagingParser(app, ["application/octet-stream", "text/csv"], opts.uploadBytes);
  const tags = ["cluster"];

  /** Checked before the body is read: the caller's draft or job, new data, within the data-set limit and the caller's quota. */
  async function trainDataBudget(request: FastifyRequest, caller: SignedCaller) {
    const t = await target(app, request.params as { id?: string; jobId?: string }, caller.address);
    const existing = await app.repo.getClusterSpec(t.draftId);
    uploadOnce("training data", t.draftId, existing?.trainHash ?? null, caller);
    return app.quotas.uploadBudget(caller.address, Math.min(opts.uploadBytes, opts.datasetBytes), Number(request.headers["content-length"]));
  }

  app.get<{ Params: { jobId: number } }>(
    "/api/cluster/:jobId",
    { schema: { tags, summary: "Rented machines of a job and their workers", params: jobIdParams, response: { 200: clusterSchema, ...errorReplies } } },
    async (request): Promise<ClusterReply> => {
      const job = await requireJob(app, request.params.jobId);
      const spec = await app.repo.getClusterSpec(job.draftId);
      const machines = await app.clusters.machines(job.jobId);
      return {
        jobId: job.jobId,
        orchestratorVersion: app.clusters.version,
        cluster: spec ? view(spec) : null,
        machines: machines.map(({ jobId: _j, renter: _r, keyFingerprint: _k, username: _u, hostKey: _h, ...m }) => m),
      };
    },
  );

  async function saveKey(request: FastifyRequest<{ Params: { id?: string; jobId?: number }; Body: ClusterKeyBody }>): Promise<ClusterSpecReply> {
    const t = await target(app, request.params, request.caller!.address);
    const body = request.body;
    const fingerprint = keyFingerprint(body.privateKey);
    const existing = await app.repo.getClusterSpec(t.draftId);
    if (existing?.trainSamples != null && existing.trainSamples < body.machines) {
      throw new ApiError("INVALID_DATASET", `The training data holds ${existing.trainSamples} samples, fewer than the ${body.machines} machines to share it.`);
    }
    const spec: ClusterSpecRecord = {
      draftId: t.draftId,
      owner: request.caller!.address,
      machines: body.machines,
      train: { ...TRAIN_DEFAULTS, ...existing?.train, ...body.train },
      sshPrivateKey: body.privateKey,
      keyFingerprint: fingerprint,
      trainHash: existing?.trainHash ?? null,
      trainFormat: existing?.trainFormat ?? null,
      trainSamples: existing?.trainSamples ?? null,
      updatedAt: app.now(),
    };
    await app.repo.saveClusterSpec(spec);
    if (t.jobId !== null) app.clusters.deploy(t.jobId);
    return view(spec);
  }

  async function saveTrainData(request: FastifyRequest<{ Params: { id?: string; jobId?: number } }>): Promise<ClusterSpecReply> {
    const t = await target(app, request.params, request.caller!.address);
    const existing = await app.repo.getClusterSpec(t.draftId);
    if (!existing) throw new ApiError("VALIDATION_FAILED", "Upload the cluster key first (PUT …/cluster-key): it says how many machines share the training data.");
    uploadOnce("training data", t.draftId, existing.trainHash, request.caller!);
    if (!request.staged || request.staged.size === 0) throw new ApiError("BODY_EMPTY", "The body is empty; send the training data's bytes.");
    const format = formatFromContentType(request.headers["content-type"])!;
    let samples: number;
    try {
      // Checked before it is committed: refused data leaves nothing behind.
      const ds = await loadUpload(app.dataDir, app.blobs, request.staged, format, opts.datasetBytes, t.spec, (ds) => {
        checkFits(ds, t.spec, "The training data");
        if (ds.count < existing.machines) throw new ApiError("INVALID_DATASET", `The training data holds ${ds.count} samples, fewer than the ${existing.machines} machines to share it.`);
      });
      samples = ds.count;
    } catch (e) {
      if (isApiError(e)) throw new ApiError(e.code, e.message.replaceAll("validation set", "training data"), e.details);
      throw e;
    }
    const hash = await app.blobs.commit(request.staged);
    const spec: ClusterSpecRecord = { ...existing, trainHash: hash, trainFormat: format, trainSamples: samples, updatedAt: app.now() };
    await app.repo.saveClusterSpec(spec);
    if (t.jobId !== null) app.clusters.deploy(t.jobId);
    return view(spec);
  }

  const keySchema = { tags, body: clusterKeyBodySchema, response: { 200: clusterSpecReplySchema, ...errorReplies } };
  const dataSchema = { tags, response: { 200: clusterSpecReplySchema, ...errorReplies } };
  const keySummary = "The SSH private key of the cluster's rentals and the number of machines (signed by the requester)";
  const dataSummary = "The training data the machines share: text/csv (label first) or images IDX then labels IDX (signed by the requester)";

  app.put<{ Params: { id: string }; Body: ClusterKeyBody }>(
    "/api/job/draft/:id/cluster-key",
    { ...app.signed, schema: { ...keySchema, summary: keySummary, params: draftIdParams } },
    saveKey,
  );
  app.put<{ Params: { jobId: number }; Body: ClusterKeyBody }>(
    "/api/job/:jobId/cluster-key",
    { ...app.signed, schema: { ...keySchema, summary: keySummary, params: jobIdParams } },
    saveKey,
  );
  app.put<{ Params: { id: string } }>(
    "/api/job/draft/:id/train-data",
    { ...app.signed, bodyLimit: opts.uploadBytes, config: { uploadBudget: trainDataBudget }, schema: { ...dataSchema, summary: dataSummary, params: draftIdParams } },
    saveTrainData,
  );
  app.put<{ Params: { jobId: number } }>(
    "/api/job/:jobId/train-data",
    { ...app.signed, bodyLimit: opts.uploadBytes, config: { uploadBudget: trainDataBudget }, schema: { ...dataSchema, summary: dataSummary, params: jobIdParams } },
    saveTrainData,
  );
}
