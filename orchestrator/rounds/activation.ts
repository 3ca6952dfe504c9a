/**
 * A job becomes active when TrainingPool.TrainingJobCreated names a model hash we hold in a
 * ready draft, the event's requester is the address that uploaded it, and the evaluator is
 * ours. The event is kept until a draft matches, so the upload and the chain transaction may
 * come in either order.
 */
import { getAddress } from "ethers";
import type { OrchestratorEmitter } from "../events.js";
import type { ChainEventRecord, Repository } from "../store/repository.js";
import type { RoundEngine } from "./engine.js";

export const JOB_CREATED = "TrainingJobCreated";

export class Activator {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly d: {
      repo: Repository;
      engine: RoundEngine;
      events: OrchestratorEmitter;
      evaluator: string;
      now: () => number;
    },
  ) {}

  /** Serialized: two events (or an event and an upload) never race for one draft. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.queue.then(fn, fn);
    this.queue = p.catch(() => undefined);
    return p;
  }

  /** Try every TrainingJobCreated not handled yet (after an upload completes a draft, or at start). */
  activatePending(): Promise<number[]> {
    return this.serial(async () => {
      const activated: number[] = [];
      for (const ev of await this.d.repo.unhandledChainEvents(JOB_CREATED)) {
        const id = await this.tryActivate(ev);
        if (id !== null) activated.push(id);
      }
      return activated;
    });
  }

  handle(ev: ChainEventRecord): Promise<number | null> {
    return this.serial(() => this.tryActivate(ev));
  }

  private async tryActivate(ev: ChainEventRecord): Promise<number | null> {
    const a = ev.args;
    const jobId = Number(a.jobId);
    if (getAddress(String(a.evaluator)) !== this.d.evaluator) {
      await this.d.repo.markChainEventHandled(ev.txHash, ev.logIndex, `evaluator ${a.evaluator} is not ours`);
      this.d.events.emit("job:ignored", { jobId, reason: `evaluator ${a.evaluator} is not this orchestrator (${this.d.evaluator})` });
      return null;
    }
    if (await this.d.repo.getJob(jobId)) {
      await this.d.repo.markChainEventHandled(ev.txHash, ev.logIndex, `job ${jobId} already active`);
      return null;
    }
    const requester = getAddress(String(a.requester));
    const modelHash = String(a.modelHash).toLowerCase();
    const [draft] = await this.d.repo.findReadyDrafts(modelHash, requester);
    if (!draft) return null; // wait for the upload to complete
    const now = this.d.now();
    const settings = { ...draft.settings, rounds: Number(a.rounds), thresholdBps: Number(a.accuracyThresholdBps) };
    const job = await this.d.repo.activateJob({
      event: ev,
      draftId: draft.id,
      job: {
        jobId,
        draftId: draft.id,
        requester,
        evaluator: this.d.evaluator,
        initialModelHash: modelHash,
        spec: draft.spec,
        settings,
        validationHash: draft.validationHash!,
        createdAt: now,
        chain: {
          txHash: ev.txHash,
          blockNumber: ev.blockNumber,
          totalRewardPool: String(a.totalRewardPool),
          roundBudget: String(a.roundBudget),
          maxPerContributor: String(a.maxPerContributor),
          flatPerUpdate: String(a.flatPerUpdate),
          deadline: Number(a.deadline),
          claimWindow: Number(a.claimWindow),
        },
      },
      round0: { openedAt: now, deadlineAt: now + settings.roundDeadlineSeconds * 1000 },
    });
    if (!job) return null;
    this.d.events.emit("job:activated", { jobId, requester, rounds: settings.rounds, modelHash });
    this.d.engine.roundOpened(jobId, 0, now + settings.roundDeadlineSeconds * 1000);
    return jobId;
  }
}
