/**
 * What the orchestrator tells the world while it runs. Logic emits these; the live view, the
 * JSON log and tests listen. Nothing in the logic prints.
 */
import { EventEmitter } from "node:events";

export interface OrchestratorEvents {
  listening: { url: string };
  "draft:created": { draftId: string; uploader: string };
  "draft:ready": { draftId: string; modelHash: string };
  "job:activated": { jobId: number; requester: string; rounds: number; modelHash: string };
  "job:ignored": { jobId: number; reason: string };
  "job:finished": { jobId: number; modelHash: string };
  "round:opened": { jobId: number; round: number; deadlineAt: number };
  "round:extended": { jobId: number; round: number; deadlineAt: number; extensions: number };
  "round:closing": { jobId: number; round: number };
  "round:waiting": { jobId: number; round: number; useful: number; required: number };
  "round:closed": { jobId: number; round: number; accuracy: number; loss: number; contributors: number; modelHash: string; ms: number; paid: string };
  "round:failed": { jobId: number; round: number; error: string };
  "update:accepted": { jobId: number; round: number; contributor: string; accuracyBps: number; numSamples: number; ms: number };
  "update:rejected": { jobId: number; round: number; contributor: string; code: string };
  "chain:polled": { source: string; toBlock: number; events: number };
  "chain:error": { source: string; error: string };
  /** The chain under the store is gone (chain/anchor.ts); the orchestrator takes no more writes. */
  "chain:reset": { reason: string; fix: string };
}

export type EventName = keyof OrchestratorEvents;

export class OrchestratorEmitter {
  private readonly emitter = new EventEmitter();

  constructor() {
    this.emitter.setMaxListeners(100);
  }

  emit<K extends EventName>(name: K, payload: OrchestratorEvents[K]): void {
    this.emitter.emit(name, payload);
    this.emitter.emit("*", name, payload);
  }

  on<K extends EventName>(name: K, fn: (payload: OrchestratorEvents[K]) => void): () => void {
    this.emitter.on(name, fn);
    return () => this.emitter.off(name, fn);
  }

  once<K extends EventName>(name: K, fn: (payload: OrchestratorEvents[K]) => void): void {
    this.emitter.once(name, fn);
  }

  /** Every event, in order (for the live view and logs). */
  onAny(fn: <K extends EventName>(name: K, payload: OrchestratorEvents[K]) => void): () => void {
    const h = fn as (name: EventName, payload: unknown) => void;
    this.emitter.on("*", h);
    return () => this.emitter.off("*", h);
  }

  /** Resolves with the first event `name` whose payload passes `match`. */
  waitFor<K extends EventName>(name: K, match: (p: OrchestratorEvents[K]) => boolean = () => true): Promise<OrchestratorEvents[K]> {
    return new Promise((resolve) => {
      const off = this.on(name, (p) => {
        if (match(p)) {
          off();
          resolve(p);
        }
      });
    });
  }
}
