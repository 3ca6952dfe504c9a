/**
 * What a contributor must not forget across a crash: per round, the evaluator's attestation and
 * whether it was claimed on chain; and the update bytes sent but not yet answered. A resend of
 * the very same bytes gets the stored attestation back, so a lost answer costs nothing.
 * Stored as JSON in ~/.quackmesh/contribute/<chainId>-<jobId>-<address>.json, written atomically.
 */
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { AttestationReply } from "../../../orchestrator/client.js";
import { QuackError } from "../../../protocol/errors.js";

export type RoundStatus = "attested" | "submitted" | "refused" | "skipped";

export interface RoundRecord {
  status: RoundStatus;
  attestation?: AttestationReply;
  txHash?: string;
  /** DUCK wei paid, as a decimal string. */
  reward?: string;
  /** Refusal code (BELOW_THRESHOLD, DUPLICATE_UPDATE, AlreadySubmitted, …). */
  code?: string;
  /**
   * The round's contribution reward, once the round closed: "none" when nothing is owed,
   * "claimed" once TrainingPool.claim paid `amount` (DUCK wei, also added to `reward`).
   */
  contribution?: { status: "none" | "claimed"; amount: string; score: number; txHash?: string };
}

export interface PendingUpdate {
  round: number;
  numSamples: number;
  file: string;
}

interface StateFile {
  version: 1;
  jobId: number;
  address: string;
  rounds: Record<string, RoundRecord>;
  pending: PendingUpdate | null;
}

export function stateFilePath(home: string, chainId: number, jobId: number, address: string): string {
  return join(home, "contribute", `${chainId}-${jobId}-${address}.json`);
}

export class ContributorState {
  private constructor(
    private readonly file: string | undefined,
    private data: StateFile,
  ) {}

  /** Read the state file (or start empty); `file` undefined keeps the state in memory only. */
  static async open(file: string | undefined, who: { jobId: number; address: string }): Promise<ContributorState> {
    const empty: StateFile = { version: 1, jobId: who.jobId, address: who.address, rounds: {}, pending: null };
    if (!file) return new ContributorState(undefined, empty);
    let text: string;
    try {
      text = await readFile(file, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return new ContributorState(file, empty);
      throw new QuackError("STATE_UNREADABLE", `Cannot read the contributor state ${file}.`, { fix: "Check the file's permissions.", cause: err });
    }
    let data: StateFile;
    try {
      data = JSON.parse(text) as StateFile;
      if (data.version !== 1 || typeof data.rounds !== "object" || data.rounds === null) throw new Error("unknown layout");
    } catch (cause) {
      throw new QuackError("STATE_UNREADABLE", `${file} is not a contributor state file.`, { fix: `Move it away; the next run checks the chain before submitting anything.`, cause });
    }
    if (data.jobId !== who.jobId || data.address.toLowerCase() !== who.address.toLowerCase()) {
      throw new QuackError("STATE_MISMATCH", `${file} belongs to job ${data.jobId} / ${data.address}, not job ${who.jobId} / ${who.address}.`, { fix: "Move the file away." });
    }
    return new ContributorState(file, data);
  }

  get path(): string | undefined {
    return this.file;
  }

  round(round: number): RoundRecord | undefined {
    return this.data.rounds[String(round)];
  }

  /** Rounds attested but not yet claimed on chain, oldest first. */
  unclaimed(): Array<{ round: number; attestation: AttestationReply }> {
    return Object.entries(this.data.rounds)
      .filter(([, r]) => r.status === "attested" && r.attestation)
      .map(([k, r]) => ({ round: Number(k), attestation: r.attestation! }))
      .sort((a, b) => a.round - b.round);
  }

  /** Rounds submitted on chain whose contribution reward is not settled yet, oldest first. */
  unsettled(): number[] {
    return Object.entries(this.data.rounds)
      .filter(([, r]) => r.status === "submitted" && !r.contribution)
      .map(([k]) => Number(k))
      .sort((a, b) => a - b);
  }

  get pending(): PendingUpdate | null {
    return this.data.pending;
  }

  /** Total DUCK wei recorded as paid. */
  get paid(): bigint {
    return Object.values(this.data.rounds).reduce((sum, r) => sum + BigInt(r.reward ?? "0"), 0n);
  }

  async setRound(round: number, record: RoundRecord): Promise<void> {
    this.data.rounds[String(round)] = record;
    await this.save();
  }

  /** Keep the update bytes next to the state before sending them, so a crash can resend them. */
  async setPending(round: number, numSamples: number, bytes: Uint8Array): Promise<void> {
    if (!this.file) return;
    const file = `${this.file.replace(/\.json$/, "")}.r${round}.safetensors`;
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, bytes);
    this.data.pending = { round, numSamples, file };
    await this.save();
  }

  async readPending(): Promise<{ round: number; numSamples: number; bytes: Buffer } | null> {
    const p = this.data.pending;
    if (!p) return null;
    try {
      return { round: p.round, numSamples: p.numSamples, bytes: await readFile(p.file) };
    } catch {
      await this.clearPending();
      return null;
    }
  }

  async clearPending(): Promise<void> {
    const p = this.data.pending;
    if (!p) return;
    this.data.pending = null;
    await this.save();
    await rm(p.file, { force: true });
  }

  private async save(): Promise<void> {
    if (!this.file) return;
    await mkdir(dirname(this.file), { recursive: true });
    const tmp = `${this.file}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify(this.data, null, 2) + "\n");
    await rename(tmp, this.file);
  }
}
