import { useEffect, useState, type FormEvent } from "react";
import type { ChainEventView, EventsReply } from "../../../orchestrator/routes/explorer-schemas";
import { getJson, useApi, useLive, type ApiProblem } from "../api";
import { Addr, Duck, Empty, Hash, Loading, Problem, Table } from "../components";
import { AMOUNT_ARGS, isAddress } from "../format";
import { markFirstData } from "../perf";
import { navigate } from "../router";

/** Every event kind of the three contracts, for the filter. */
export const EVENT_KINDS = [
  "TrainingJobCreated",
  "UpdateSubmitted",
  "RewardDistributed",
  "RoundCommitted",
  "RewardClaimed",
  "TrainingJobFinished",
  "MachineListed",
  "MachineUnlisted",
  "MachineRented",
  "RentalAcknowledged",
  "RentalCancelled",
  "RentalEnded",
  "EarningsWithdrawn",
  "InferenceJobCreated",
  "InferenceSettled",
  "InferenceReclaimed",
];

/** Arguments not worth a column: long texts and keys. */
const HIDDEN_ARGS = new Set(["sshPublicKey", "specs", "endpoint"]);

function Args({ args }: { args: Record<string, unknown> }) {
  const parts = Object.entries(args).filter(([k]) => !HIDDEN_ARGS.has(k));
  return (
    <span className="args">
      {parts.map(([k, v]) => (
        <span key={k} className="arg">
          <span className="arg-name">{k}</span>{" "}
          {isAddress(v) ? <Addr value={v} /> : k === "accuracyBps" ? `${(Number(v) / 100).toFixed(2)} %` : AMOUNT_ARGS.has(k) ? <Duck wei={String(v)} /> : typeof v === "string" && v.startsWith("0x") ? <Hash value={v} /> : String(v)}
        </span>
      ))}
    </span>
  );
}

export function EventRows({ events }: { events: ChainEventView[] }) {
  return (
    <Table label="contract events" head={["block", "event", "contract", "tx", "details"]}>
      {events.map((e) => (
        <tr key={`${e.txHash}-${e.logIndex}`} data-event={e.name} data-tx={e.txHash}>
          <td>{e.blockNumber}</td>
          <td>
            <span className="event-name">{e.name}</span>
          </td>
          <td>{e.source}</td>
          <td>
            <Hash value={e.txHash} />
          </td>
          <td>
            <Args args={e.args} />
          </td>
        </tr>
      ))}
    </Table>
  );
}

function query(address?: string, kind?: string, before?: string): string {
  const q = new URLSearchParams({ limit: "50" });
  if (address) q.set("address", address);
  if (kind) q.set("kind", kind);
  if (before) q.set("before", before);
  return `/api/events?${q}`;
}

export function Transactions({ address, kind }: { address?: string; kind?: string }) {
  const version = useLive(["chain:polled"]);
  const valid = !address || isAddress(address);
  const first = useApi<EventsReply>(valid ? query(address, kind) : null, version);
  const [older, setOlder] = useState<{ events: ChainEventView[]; next: string | null } | null>(null);
  const [olderError, setOlderError] = useState<ApiProblem | null>(null);
  const [addressText, setAddressText] = useState(address ?? "");
  useEffect(() => {
    setOlder(null);
    setAddressText(address ?? "");
  }, [address, kind]);
  useEffect(() => {
    if (first.data) markFirstData("transactions");
  }, [first.data]);

  const filter = (next: { address?: string; kind?: string }) => {
    const q = new URLSearchParams();
    if (next.address) q.set("address", next.address);
    if (next.kind) q.set("kind", next.kind);
    navigate(`/transactions${q.size ? `?${q}` : ""}`);
  };
  const submit = (e: FormEvent) => {
    e.preventDefault();
    filter({ address: addressText.trim() || undefined, kind });
  };
  const next = older ? older.next : (first.data?.next ?? null);
  const loadOlder = () => {
    if (!next) return;
    getJson<EventsReply>(query(address, kind, next)).then(
      (page) => setOlder((o) => ({ events: [...(o?.events ?? []), ...page.events], next: page.next })),
      (err: ApiProblem) => setOlderError(err),
    );
  };
  // The first page refreshes live; older pages stay as loaded: show each event once.
  const seen = new Set<string>();
  const events = [...(first.data?.events ?? []), ...(older?.events ?? [])].filter((e) => {
    const key = `${e.txHash}-${e.logIndex}`;
    return !seen.has(key) && seen.add(key) !== undefined;
  });

  return (
    <>
      <h1>Transactions</h1>
      <form className="filters" onSubmit={submit}>
        <label>
          address{" "}
          <input name="address" value={addressText} placeholder="0x…" onChange={(e) => setAddressText(e.target.value)} spellCheck={false} />
        </label>
        <label>
          kind{" "}
          <select name="kind" value={kind ?? ""} onChange={(e) => filter({ address, kind: e.target.value || undefined })}>
            <option value="">all</option>
            {EVENT_KINDS.map((k) => (
              <option key={k} value={k}>
                {k}
              </option>
            ))}
          </select>
        </label>
        <button type="submit">filter</button>
        {address || kind ? (
          <button type="button" onClick={() => filter({})}>
            clear
          </button>
        ) : null}
      </form>
      {!valid ? <div className="state problem" role="alert" data-state="error">“{address}” is not an address (0x and 40 hex digits).</div> : null}
      {first.error && !first.data ? <Problem error={first.error} what="the events" /> : null}
      {valid && !first.data && !first.error ? <Loading what="the events" /> : null}
      {first.data && events.length === 0 ? (
        <Empty title={address || kind ? "No events match this filter." : "No contract events seen yet."}>Events appear here as the orchestrator's chain listener reads them.</Empty>
      ) : null}
      {events.length > 0 ? <EventRows events={events} /> : null}
      {olderError ? <Problem error={olderError} what="older events" /> : null}
      {next ? (
        <button type="button" className="more" onClick={loadOlder}>
          older events
        </button>
      ) : null}
    </>
  );
}
