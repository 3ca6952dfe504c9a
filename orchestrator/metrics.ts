/** Prometheus text exposition of the orchestrator's counters and request durations. */

const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

function labelText(labels: Record<string, string>): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`);
  return parts.length ? `{${parts.join(",")}}` : "";
}

class Counter {
  private readonly values = new Map<string, { labels: Record<string, string>; value: number }>();
  constructor(readonly name: string, readonly help: string) {}
  inc(labels: Record<string, string> = {}, by = 1): void {
    const key = labelText(labels);
    const v = this.values.get(key) ?? { labels, value: 0 };
    v.value += by;
    this.values.set(key, v);
  }
  get(labels: Record<string, string> = {}): number {
    return this.values.get(labelText(labels))?.value ?? 0;
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    if (this.values.size === 0) lines.push(`${this.name} 0`);
    for (const { labels, value } of this.values.values()) lines.push(`${this.name}${labelText(labels)} ${value}`);
    return lines.join("\n");
  }
}

class Histogram {
  private readonly series = new Map<string, { labels: Record<string, string>; counts: number[]; sum: number; count: number }>();
  constructor(readonly name: string, readonly help: string) {}
  observe(labels: Record<string, string>, seconds: number): void {
    const key = labelText(labels);
    let s = this.series.get(key);
    if (!s) this.series.set(key, (s = { labels, counts: BUCKETS.map(() => 0), sum: 0, count: 0 }));
    for (let i = 0; i < BUCKETS.length; i++) if (seconds <= BUCKETS[i]) s.counts[i]++;
    s.sum += seconds;
    s.count++;
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const s of this.series.values()) {
      BUCKETS.forEach((b, i) => lines.push(`${this.name}_bucket${labelText({ ...s.labels, le: String(b) })} ${s.counts[i]}`));
      lines.push(`${this.name}_bucket${labelText({ ...s.labels, le: "+Inf" })} ${s.count}`);
      lines.push(`${this.name}_sum${labelText(s.labels)} ${s.sum}`);
      lines.push(`${this.name}_count${labelText(s.labels)} ${s.count}`);
    }
    return lines.join("\n");
  }
}

export class Metrics {
  readonly updatesAccepted = new Counter("quackmesh_updates_accepted_total", "Updates accepted and attested.");
  readonly updatesRejected = new Counter("quackmesh_updates_rejected_total", "Updates refused, by error code.");
  readonly roundsClosed = new Counter("quackmesh_rounds_closed_total", "Rounds aggregated and closed.");
  readonly roundsExtended = new Counter("quackmesh_rounds_extended_total", "Round deadlines extended for lack of updates.");
  readonly chainEvents = new Counter("quackmesh_chain_events_total", "Contract events handled, by name.");
  readonly requestDuration = new Histogram("quackmesh_http_request_duration_seconds", "HTTP request durations.");

  render(): string {
    return (
      [this.updatesAccepted, this.updatesRejected, this.roundsClosed, this.roundsExtended, this.chainEvents, this.requestDuration]
        .map((m) => m.render())
        .join("\n") + "\n"
    );
  }
}
