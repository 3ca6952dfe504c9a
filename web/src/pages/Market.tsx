import { useEffect, useState } from "react";
import type { ListingsReply, RentalsReply } from "../../../orchestrator/routes/explorer-schemas";
import { useApi, useLive } from "../api";
import { Addr, Duck, Empty, Loading, Problem, Section, Table } from "../components";
import { markFirstData } from "../perf";

const PAGE = 50;

function gpuText(gpus: Array<{ name: string; memoryMiB: number }>): string {
  if (gpus.length === 0) return "none";
  return gpus.map((g) => `${g.name} (${Math.round(g.memoryMiB / 1024)} GiB)`).join(", ");
}

function Pager({ offset, total, onMove }: { offset: number; total: number; onMove: (o: number) => void }) {
  if (total <= PAGE) return null;
  return (
    <div className="pager">
      <button type="button" disabled={offset === 0} onClick={() => onMove(Math.max(0, offset - PAGE))}>
        newer
      </button>
      <span>
        {offset + 1}–{Math.min(total, offset + PAGE)} of {total}
      </span>
      <button type="button" disabled={offset + PAGE >= total} onClick={() => onMove(offset + PAGE)}>
        older
      </button>
    </div>
  );
}

export function Market() {
  const version = useLive(["chain:polled"]);
  const [listOffset, setListOffset] = useState(0);
  const [rentOffset, setRentOffset] = useState(0);
  const listings = useApi<ListingsReply>(`/api/market/listings?limit=${PAGE}&offset=${listOffset}`, version);
  const rentals = useApi<RentalsReply>(`/api/market/rentals?limit=${PAGE}&offset=${rentOffset}`, version);
  useEffect(() => {
    if (listings.data) markFirstData("market");
  }, [listings.data]);

  return (
    <>
      <h1>Marketplace</h1>
      <Section title="Machines">
        {listings.error && !listings.data ? <Problem error={listings.error} what="the listings" /> : null}
        {!listings.data && !listings.error ? <Loading what="the listings" /> : null}
        {listings.data && listings.data.total === 0 ? (
          <Empty title="No machines listed.">
            A provider lists one with <code>quackmesh provide --price 5 --sshd</code>.
          </Empty>
        ) : null}
        {listings.data && listings.data.listings.length > 0 ? (
          <Table label="listings" head={["machine", "provider", "cores", "RAM", "GPU", "bench", "price / hour", "status", "rentals served", "earned", "stake", "stake lost", "downtime"]}>
            {listings.data.listings.map((l) => (
              <tr key={l.machineId} data-machine={l.machineId}>
                <td>#{l.machineId}</td>
                <td>
                  <Addr value={l.provider} />
                </td>
                <td>{l.specsValid ? l.cores : "?"}</td>
                <td>{l.specsValid ? `${(l.ramMiB / 1024).toFixed(1)} GiB` : "?"}</td>
                <td>{gpuText(l.gpus)}</td>
                <td>{l.bench ?? "—"}</td>
                <td className="price">
                  <Duck wei={l.pricePerHour} />
                </td>
                <td>
                  <span className={`badge ${l.status}`}>{l.status}</span>
                </td>
                <td>{l.rentalsServed}</td>
                <td>
                  <Duck wei={l.earned} />
                </td>
                <td className="stake">
                  <Duck wei={l.stake} />
                </td>
                <td className="stake-lost">
                  <Duck wei={l.stakeLost} />
                </td>
                <td className="downtime">{l.downtimeSeconds} s</td>
              </tr>
            ))}
          </Table>
        ) : null}
        {listings.data ? <Pager offset={listOffset} total={listings.data.total} onMove={setListOffset} /> : null}
      </Section>

      <Section title="Rentals">
        {rentals.error && !rentals.data ? <Problem error={rentals.error} what="the rentals" /> : null}
        {!rentals.data && !rentals.error ? <Loading what="the rentals" /> : null}
        {rentals.data && rentals.data.total === 0 ? (
          <Empty title="No rentals yet.">
            A requester rents with <code>quackmesh rent --count 1 --hours 2</code>.
          </Empty>
        ) : null}
        {rentals.data && rentals.data.rentals.length > 0 ? (
          <Table label="rentals" head={["rental", "machine", "renter", "job", "hours", "escrow", "earned", "refunded", "status"]}>
            {rentals.data.rentals.map((r) => (
              <tr key={r.rentalId} data-rental={r.rentalId}>
                <td>#{r.rentalId}</td>
                <td>#{r.machineId}</td>
                <td>
                  <Addr value={r.renter} />
                </td>
                <td>{r.jobId || "—"}</td>
                <td>{r.hours}</td>
                <td>
                  <Duck wei={r.escrow} />
                </td>
                <td>
                  <Duck wei={r.earned} />
                </td>
                <td>
                  <Duck wei={r.refunded} />
                </td>
                <td>
                  <span className={`badge ${r.status}`}>{r.status}</span>
                </td>
              </tr>
            ))}
          </Table>
        ) : null}
        {rentals.data ? <Pager offset={rentOffset} total={rentals.data.total} onMove={setRentOffset} /> : null}
      </Section>
    </>
  );
}
