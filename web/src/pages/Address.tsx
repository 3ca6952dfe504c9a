import { useEffect } from "react";
import type { AddressReply } from "../../../orchestrator/routes/explorer-schemas";
import { useApi, useLive } from "../api";
import { Addr, Duck, Empty, Hash, Loading, Problem, Section, Stat, Table } from "../components";
import { ago } from "../format";
import { markFirstData } from "../perf";
import { Link } from "../router";

export function Address({ address }: { address: string }) {
  const version = useLive(["chain:polled", "update:accepted", "update:rejected"], (d) => typeof d.contributor !== "string" || d.contributor.toLowerCase() === address.toLowerCase());
  const view = useApi<AddressReply>(`/api/address/${address}`, version);
  useEffect(() => {
    if (view.data) markFirstData("address");
  }, [view.data]);
  if (view.error && !view.data) return <Problem error={view.error} what={`address ${address}`} />;
  if (!view.data) return <Loading what={`address ${address}`} />;
  const { contributor: c, provider: p, requester: r } = view.data;
  const nothing = c.updates.length === 0 && c.received === "0" && p.machines.length === 0 && r.jobs.length === 0 && r.rentals.length === 0;

  return (
    <>
      <h1>
        Address <Addr value={view.data.address} link={false} />
      </h1>
      <p className="sub">
        <Link href={`/transactions?address=${view.data.address}`}>its contract events →</Link>
      </p>
      {nothing ? <Empty title="Nothing seen for this address yet.">No updates, jobs, machines or rentals of this address on this orchestrator or in the contract events it read.</Empty> : null}

      {c.updates.length > 0 || c.received !== "0" ? (
        <Section title="As contributor">
          <div className="stats">
            <Stat label="updates accepted" value={c.accepted} />
            <Stat label="updates refused" value={c.rejected} />
            <Stat label="DUCK received" value={<Duck wei={c.received} />} testId="received" />
          </div>
          <Table label="updates" head={["job", "round", "status", "accuracy attested", "samples", "update", "sent"]}>
            {c.updates.map((u) => (
              <tr key={`${u.jobId}-${u.round}`}>
                <td>
                  <Link href={`/job/${u.jobId}`}>#{u.jobId}</Link>
                </td>
                <td>{u.round}</td>
                <td>
                  <span className={`badge ${u.status}`}>{u.status}</span>
                  {u.reason ? <span className="mono"> {u.reason}</span> : null}
                </td>
                <td>{(u.accuracyBps / 100).toFixed(2)} %</td>
                <td>{u.numSamples}</td>
                <td>
                  <Hash value={u.updateHash} />
                </td>
                <td>{ago(u.receivedAt)}</td>
              </tr>
            ))}
          </Table>
        </Section>
      ) : null}

      {p.machines.length > 0 ? (
        <Section title="As provider">
          <div className="stats">
            <Stat label="machines" value={p.machines.length} />
            <Stat label="earned" value={<Duck wei={p.earned} />} />
          </div>
          <Table label="machines" head={["machine", "cores", "price / hour", "status", "rentals served", "earned"]}>
            {p.machines.map((m) => (
              <tr key={m.machineId}>
                <td>#{m.machineId}</td>
                <td>{m.cores}</td>
                <td>
                  <Duck wei={m.pricePerHour} />
                </td>
                <td>
                  <span className={`badge ${m.status}`}>{m.status}</span>
                </td>
                <td>{m.rentalsServed}</td>
                <td>
                  <Duck wei={m.earned} />
                </td>
              </tr>
            ))}
          </Table>
        </Section>
      ) : null}

      {r.jobs.length > 0 || r.rentals.length > 0 ? (
        <Section title="As requester">
          <div className="stats">
            <Stat label="jobs" value={r.jobs.length} />
            <Stat label="spent on training (pools − refunds)" value={<Duck wei={r.spent} />} />
            <Stat label="spent on rent (escrow − refunds)" value={<Duck wei={r.rentSpent} />} />
          </div>
          {r.jobs.length > 0 ? (
            <Table label="jobs" head={["job", "pool", "committed", "paid", "refund", "left"]}>
              {r.jobs.map((j) => (
                <tr key={j.jobId}>
                  <td>
                    <Link href={`/job/${j.jobId}`}>#{j.jobId}</Link>
                  </td>
                  <td>
                    <Duck wei={j.pool} />
                  </td>
                  <td>
                    <Duck wei={j.committed} />
                  </td>
                  <td>
                    <Duck wei={j.paid} />
                  </td>
                  <td>{j.refund === null ? "—" : <Duck wei={j.refund} />}</td>
                  <td>
                    <Duck wei={j.left} />
                  </td>
                </tr>
              ))}
            </Table>
          ) : null}
          {r.rentals.length > 0 ? (
            <Table label="rentals" head={["rental", "machine", "hours", "escrow", "refunded", "status"]}>
              {r.rentals.map((x) => (
                <tr key={x.rentalId}>
                  <td>#{x.rentalId}</td>
                  <td>#{x.machineId}</td>
                  <td>{x.hours}</td>
                  <td>
                    <Duck wei={x.escrow} />
                  </td>
                  <td>
                    <Duck wei={x.refunded} />
                  </td>
                  <td>
                    <span className={`badge ${x.status}`}>{x.status}</span>
                  </td>
                </tr>
              ))}
            </Table>
          ) : null}
        </Section>
      ) : null}
    </>
  );
}
