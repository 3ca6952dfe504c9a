/**
 * `quackmesh demo`: the whole system on one machine. Runs the steps in order, reports events,
 * and stops everything it started (contributors, orchestrator, chain) on success, on failure and
 * on abort; the work folder goes too unless it was asked to be kept.
 */
import { mkdtemp, mkdir, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { resolve } from "node:path";
import { QuackError } from "../../../protocol/errors.js";
import { aborted } from "../job/wait.js";
import { DEMO_STEPS, type DemoStep } from "./steps.js";
import { demoResult } from "./training.js";
import { DEFAULT_DEMO, type DemoContext, type DemoEvent, type DemoOptions, type DemoResult } from "./types.js";

export async function runDemo(
  options: Partial<DemoOptions>,
  onEvent: (e: DemoEvent) => void = () => {},
  steps: readonly DemoStep[] = DEMO_STEPS,
): Promise<DemoResult> {
  const opts: DemoOptions = { ...DEFAULT_DEMO, ...options };
  checkOptions(opts);
  if (opts.keep) {
    const existing = await readdir(resolve(opts.keep)).catch(() => []);
    if (existing.length > 0) {
      throw new QuackError("KEEP_NOT_EMPTY", `--keep ${opts.keep} is not empty; the demo starts a fresh chain and needs a fresh folder.`, {
        fix: "Pass a new or empty folder to --keep.",
      });
    }
  }
  const workDir = opts.keep ? resolve(opts.keep) : await mkdtemp(resolve(tmpdir(), "quackmesh-demo-"));
  if (opts.keep) await mkdir(workDir, { recursive: true });
  const cleanups: Array<() => Promise<void> | void> = [];
  const ctx: DemoContext = {
    opts,
    workDir,
    started: Date.now(),
    emit: onEvent,
    onCleanup: (fn) => void cleanups.push(fn),
    childEnv: {},
    contributors: [],
    rounds: [],
  };
  try {
    for (const step of steps) {
      if (opts.signal?.aborted) throw aborted(opts.signal);
      const t0 = Date.now();
      onEvent({ event: "step", id: step.id, title: step.title, status: "started" });
      const detail = await abortable(step.run(ctx), opts.signal);
      onEvent({ event: "step", id: step.id, title: step.title, status: "done", ms: Date.now() - t0, detail });
    }
    const result = await demoResult(ctx);
    if (opts.keepOpen && ctx.server) await opts.keepOpen(result, `${ctx.server.url}/`);
    return result;
  } finally {
    for (const fn of cleanups.reverse()) {
      try {
        await fn();
      } catch {
        // keep stopping the rest
      }
    }
    if (!opts.keep) await rm(workDir, { recursive: true, force: true }).catch(() => undefined);
  }
}

/** The step's promise, or ABORTED as soon as the signal fires (cleanup then stops what it started). */
function abortable<T>(p: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return p;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(aborted(signal));
    if (signal.aborted) return onAbort();
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

function checkOptions(o: DemoOptions): void {
  const bad = (message: string, fix: string) => new QuackError("BAD_ARGUMENT", message, { fix });
  if (!Number.isInteger(o.contributors) || o.contributors < 2 || o.contributors > 14) throw bad(`--contributors ${o.contributors} is not 2 to 14.`, "Pass e.g. --contributors 3.");
  if (!Number.isInteger(o.rounds) || o.rounds < 1 || o.rounds > 1000) throw bad(`--rounds ${o.rounds} is not 1 to 1000.`, "Pass e.g. --rounds 10.");
  if (!(o.alpha > 0)) throw bad(`--alpha ${o.alpha} is not a positive number.`, "Pass e.g. --alpha 1.");
  if (!(o.threshold >= 0 && o.threshold <= 1)) throw bad(`--threshold ${o.threshold} is not between 0 and 1.`, "Pass e.g. --threshold 0.7.");
}
