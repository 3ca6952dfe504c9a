/**
 * The orchestrator's side of clusters: one ClusterManager per job with rented machines. When a
 * rental of the job's requester is acknowledged and the requester uploaded the cluster's SSH key
 * and training data, the machine gets its shard and a worker wallet key over SFTP, its installed
 * worker version is read, and `quackmesh worker` starts through the provider's gate. The
 * machine's state is kept in the store; GET /api/cluster/:jobId shows it.
 *
 * Rounds of a cluster job: the requester sets minUpdates to the cluster size; when machines fail
 * or their rentals end, a round closes as soon as every live machine's update arrived (and never
 * with none); with no live machine left the round deadline applies as for any job.
 */
import { randomBytes } from "node:crypto";
import { Wallet, getAddress } from "ethers";
import { QuackError } from "../../protocol/errors.js";
import { ApiError } from "../errors.js";
import type { OrchestratorEmitter } from "../events.js";
import type { BlobStore } from "../store/blobs.js";
import type { ChainEventRecord, ClusterMachineRecord, ClusterSpecRecord, JobRecord, Repository } from "../store/repository.js";
import { MARKET_EVENTS, applyMarketEvent } from "./chainEvents.js";
import { ClusterManager, type MachineStatus } from "./manager.js";
import { shardTrainData, type ShardFile } from "./shards.js";
import { DowntimeLedger } from "../market/downtime.js";

export interface ClusterServiceDeps {
  repo: Repository;
  blobs: BlobStore;
  events: OrchestratorEmitter;
  engine: { reconsider(jobId: number): Promise<void> };
  now: () => number;
  log: { warn(obj: unknown, msg?: string): void; error(obj: unknown, msg?: string): void };
  /** This orchestrator's version; a worker reporting another is flagged in the status. */
  version: string;
  /** The URL workers reach this orchestrator at (asked when a worker starts). */
  workerUrl: () => string;
  /** Pinned host keys of the machines (JSON file); memory only when absent. */
  knownHostsFile?: string;
  heartbeatTimeoutMs?: number;
  keepaliveMs?: number;
  /** How often workers send a heartbeat line. */
  workerHeartbeatMs?: number;
  /** Connect to machines on loopback, private and link-local addresses (options.ts allowsPrivateEndpoints). */
  privateEndpoints: boolean;
}

/** Worker settings when the requester names none: one epoch of plain SGD. */

/** Machines that can still send updates, or will once deployed. */
const LIVE = new Set(["pending", "acknowledged", "connecting", "ready", "running"]);
/** A restart loses every SSH session (the gates end their workers): these are deployed again. */
const RESUME = ["acknowledged", "connecting", "ready", "running"];

interface JobCluster {
  manager: ClusterManager;
  deploying: Set<string>;
}

const same = (a: string | null | undefined, b: string) => !!a && a.toLowerCase() === b.toLowerCase();

export class ClusterService {
  /** What this orchestrator, as the rentals' arbiter, saw of each machine's downtime (in the store). */
  readonly downtime: DowntimeLedger;
  private readonly clusters = new Map<number, JobCluster>();
  private readonly shards = new Map<string, Promise<ShardFile[]>>();
  private readonly offs: Array<() => void> = [];
  private stopped = false;
  private isLeading = false;

  constructor(private readonly d: ClusterServiceDeps) {
    // A lost write under-counts the provider's downtime: said loudly.
    this.downtime = new DowntimeLedger(d.repo, (err, rentalId) => d.log.error({ err, rentalId }, "storing a rental's downtime failed"));
  }

  get version(): string {
    return this.d.version;
  }

  /**
   * Follow the round engine. Deploying and watching machines waits for lead(): of orchestrators
   * sharing a store only the one holding the cluster-manager lock does it (plugins/cluster.ts).
   */
  async start(): Promise<void> {
    this.offs.push(
      this.d.events.on("update:accepted", (e) => void this.checkRound(e.jobId).catch((err) => this.d.log.error({ err, jobId: e.jobId }, "cluster round check failed"))),
      this.d.events.on("job:activated", (e) => this.deploy(e.jobId)),
    );
  }

  /** Whether this orchestrator manages the clusters now. */
  get leading(): boolean {
    return this.isLeading;
  }

