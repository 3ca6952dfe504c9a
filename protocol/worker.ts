/**
 * What `quackmesh worker` writes on stdout, one JSON object per line, read by the cluster
 * manager over SSH. Every such line counts as a heartbeat. Known events:
 *   {"event":"heartbeat", ...}            alive (the worker sends one at least every few seconds)
 *   {"event":"progress", "round":…, ...}  training progress, passed on as a `message`
 *   {"event":"done", ...}                 finished; the object becomes the machine's `result`
 *   {"event":"error", "message":"…"}      gave up; the machine is marked failed
 * Lines that are not JSON objects are plain log lines.
 */
export interface WorkerMessage extends Record<string, unknown> {
  event: string;
}

export function parseWorkerLine(line: string): WorkerMessage | undefined {
  const text = line.trim();
  if (!text.startsWith("{")) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    if (!value || typeof value !== "object" || Array.isArray(value)) return undefined;
    const event = (value as Record<string, unknown>).event;
    return { ...(value as Record<string, unknown>), event: typeof event === "string" ? event : "message" };
  } catch {
    return undefined;
  }
}

/** One line for a worker to print. */
export function workerLine(message: WorkerMessage): string {
  return JSON.stringify(message);
}

/** The characters a `quackmesh worker` argument may hold when it runs through a provider's gate. */
const SAFE_ARG = /^[A-Za-z0-9_.,:=@%+/-]+$/;

/** Why a `quackmesh worker` argument is refused, or undefined when it is fine. */
export function workerArgProblem(arg: string): string | undefined {
  if (!SAFE_ARG.test(arg)) return "holds characters outside letters, digits and _.,:=@%+/-";
  const value = arg.includes("=") ? arg.slice(arg.indexOf("=") + 1) : arg;
  if (value.startsWith("/")) return "is an absolute path; files live in the rental's folder, name them relative to it";
  if (/(^|\/)\.\.(\/|$)/.test(value)) return "leaves the rental's folder (..)";
  return undefined;
}
