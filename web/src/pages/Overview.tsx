import { useEffect } from "react";
import type { OverviewReply } from "../../../orchestrator/routes/explorer-schemas";
import type { JobSummary } from "../../../orchestrator/routes/schemas";
import { useApi, useLive, useReachable } from "../api";
import { Addr, Duck, Empty, Loading, Problem, Section, Stat, Table } from "../components";
import { markFirstData } from "../perf";
import { Link } from "../router";
import { EventRows } from "./Transactions";

export function Overview() {
  const version = useLive(["chain:polled", "round:closed", "job:activated", "job:finished", "update:accepted", "update:rejected"]);
  const overview = useApi<OverviewReply>("/api/overview", version);
  const reachable = useReachable();
  const jobs = useApi<{ jobs: JobSummary[] }>("/api/jobs", version);
  useEffect(() => {
    if (overview.data && jobs.data) markFirstData("overview");
  }, [overview.data, jobs.data]);

  if (overview.error && !overview.data) return <Problem error={overview.error} what="the overview" />;
  if (!overview.data) return <Loading what="the overview" />;
  const o = overview.data;
  return (
    <>
      <h1>Overview</h1>
      <div className="stats">
        <Stat label="jobs running" value={o.jobs.active} testId="jobs-active" />
        <Stat label="jobs finished" value={o.jobs.finished} testId="jobs-finished" />
        <Stat label="paid to contributors" value={<Duck wei={o.paidToContributors} />} testId="paid-total" />
        <Stat label="earned by providers" value={<Duck wei={o.providersEarned} />} />
        <Stat label="machines listed" value={o.machines.listed} testId="machines-listed" />
        <Stat label="machines rented" value={o.machines.rented} />
        <Stat label="updates accepted / refused" value={`${o.updates.accepted} / ${o.updates.rejected}`} />
      </div>

      <Section title="Jobs">
        {jobs.error && !jobs.data ? <Problem error={jobs.error} what="the jobs" /> : null}
        {!jobs.data && !jobs.error ? <Loading what="the jobs" /> : null}
        {jobs.data && jobs.data.jobs.length === 0 ? (
          <Empty title="No jobs yet.">
            A requester creates one with <code>quackmesh job create --model spec.json --validation DIR --reward 100 --rounds 5</code>; it appears here once TrainingJobCreated is seen on chain.
          </Empty>
        ) : null}
        {jobs.data && jobs.data.jobs.length > 0 ? (
          <Table label="jobs" head={["job", "status", "round", "requester", "pool", "updates"]}>
            {[...jobs.data.jobs].reverse().map((j) => (
              <tr key={j.jobId}>
                <td>
                  <Link href={`/job/${j.jobId}`}>#{j.jobId}</Link>
                </td>
                <td>
                  <span className={`badge ${j.status}`}>{j.status}</span>
                </td>
                <td>{j.status === "finished" ? `${j.rounds} / ${j.rounds}` : `${j.currentRound} / ${j.rounds}`}</td>
                <td>
                  <Addr value={j.requester} />
                </td>
                <td>
                  <Duck wei={j.chain.totalRewardPool} />
                </td>
                <td>
                  {j.updates.accepted} accepted, {j.updates.rejected} refused
                </td>
              </tr>
            ))}
          </Table>
        ) : null}
      </Section>

      <Section title="Latest transactions" right={<Link href="/transactions">all →</Link>}>
        {o.latest.length === 0 ? (
          <Empty title="No contract events seen yet.">The orchestrator's chain listener stores every TrainingPool, ComputeMarketplace and InferencePool event from the deployment's block on{o.chainBlock === null ? "" : ` (read up to block ${o.chainBlock})`}.</Empty>
        ) : (
          <EventRows events={o.latest} />
        )}
      </Section>

      <Section title="Orchestrator">
        <dl className="facts">
          <dt>health</dt>
          <dd>
            {reachable ? (
              <>
                <span className="badge active">ok</span> up {Math.round(o.uptimeSeconds / 60)} min, version {o.version}
              </>
            ) : (
              <span className="badge failed">not answering</span>
            )}
          </dd>
          <dt>chain id</dt>
          <dd data-testid="chain-id">{o.chainId}</dd>
          <dt>chain read to block</dt>
          <dd>{o.chainBlock ?? "—"}</dd>
          <dt>evaluator</dt>
          <dd>
            <Addr value={o.evaluator} />
          </dd>
          {Object.entries(o.contracts).map(([name, address]) => (
            <ContractRow key={name} name={name} address={String(address)} />
          ))}
        </dl>
      </Section>
    </>
  );
}

function ContractRow({ name, address }: { name: string; address: string }) {
  return (
    <>
      <dt>{name}</dt>
      <dd>
        <Addr value={address} link={false} />
      </dd>
    </>
  );
}
