import { useEffect } from "react";
import type { JobReport } from "../../../orchestrator/routes/explorer-schemas";
import type { ClusterReply, JobDetail } from "../../../orchestrator/routes/schemas";
import { useApi, useLive } from "../api";
import { AccuracyChart } from "../Chart";
import { Addr, Duck, Empty, Hash, Loading, Problem, Section, Stat, Table } from "../components";
import { qualityName } from "../../../protocol/quality";
import { ago, duration, quality } from "../format";
import { markFirstData, markRoundShown } from "../perf";

export function Job({ jobId }: { jobId: number }) {
  const mine = (d: Record<string, unknown>) => d.jobId === undefined || d.jobId === jobId;
  const version = useLive(["round:closed", "round:opened", "update:accepted", "update:rejected", "job:finished", "chain:polled"], mine);
  const job = useApi<JobDetail>(`/api/job/${jobId}`, version);
  const report = useApi<JobReport>(`/api/job/${jobId}/report`, version);
  const cluster = useApi<ClusterReply>(`/api/cluster/${jobId}`, version);

  const closed = (job.data?.history ?? []).filter((r) => r.status === "closed" && r.accuracy !== null && r.loss !== null);
  useEffect(() => {
    if (!job.data) return;
    markFirstData("job");
    for (const r of closed) markRoundShown(jobId, r.round);
  }, [job.data]);

  if (job.error && !job.data) {
    return job.error.code === "JOB_NOT_FOUND" ? (
      <Empty title={`This orchestrator has no job ${jobId}.`}>A job appears once its TrainingJobCreated event is seen on chain for a model uploaded here.</Empty>
    ) : (
      <Problem error={job.error} what={`job ${jobId}`} />
    );
  }
  if (!job.data) return <Loading what={`job ${jobId}`} />;
  const j = job.data;
  const s = j.settings;
  const round = j.status === "finished" ? j.rounds : j.currentRound;
  const money = report.data?.money;
  const machines = cluster.data?.machines ?? [];
  const metric = qualityName(j.spec);

  return (
    <>
      <div className="title-row">
        <h1>
          Job #{j.jobId} <span className={`badge ${j.status}`}>{j.status}</span>
        </h1>
        <a className="button" href={`/api/job/${j.jobId}/model`} download={`quackmesh-job-${j.jobId}-round-${round}.safetensors`}>
          download the current model (safetensors)
        </a>
      </div>
      <p className="sub">
        round {Math.min(round, j.rounds)} of {j.rounds} · requester <Addr value={j.requester} /> · evaluator <Addr value={j.evaluator} /> · model <Hash value={j.modelHash} />
      </p>

      <div className="stats">
        <Stat label={`latest ${metric}`} value={closed.length ? quality(metric, closed[closed.length - 1].accuracy) : "—"} testId="latest-accuracy" />
        <Stat label="reward pool" value={<Duck wei={j.chain.totalRewardPool} />} />
        <Stat label="committed to contributors" value={<Duck wei={money?.committed} />} />
        <Stat label="paid out" value={<Duck wei={money?.paid} />} />
        <Stat label="pool left" value={<Duck wei={money?.left} />} testId="pool-left" />
        {money?.refund ? <Stat label="refunded" value={<Duck wei={money.refund} />} /> : null}
      </div>

      <Section title={`${metric === "accuracy" ? "Accuracy" : metric} and loss per round`}>
        {closed.length === 0 ? (
          <Empty title="No round has closed yet.">Round 0 closes once {s.minUpdates} useful updates arrived; the curve grows here as rounds close.</Empty>
        ) : null}
        <AccuracyChart metric={metric} points={closed.map((r) => ({ round: r.round, accuracy: r.accuracy!, loss: r.loss! }))} />
      </Section>

      <Section title="Rounds">
        {report.error && !report.data ? <Problem error={report.error} what="the rounds" /> : null}
        {report.data ? (
          <Table label="rounds" head={["round", "status", metric, "loss", "accepted", "refused", "contributors", "model", "duration", "committed"]}>
            {[...report.data.rounds].reverse().map((r) => (
              <tr key={r.round} data-round={r.round} data-status={r.status}>
                <td>{r.round}</td>
                <td>
                  <span className={`badge ${r.status}`}>{r.status}</span>
                </td>
                <td>{quality(metric, r.accuracy)}</td>
                <td>{r.loss === null ? "—" : r.loss.toFixed(4)}</td>
                <td>{r.accepted}</td>
                <td>{r.rejected.length === 0 ? "0" : r.rejected.map((x) => `${x.code}`).join(", ")}</td>
                <td>{r.contributors.length}</td>
                <td>
                  <Hash value={r.modelHash} />
                </td>
                <td>{duration(r.durationMs)}</td>
                <td>
                  <Duck wei={r.committed} />
                </td>
              </tr>
            ))}
          </Table>
        ) : (
          !report.error && <Loading what="the rounds" />
        )}
      </Section>

      <Section title="Rewards per contributor">
        {report.data && report.data.contributors.length === 0 ? <Empty title="No updates yet.">Contributors join with <code>quackmesh contribute --job {j.jobId} --data DIR</code>.</Empty> : null}
        {report.data && report.data.contributors.length > 0 ? (
          <Table label="contributors" head={["contributor", "accepted", "refused", "owed by commitments", "received on chain"]}>
            {report.data.contributors.map((c) => (
              <tr key={c.address} data-contributor={c.address}>
                <td>
                  <Addr value={c.address} />
                </td>
                <td>{c.accepted}</td>
                <td>{c.rejected}</td>
                <td>
                  <Duck wei={c.owed} />
                </td>
                <td>
                  <Duck wei={c.received} />
                </td>
              </tr>
            ))}
          </Table>
        ) : null}
      </Section>

      <Section title="Strategy and settings">
        <dl className="facts">
          <dt>strategy</dt>
          <dd>
            {s.strategy.name}
            {s.strategy.beta !== undefined ? ` β ${s.strategy.beta}` : ""}
            {s.strategy.f !== undefined ? ` f ${s.strategy.f}` : ""}
          </dd>
          <dt>updates to close a round</dt>
          <dd>
            {s.minUpdates} (at the deadline {s.minUpdatesAtDeadline})
          </dd>
          <dt>round deadline</dt>
          <dd>{s.roundDeadlineSeconds} s</dd>
          <dt>{metric} threshold</dt>
          <dd>{quality(metric, s.thresholdBps / 10000)}</dd>
          <dt>round budget</dt>
          <dd>
            <Duck wei={j.chain.roundBudget} />
          </dd>
          <dt>most per contributor and round</dt>
          <dd>
            <Duck wei={j.chain.maxPerContributor} />
          </dd>
          <dt>flat part per update</dt>
          <dd>
            <Duck wei={j.chain.flatPerUpdate} />
          </dd>
          <dt>claim window</dt>
          <dd>{Math.round(j.chain.claimWindow / 60)} min</dd>
          <dt>created in</dt>
          <dd>
            block {j.chain.blockNumber}, tx <Hash value={j.chain.txHash} />
          </dd>
        </dl>
      </Section>

      {machines.length > 0 ? (
        <Section title="Cluster machines">
          <Table label="cluster machines" head={["machine", "provider", "host", "status", "last heartbeat", "shard"]}>
            {machines.map((m) => (
              <tr key={m.machineId}>
                <td>{m.machineId}</td>
                <td>{m.provider.startsWith("0x") ? <Addr value={m.provider} /> : m.provider}</td>
                <td className="mono">
                  {m.host}:{m.port}
                </td>
                <td>
                  <span className={`badge ${m.status}`}>{m.status}</span>
                  {m.error ? <span className="error-text"> {m.error}</span> : null}
                </td>
                <td>{ago(m.lastHeartbeat)}</td>
                <td>{m.shard ?? "—"}</td>
              </tr>
            ))}
          </Table>
        </Section>
      ) : null}
    </>
  );
}
