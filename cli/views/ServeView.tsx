/** The `serve` live view: where it listens, the jobs with their round progress, updates arriving, accuracy. */
import { Box, Text } from "ink";
import { formatAmount } from "../../protocol/chain/units.js";
import { bar, percent, shortAddress, sparkline } from "./charts.js";
import type { EventName, OrchestratorEvents, ServeReady } from "../../orchestrator/index.js";

export type ServeEvent = { [K in EventName]: { event: K } & OrchestratorEvents[K] }[EventName] | ServeReady | { event: "stopped"; signal: string };


interface JobState {
  jobId: number;
  round: number;
  rounds: number;
  inRound: number;
  accepted: number;
  rejected: number;
  accuracy: number[];
  finished: boolean;
}

export interface ServeState {
  ready: ServeReady | null;
  jobs: Record<number, JobState>;
  recent: string[];
  accepted: number;
  rejected: number;
  chain: string;
  stopped: boolean;
}

export const initialServe: ServeState = { ready: null, jobs: {}, recent: [], accepted: 0, rejected: 0, chain: "", stopped: false };

function job(s: ServeState, jobId: number): JobState {
  return s.jobs[jobId] ?? { jobId, round: 0, rounds: 0, inRound: 0, accepted: 0, rejected: 0, accuracy: [], finished: false };
}

function withJob(s: ServeState, jobId: number, patch: (j: JobState) => Partial<JobState>): ServeState {
  const j = job(s, jobId);
  return { ...s, jobs: { ...s.jobs, [jobId]: { ...j, ...patch(j) } } };
}

function remember(s: ServeState, line: string): ServeState {
  return { ...s, recent: [...s.recent, line].slice(-8) };
}

export function reduceServe(s: ServeState, e: ServeEvent): ServeState {
  switch (e.event) {
    case "ready":
      return { ...s, ready: e };
    case "job:activated":
      return remember(withJob(s, e.jobId, () => ({ rounds: e.rounds })), `job ${e.jobId} active: ${e.rounds} rounds, requester ${shortAddress(e.requester)}`);
    case "round:opened":
      return withJob(s, e.jobId, () => ({ round: e.round, inRound: 0 }));
    case "update:accepted":
      return remember(
        { ...withJob(s, e.jobId, (j) => ({ inRound: j.inRound + 1, accepted: j.accepted + 1 })), accepted: s.accepted + 1 },
        `job ${e.jobId} r${e.round}: ${shortAddress(e.contributor)} ${percent(e.accuracyBps / 10000)} (${e.numSamples} samples, ${e.ms} ms)`,
      );
    case "update:rejected":
      return remember(
        { ...(e.jobId > 0 && s.jobs[e.jobId] ? withJob(s, e.jobId, (j) => ({ rejected: j.rejected + 1 })) : s), rejected: s.rejected + 1 },
        `job ${e.jobId} r${e.round}: ${shortAddress(e.contributor)} refused ${e.code}`,
      );
    case "round:closed":
      return remember(withJob(s, e.jobId, (j) => ({ accuracy: [...j.accuracy, e.accuracy] })), `job ${e.jobId} round ${e.round} closed: ${percent(e.accuracy)} with ${e.contributors} updates`);
    case "round:extended":
      return remember(s, `job ${e.jobId} round ${e.round}: too few updates, deadline extended (${e.extensions}×)`);
    case "job:finished":
      return remember(withJob(s, e.jobId, () => ({ finished: true })), `job ${e.jobId} finished: model ${e.modelHash.slice(0, 14)}…`);
    case "chain:polled":
      return { ...s, chain: `${e.source} read to block ${e.toBlock}` };
    case "chain:error":
      return { ...s, chain: `chain unreachable: ${e.error}` };
    case "chain:reset":
      return remember({ ...s, chain: `CHAIN RESET: no more writes. ${e.fix}` }, `chain reset: ${e.reason}`);
    case "stopped":
      return { ...s, stopped: true };
    default:
      return s;
  }
}

