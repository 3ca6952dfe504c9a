/**
 * Property-based tests (fast-check) share one seed per run: QUACKMESH_FUZZ_SEED replays a run,
 * else a fresh one is drawn. A failure names the seed, the counterexample's path and the command
 * that replays it.
 */
import fc from "fast-check";

export const FUZZ_SEED = process.env.QUACKMESH_FUZZ_SEED !== undefined ? Number(process.env.QUACKMESH_FUZZ_SEED) : Math.floor(Math.random() * 2 ** 31);

/** What a failing property prints, so the exact case can be run again. */
export function replayHint(file: string): string {
  return `replay: QUACKMESH_FUZZ_SEED=${FUZZ_SEED} npx tap ${file}`;
}

/**
 * Run a property `numRuns` times from the run's seed; on failure throw fast-check's report (seed,
 * path, shrunk counterexample) with the replay command in front.
 */
export async function check<Ts extends [unknown, ...unknown[]]>(
  file: string,
  numRuns: number,
  property: fc.IAsyncPropertyWithHooks<Ts> | fc.IPropertyWithHooks<Ts>,
): Promise<number> {
  try {
    await fc.assert(property as fc.IAsyncProperty<Ts>, { seed: FUZZ_SEED, numRuns, endOnFailure: true });
  } catch (e) {
    const cause = (e as Error).cause as Error | undefined;
    const err = new Error(`${replayHint(file)}\n${(e as Error).message}${cause ? `\nFailure: ${cause.stack ?? cause.message ?? String(cause)}` : ""}`);
    console.error(err.message);
    throw err;
  }
  return numRuns;
}

/** Bytes: sometimes random, sometimes a valid example with a few bytes changed, cut or extended. */
export function mutated(valid: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Uint8Array> {
  const edit = fc.oneof(
    fc.record({ kind: fc.constant("flip" as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ kind: fc.constant("cut" as const), at: fc.nat() }),
    fc.record({ kind: fc.constant("append" as const), extra: fc.uint8Array({ maxLength: 16 }) }),
  );
  const changed = fc.tuple(valid, fc.array(edit, { minLength: 1, maxLength: 3 })).map(([bytes, edits]) => {
    let b = Buffer.from(bytes);
    for (const e of edits) {
      if (e.kind === "flip" && b.length > 0) b[e.at % b.length] = e.value;
      else if (e.kind === "cut") b = b.subarray(0, b.length === 0 ? 0 : e.at % b.length);
      else if (e.kind === "append") b = Buffer.concat([b, e.extra]);
    }
    return new Uint8Array(b);
  });
  return fc.oneof({ arbitrary: fc.uint8Array({ maxLength: 256 }), weight: 1 }, { arbitrary: valid, weight: 1 }, { arbitrary: changed, weight: 3 });
}

/** One API route as the OpenAPI description names it: `/api/job/{jobId}/update`. */
export interface RouteTemplate {
  method: string;
  path: string;
}

/** A server-sent event stream never ends, so inject() would wait for ever; it takes no body. */
const ENDLESS = new Set(["/api/stream"]);

/** Every documented route of the app (each new route is fuzzed without being listed here). */
export function documentedRoutes(openapi: { paths?: Record<string, Record<string, unknown>> }): RouteTemplate[] {
  const out: RouteTemplate[] = [];
  for (const [path, item] of Object.entries(openapi.paths ?? {})) {
    if (ENDLESS.has(path)) continue;
    for (const method of Object.keys(item)) if (["get", "post", "put", "delete", "patch"].includes(method)) out.push({ method: method.toUpperCase(), path });
  }
  return out.sort((a, b) => `${a.method} ${a.path}`.localeCompare(`${b.method} ${b.path}`));
}

/** Fill `{param}`s with the values given, in order. */
export function fillPath(path: string, values: string[]): string {
  let i = 0;
  return path.replace(/\{[^}]+\}/g, () => encodeURIComponent(values[i++ % Math.max(1, values.length)] ?? ""));
}

/**
 * The invariant every answer keeps: never a 5xx, except a 503 with its own code from the table
 * (not INTERNAL) for a service the fuzzed orchestrator was started without: it has no chain, so
 * inference (UNAVAILABLE) and the marketplace views answer that they are not connected.
 */
export function serverFault(status: number, body: string): string | null {
  if (status < 500) return null;
  if (status === 503) {
    const code = (() => {
      try {
        return (JSON.parse(body) as { error?: string }).error;
      } catch {
        return undefined;
      }
    })();
    if (code && code !== "INTERNAL") return null;
  }
  return `${status} ${body.slice(0, 300)}`;
}
