/**
 * The orchestrator's counters and request durations, in Prometheus' text format (prom-client).
 * Each app has its own registry, so the apps a process builds (tests build many) never share
 * counts; the Node process metrics (RSS, heap, event-loop lag, GC) describe the process, so they
 * are collected once, on a registry of their own, and served with every app's.
 */
import { Counter, Histogram, Registry, collectDefaultMetrics } from "prom-client";

const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** A counter that can report one series' value (for tests and checks). */
export class QuackCounter<T extends string = string> extends Counter<T> {
  /** The value of the series with exactly these labels; 0 before its first inc(). */
  async value(labels: Partial<Record<T, string>> = {}): Promise<number> {
    const wanted = Object.entries(labels);
    const { values } = await this.get();
    const found = values.find((v) => {
      const have = Object.entries(v.labels);
      return have.length === wanted.length && wanted.every(([k, x]) => String(v.labels[k as T]) === x);
    });
    return found?.value ?? 0;
  }
}

let processRegistry: Registry | undefined;

/** RSS, heap, CPU, event-loop lag and GC durations of this Node process (prom-client's defaults). */
function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

export class Metrics {
  readonly registry = new Registry();
  readonly updatesAccepted = this.counter("quackmesh_updates_accepted_total", "Updates accepted and attested.", []);
  readonly updatesRejected = this.counter("quackmesh_updates_rejected_total", "Updates refused, by error code.", ["code"]);
  readonly roundsClosed = this.counter("quackmesh_rounds_closed_total", "Rounds aggregated and closed.", []);
  readonly roundsExtended = this.counter("quackmesh_rounds_extended_total", "Round deadlines extended for lack of updates.", []);
  readonly chainEvents = this.counter("quackmesh_chain_events_total", "Contract events handled, by name.", ["name"]);
  readonly requestDuration = new Histogram({
    name: "quackmesh_http_request_duration_seconds",
    help: "HTTP request durations.",
    labelNames: ["method", "route", "status"] as const,
    buckets: BUCKETS,
    registers: [this.registry],
  });

  constructor() {
    processMetrics();
  }

  private counter<T extends string>(name: string, help: string, labelNames: readonly T[]): QuackCounter<T> {
    return new QuackCounter<T>({ name, help, labelNames, registers: [this.registry] });
  }

  /** The Content-Type of render()'s text. */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** This app's metrics and the process metrics, as Prometheus text. */
  render(): Promise<string> {
    return Registry.merge([this.registry, processMetrics()]).metrics();
  }
}