  /**
   * This orchestrator manages the clusters from now on: handle marketplace events left
   * unhandled, deploy again what the previous manager (or this process before a restart) ran.
   */
  async lead(): Promise<void> {
    if (this.stopped) return;
    this.isLeading = true;
    for (const name of MARKET_EVENTS) for (const ev of await this.d.repo.unhandledChainEvents(name)) await this.onChainEvent(ev);
    const jobs = new Set<number>();
    for (const m of await this.d.repo.clusterMachinesWithStatus(RESUME)) {
      await this.d.repo.updateClusterMachine(m.jobId, m.machineId, { status: "acknowledged", updatedAt: this.d.now() });
      jobs.add(m.jobId);
    }
    for (const jobId of jobs) this.deploy(jobId);
  }

  /** Another orchestrator manages the clusters now: let go of every machine (its sessions end). */
  async stepDown(): Promise<void> {
    this.isLeading = false;
    await this.closeAll();
  }

  /**
   * While leading, now and then: deploy machines acknowledged through another orchestrator (its
   * chain reader saw the rental, or it took the requester's upload), drop those whose rental ended.
   */
  async reconcile(): Promise<void> {
    if (!this.isLeading || this.stopped) return;
    const jobs = new Set<number>();
    for (const m of await this.d.repo.clusterMachinesWithStatus(["acknowledged"])) {
      if (!this.clusters.get(m.jobId)?.manager.has(String(m.rentalId))) jobs.add(m.jobId);
    }
    for (const [jobId, c] of this.clusters) {
      for (const m of await this.d.repo.listClusterMachines(jobId)) if (m.status === "ended" && c.manager.has(String(m.rentalId))) c.manager.drop(String(m.rentalId));
    }
    for (const jobId of jobs) this.deploy(jobId);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.isLeading = false;
    for (const off of this.offs.splice(0)) off();
    await this.closeAll();
  }

  private async closeAll(): Promise<void> {
    const all = [...this.clusters.values()];
    this.clusters.clear();
    await Promise.all(all.map((c) => c.manager.close()));
  }

  /** A ComputeMarketplace event from the chain listener; marked handled once applied. */
  async onChainEvent(ev: ChainEventRecord): Promise<void> {
    const action = await applyMarketEvent(this.d.repo, ev, this.d.now());
    await this.d.repo.markChainEventHandled(ev.txHash, ev.logIndex, action.note);
    if (action.kind === "deploy") this.deploy(action.jobId);
    if (action.kind === "ended") {
      this.clusters.get(action.jobId)?.manager.drop(String(action.rentalId));
      await this.checkRound(action.jobId);
    }
  }

  /**
   * Who may send updates for `jobId`: anyone for a job without a cluster; for a cluster job only
   * the worker wallets this orchestrator made (their updates are paid by rent, not the pool).
   */
  async admitUpdate(jobId: number, address: string): Promise<"contributor" | "worker"> {
    const job = await this.d.repo.getJob(jobId);
    if (!job || !(await this.d.repo.getClusterSpec(job.draftId))) return "contributor";
    const machines = await this.d.repo.listClusterMachines(jobId);
    if (machines.some((m) => same(m.workerAddress, address))) return "worker";
    throw new ApiError("NOT_CLUSTER_WORKER", `Job ${jobId} is trained by its rented cluster; ${address} is not one of its workers.`, { jobId });
  }

  /** The job's machines as stored, with live heartbeats where a manager runs. */
  async machines(jobId: number): Promise<Array<ClusterMachineRecord & { versionMatches: boolean | null }>> {
    const live = new Map<string, MachineStatus>((this.clusters.get(jobId)?.manager.status() ?? []).map((s) => [s.rentalId, s]));
    return (await this.d.repo.listClusterMachines(jobId)).map((m) => {
      const s = live.get(String(m.rentalId));
      return {
        ...m,
        lastHeartbeat: s?.lastHeartbeat ?? m.lastHeartbeat ?? null,
        versionMatches: m.workerVersion ? m.workerVersion === this.d.version : null,
      };
    });
  }

