/**
 * Talking to the orchestrator: JSON reads from /api, the live event stream, and whether the
 * API is reachable (the banner). Only this origin is ever asked.
 */
import { useEffect, useReducer, useRef, useState, useSyncExternalStore } from "react";

/** An API answer that is not 2xx: its code and message from the error table. */
export class ApiProblem extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

// ---- reachability: one flag the banner reads ----
let reachable = true;
const reachListeners = new Set<() => void>();
function setReachable(v: boolean): void {
  if (v === reachable) return;
  reachable = v;
  for (const fn of reachListeners) fn();
}
export function useReachable(): boolean {
  return useSyncExternalStore(
    (fn) => (reachListeners.add(fn), () => reachListeners.delete(fn)),
    () => reachable,
  );
}

export async function getJson<T>(path: string, signal?: AbortSignal): Promise<T> {
  let res: Response;
  try {
    res = await fetch(path, { signal, headers: { accept: "application/json" } });
  } catch (err) {
    if (signal?.aborted) throw err;
    setReachable(false);
    throw new ApiProblem(0, "UNREACHABLE", "The orchestrator is not answering.");
  }
  // A proxy's 502/504 means the orchestrator behind it is down.
  if (res.status === 502 || res.status === 504) {
    setReachable(false);
    throw new ApiProblem(res.status, "UNREACHABLE", "The orchestrator is not answering.");
  }
  setReachable(true);
  const body = (await res.json().catch(() => null)) as { error?: string; message?: string } | null;
  if (!res.ok) throw new ApiProblem(res.status, body?.error ?? `HTTP_${res.status}`, body?.message ?? res.statusText);
  return body as T;
}

// ---- live events: one EventSource for the page, versions bumped per event name ----
export type LiveName = "job:activated" | "job:finished" | "round:opened" | "round:closed" | "update:accepted" | "update:rejected" | "chain:polled";
const LIVE: LiveName[] = ["job:activated", "job:finished", "round:opened", "round:closed", "update:accepted", "update:rejected", "chain:polled"];
type LiveListener = (name: LiveName, data: Record<string, unknown>) => void;
const liveListeners = new Set<LiveListener>();
let source: EventSource | null = null;

function ensureStream(): void {
  if (source || typeof EventSource === "undefined") return;
  source = new EventSource("/api/stream");
  // The browser reconnects on its own (the server asks for 1 s); a reconnect may have missed
  // events, so every listener hears a synthetic "hello" and refetches.
  source.addEventListener("hello", () => {
    setReachable(true);
    for (const fn of liveListeners) fn("chain:polled", {});
  });
  source.onerror = () => {
    if (!source || source.readyState === EventSource.OPEN) return;
    setReachable(false);
    // CLOSED: the browser gave up (e.g. a 503 while the server stopped); start a new stream.
    if (source.readyState === EventSource.CLOSED) {
      source.close();
      source = null;
      setTimeout(ensureStream, 1000);
    }
  };
  for (const name of LIVE) {
    source.addEventListener(name, (e) => {
      let data: Record<string, unknown> = {};
      try {
        data = JSON.parse((e as MessageEvent<string>).data) as Record<string, unknown>;
      } catch {
        // a malformed line changes nothing
      }
      for (const fn of liveListeners) fn(name, data);
    });
  }
}

/** A number that grows whenever one of `names` arrives (and `match` accepts it): put it in a fetch's deps. */
export function useLive(names: LiveName[], match: (data: Record<string, unknown>) => boolean = () => true): number {
  const [version, bump] = useReducer((n: number) => n + 1, 0);
  const keep = useRef({ names, match });
  keep.current = { names, match };
  useEffect(() => {
    ensureStream();
    const fn: LiveListener = (name, data) => {
      if (keep.current.names.includes(name) && (Object.keys(data).length === 0 || keep.current.match(data))) bump();
    };
    liveListeners.add(fn);
    return () => void liveListeners.delete(fn);
  }, []);
  return version;
}

export interface Loaded<T> {
  data: T | null;
  error: ApiProblem | null;
  loading: boolean;
}

/**
 * GET `path` now and again whenever `version` changes. Earlier data stays on screen while a
 * refetch runs, so live updates do not flash a loading state.
 */
export function useApi<T>(path: string | null, version = 0): Loaded<T> {
  const [state, setState] = useState<Loaded<T>>({ data: null, error: null, loading: path !== null });
  const lastPath = useRef(path);
  useEffect(() => {
    if (path === null) return;
    if (lastPath.current !== path) {
      lastPath.current = path;
      setState({ data: null, error: null, loading: true });
    }
    const ctl = new AbortController();
    getJson<T>(path, ctl.signal).then(
      (data) => setState({ data, error: null, loading: false }),
      (error: unknown) => {
        if (ctl.signal.aborted) return;
        setState((s) => ({ data: s.data, error: error instanceof ApiProblem ? error : new ApiProblem(0, "CLIENT", String(error)), loading: false }));
      },
    );
    return () => ctl.abort();
  }, [path, version]);
  return state;
}