/** One plain line per event worth a line (pipes and log files). */
export function serveLine(e: ServeEvent): string | undefined {
  switch (e.event) {
    case "ready":
      return (
        `Orchestrator listening on ${e.url} (API docs: ${e.url}/docs)\n` +
        `  evaluator ${e.evaluator} (key: ${e.keySource})\n` +
        `  chain ${e.network} (id ${e.chainId})\n` +
        Object.entries(e.contracts).map(([k, v]) => `  ${k.padEnd(18)} ${v}`).join("\n") +
        `\n  data ${e.dataDir}` +
        (e.inference ? `\n  inference pays ${e.inference.payout}: ${formatAmount(BigInt(e.inference.pricePerSecond))} DUCK/s, at least ${formatAmount(BigInt(e.inference.minimumFee))} DUCK` : "")
      );
    case "job:activated":
      return `job ${e.jobId} active: ${e.rounds} rounds, requester ${e.requester}`;
    case "update:accepted":
      return `job ${e.jobId} round ${e.round}: update from ${e.contributor} accepted, ${percent(e.accuracyBps / 10000)}`;
    case "update:rejected":
      return `job ${e.jobId} round ${e.round}: update from ${e.contributor} refused (${e.code})`;
    case "round:closed":
      return `job ${e.jobId} round ${e.round} closed: accuracy ${percent(e.accuracy)}, ${e.contributors} updates, model ${e.modelHash}`;
    case "round:extended":
      return `job ${e.jobId} round ${e.round}: deadline extended`;
    case "round:failed":
      return `job ${e.jobId} round ${e.round}: aggregation failed (${e.error}); retrying`;
    case "job:finished":
      return `job ${e.jobId} finished; final model ${e.modelHash}`;
    case "chain:error":
      return `chain: ${e.error}`;
    case "chain:reset":
      return `chain reset: ${e.reason}\n  fix: ${e.fix}`;
    case "stopped":
      return `stopped (${e.signal})`;
    default:
      return undefined;
  }
}

export function ServeView({ state: s }: { state: ServeState }) {
  const jobs = Object.values(s.jobs);
  return (
    <Box flexDirection="column">
      {s.ready ? (
        <Text>
          <Text bold>QuackMesh orchestrator</Text> on <Text color="cyan">{s.ready.url}</Text> · evaluator {s.ready.evaluator} · {s.ready.network} ({s.ready.chainId})
        </Text>
      ) : (
        <Text>starting…</Text>
      )}
      {s.ready ? (
        <Text dimColor>
          {Object.entries(s.ready.contracts)
            .map(([name, address]) => `${name} ${address}`)
            .join(" · ")}{" "}
          · data {s.ready.dataDir} · docs {s.ready.url}/docs
        </Text>
      ) : null}
      <Text>
        updates <Text color="green">{s.accepted} accepted</Text> · <Text color="red">{s.rejected} refused</Text> · <Text dimColor>{s.chain}</Text>
      </Text>
      <Box flexDirection="column" marginTop={1}>
        {jobs.length === 0 ? <Text dimColor>no jobs yet: they start when TrainingJobCreated names an uploaded model</Text> : null}
        {jobs.map((j) => (
          <Text key={j.jobId}>
            job {String(j.jobId).padEnd(4)} {j.finished ? "finished " : `round ${j.round}/0–${j.rounds - 1}`.padEnd(9)}{" "}
            <Text color="cyan">{bar(j.rounds ? (j.finished ? 1 : j.round / j.rounds) : 0, 16)}</Text> {j.inRound} in round · acc{" "}
            <Text color="yellow">{sparkline(j.accuracy, { min: 0, max: 1 })}</Text> {percent(j.accuracy.at(-1))}
          </Text>
        ))}
      </Box>
      <Box flexDirection="column" marginTop={1}>
        {s.recent.map((line, i) => (
          <Text key={i} dimColor>
            {line}
          </Text>
        ))}
      </Box>
      {s.stopped ? <Text>stopped.</Text> : null}
    </Box>
  );
}