  /**
   * Deploy every acknowledged machine of the job that is not deployed yet (no-op until the uploads
   * are in, or while another orchestrator manages the clusters: its reconcile() picks it up).
   */
  deploy(jobId: number): void {
    if (!this.isLeading) return;
    void this.deployJob(jobId).catch((err) => this.d.log.error({ err, jobId }, "cluster deploy failed"));
  }

  private async deployJob(jobId: number): Promise<void> {
    if (this.stopped || !this.isLeading) return;
    const job = await this.d.repo.getJob(jobId);
    if (!job || job.status !== "active") return;
    const spec = await this.d.repo.getClusterSpec(job.draftId);
    if (!spec || !spec.sshPrivateKey || !spec.trainHash) return;
    const rows = (await this.d.repo.listClusterMachines(jobId)).sort((a, b) => (a.rentalId ?? 0) - (b.rentalId ?? 0));
    const own = rows.filter((m) => same(m.renter, job.requester));
    const known = this.clusters.get(jobId)?.manager;
    for (const m of rows) {
      // A machine this manager already follows is being deployed or its new status is on its way to the store.
      if (m.status !== "acknowledged" || known?.has(String(m.rentalId))) continue;
      const fail = (error: string) => this.d.repo.updateClusterMachine(jobId, m.machineId, { status: "failed", error, updatedAt: this.d.now() });
      // Anyone may tag a rental with this job: only the requester's, made with the uploaded key, get its data.
      if (!own.includes(m)) await fail(`NOT_REQUESTER_RENTAL: rental ${m.rentalId} was paid by ${m.renter}, not the job's requester ${job.requester}.`);
      else if (m.keyFingerprint !== spec.keyFingerprint) await fail(`WRONG_SSH_KEY: rental ${m.rentalId} gave the provider key ${m.keyFingerprint}, not the uploaded cluster key ${spec.keyFingerprint}.`);
      else this.deployMachine(job, spec, m, own.indexOf(m) % spec.machines);
    }
  }

  private cluster(jobId: number, spec: ClusterSpecRecord): JobCluster {
    let c = this.clusters.get(jobId);
    if (c) return c;
    const manager = new ClusterManager({
      privateKey: spec.sshPrivateKey!,
      knownHosts: this.d.knownHostsFile,
      heartbeatTimeoutMs: this.d.heartbeatTimeoutMs,
      keepaliveMs: this.d.keepaliveMs,
      allowPrivateEndpoints: this.d.privateEndpoints,
    });
    const created: JobCluster = { manager, deploying: new Set() };
    this.clusters.set(jobId, created);
    manager.on("status", (s) => {
      // Connections closed by a step-down are no failures, and another manager owns these rows now.
      if (!this.isLeading || this.clusters.get(jobId) !== created) return;
      void this.downtime.observe(s.rentalId, s.status, this.d.now());
      void this.persist(jobId, s);
    });
    return created;
  }

  private async persist(jobId: number, s: MachineStatus): Promise<void> {
    try {
      const m = await this.d.repo.findClusterMachineByRental(Number(s.rentalId));
      // A rental that ended keeps that status; its worker's last words do not change it.
      if (!m || m.jobId !== jobId || m.status === "ended") return;
      await this.d.repo.updateClusterMachine(jobId, m.machineId, {
        status: s.status,
        error: s.error ? `${s.error.code}: ${s.error.message}` : null,
        lastHeartbeat: s.lastHeartbeat,
        hostKey: s.hostKeyFingerprint ?? m.hostKey,
        updatedAt: this.d.now(),
      });
      if (s.status === "failed") await this.checkRound(jobId);
    } catch (err) {
      this.d.log.error({ err, jobId, rentalId: s.rentalId }, "storing a cluster machine's status failed");
    }
  }

  private deployMachine(job: JobRecord, spec: ClusterSpecRecord, m: ClusterMachineRecord, shard: number): void {
    const c = this.cluster(job.jobId, spec);
    const id = String(m.rentalId);
    if (c.deploying.has(id)) return;
    c.deploying.add(id);
    void this.bringUp(c, job, spec, m, shard)
      .catch(async (err) => {
        if (!this.isLeading) return;
        if (c.manager.has(id)) c.manager.markFailed(id, err);
        else await this.d.repo.updateClusterMachine(job.jobId, m.machineId, { status: "failed", error: `${(err as QuackError).code ?? "DEPLOY_FAILED"}: ${(err as Error).message}`, updatedAt: this.d.now() });
      })
      .catch((err) => this.d.log.error({ err, jobId: job.jobId, rentalId: id }, "cluster deploy failed"))
      .finally(() => c.deploying.delete(id));
  }

  /** Connect, upload the shard and the worker key, read the worker's version, start the worker. */
  private async bringUp(c: JobCluster, job: JobRecord, spec: ClusterSpecRecord, m: ClusterMachineRecord, shard: number): Promise<void> {
    const id = String(m.rentalId);
    const { manager } = c;
    await this.d.repo.updateClusterMachine(job.jobId, m.machineId, { shard, error: null, updatedAt: this.d.now() });
    if (!manager.status().some((s) => s.rentalId === id)) {
      manager.add({ rentalId: id, machineId: String(m.machineId), host: m.host, port: m.port, provider: m.provider, username: m.username ?? undefined, hostKey: m.hostKey ?? undefined });
    }
    if (!(await manager.connect(id))) return;
    const files = await this.shardFiles(job.jobId, spec, shard);
    if (!(await manager.mkdir(id, "shard"))) return;
    for (const f of files) if (!(await manager.upload(id, f.bytes, `shard/${f.name}`))) return;
    // The worker signs its updates with a wallet made here for this machine: the orchestrator
    // admits exactly these addresses for the job.
    const wallet = new Wallet("0x" + randomBytes(32).toString("hex"));
    await this.d.repo.updateClusterMachine(job.jobId, m.machineId, { workerAddress: getAddress(wallet.address) });
    if (!(await manager.upload(id, Buffer.from(wallet.privateKey + "\n"), "worker.key", { mode: 0o600 }))) return;
    const workerVersion = await this.workerVersion(manager, id);
    await this.d.repo.updateClusterMachine(job.jobId, m.machineId, { workerVersion });
    const t = spec.train;
    await manager.startWorker(id, [
      "--job", String(job.jobId), "--orchestrator", this.d.workerUrl(), "--data", "shard", "--key", "worker.key", "--state", "worker-state",
      "--epochs", String(t.epochs), "--batch", String(t.batchSize), "--lr", String(t.lr), "--momentum", String(t.momentum),
      "--holdout", "0", "--heartbeat", String(this.d.workerHeartbeatMs ?? 2000),
    ]);
  }

  /** `quackmesh worker --version` through the gate: the version the provider has installed, or null. */
  private async workerVersion(manager: ClusterManager, id: string): Promise<string | null> {
    const r = await manager.run(id, "quackmesh worker --version");
    for (const line of r.stdout.split("\n")) {
      try {
        const v = JSON.parse(line) as { event?: string; version?: unknown };
        if (v.event === "version" && typeof v.version === "string") return v.version.slice(0, 64);
      } catch {
        // not a JSON line
      }
    }
    if (r.code !== 0) throw new QuackError("WORKER_MISSING", `quackmesh worker --version failed on rental ${id} (exit ${r.code}): ${r.stderr.split("\n").at(-1) ?? ""}`);
    return null;
  }

  private shardFiles(jobId: number, spec: ClusterSpecRecord, shard: number): Promise<ShardFile[]> {
    const key = `${jobId}:${spec.trainHash}:${spec.machines}:${shard}`;
    let p = this.shards.get(key);
    if (!p) {
      p = this.d.blobs.get(spec.trainHash!).then((raw) => shardTrainData(raw, spec.trainFormat ?? "idx", spec.machines, shard, jobId));
      this.shards.set(key, p);
      p.catch(() => this.shards.delete(key));
    }
    return p;
  }

  /** Machines of a cluster job that are alive (the requester's own rentals); null for a job without a cluster. */
  async liveWorkers(jobId: number): Promise<number | null> {
    const job = await this.d.repo.getJob(jobId);
    if (!job || !(await this.d.repo.getClusterSpec(job.draftId))) return null;
    const machines = await this.d.repo.listClusterMachines(jobId);
    return machines.filter((m) => LIVE.has(m.status) && same(m.renter, job.requester)).length;
  }

  /** A machine's state changed: the round engine decides whether the open round can close now. */
  async checkRound(jobId: number): Promise<void> {
    await this.d.engine.reconsider(jobId);
  }
}
