/** `job watch`: round, accuracy per round as bars and a sparkline, updates, rewards paid. */
import { Box, Text } from "ink";
import { formatAmount } from "../../protocol/chain/units.js";
import type { WatchEvent } from "../lib/job/watch.js";
import type { QualityName } from "../../protocol/quality.js";
import { bar, percent, quality, shortAddress, sparkline } from "./charts.js";

export interface JobWatchState {
  jobId: number;
  status: "waiting" | "active" | "finished";
  currentRound: number;
  rounds: number;
  accepted: number;
  rejected: number;
  thresholdBps: number;
  /** What the rounds' accuracy is: accuracy, or a regression's R². */
  metric: QualityName;
  accuracy: Array<{ round: number; accuracy: number }>;
  paid: Record<string, bigint>;
  totalPaid: bigint;
  note: string | null;
  /** A stalled or waiting job's verdict from the orchestrator, with its fix. */
  progress: { state: string; message: string; fix: string | null } | null;
}

export function initialJobWatch(jobId: number): JobWatchState {
  return { jobId, status: "waiting", currentRound: 0, rounds: 0, accepted: 0, rejected: 0, thresholdBps: 0, metric: "accuracy", accuracy: [], paid: {}, totalPaid: 0n, note: null, progress: null };
}

export function reduceJobWatch(s: JobWatchState, e: WatchEvent): JobWatchState {
  switch (e.event) {
    case "status":
      return { ...s, status: e.status, currentRound: e.currentRound, rounds: e.rounds, accepted: e.accepted, rejected: e.rejected, thresholdBps: e.thresholdBps, metric: e.metric, note: null };
    case "round":
      return { ...s, accuracy: [...s.accuracy, { round: e.round, accuracy: e.accuracy }] };
    case "reward":
      return { ...s, paid: { ...s.paid, [e.contributor]: (s.paid[e.contributor] ?? 0n) + e.amount }, totalPaid: s.totalPaid + e.amount };
    case "waiting":
      return { ...s, note: `waiting: ${e.reason}` };
    case "progress":
      return { ...s, progress: e.state === "running" || e.state === "finished" ? null : { state: e.state, message: e.message, fix: e.fix } };
    case "finished":
      return { ...s, status: "finished", note: null };
  }
}

export function jobWatchLine(e: WatchEvent): string | undefined {
  switch (e.event) {
    case "status":
      return `job ${e.jobId}: ${e.status === "finished" ? `finished after round ${e.rounds - 1}` : `active, round ${e.currentRound} open`} (rounds 0–${e.rounds - 1}), updates accepted ${e.accepted}, rejected ${e.rejected}`;
    case "round":
      return `round ${e.round}: global ${e.metric} ${quality(e.metric, e.accuracy)} (${e.contributors} updates)`;
    case "reward":
      return `paid ${formatAmount(e.amount)} DUCK to ${e.contributor} (tx ${e.txHash})`;
    case "waiting":
      return `waiting ${Math.round(e.delayMs / 100) / 10} s: ${e.reason}`;
    case "progress":
      return `job ${e.jobId} ${e.state}${e.reason ? ` (${e.reason})` : ""}: ${e.message}${e.fix ? `\n  fix: ${e.fix}` : ""}`;
    case "finished":
      return `job ${e.jobId} finished after ${e.rounds} rounds: ${e.metric} ${quality(e.metric, e.finalAccuracy)}, ${formatAmount(e.totalPaid)} DUCK paid; final model ${e.modelHash}`;
  }
}

export function JobWatchView({ state: s }: { state: JobWatchState }) {
  const accs = s.accuracy.map((a) => a.accuracy);
  // Rounds count from 0 everywhere (CLI, JSON, API, chain).
  const shownRound = s.status === "finished" ? s.rounds - 1 : s.currentRound;
  return (
    <Box flexDirection="column">
      <Text>
        <Text bold>Job {s.jobId}</Text> · {s.status} · round {shownRound} of 0–{s.rounds ? s.rounds - 1 : "?"} · threshold {s.metric === "accuracy" ? percent(s.thresholdBps / 10000, 0) : `R² ${quality(s.metric, s.thresholdBps / 10000)}`}
      </Text>
      <Text>
        updates <Text color="green">{s.accepted} accepted</Text> · <Text color="red">{s.rejected} rejected</Text>
      </Text>
      <Box flexDirection="column" marginTop={1}>
        <Text>
          {s.metric} <Text color="cyan">{sparkline(accs, { min: 0, max: 1 })}</Text> {quality(s.metric, accs.at(-1))}
        </Text>
        {s.accuracy.map((a) => (
          <Text key={a.round}>
            {`r${a.round}`.padStart(4)} <Text color="cyan">{bar(a.accuracy, 30)}</Text> {quality(s.metric, a.accuracy)}
          </Text>
        ))}
      </Box>
      <Box flexDirection="column" marginTop={1}>
        <Text>rewards paid: {formatAmount(s.totalPaid)} DUCK</Text>
        {Object.entries(s.paid).map(([who, amount]) => (
          <Text key={who}>
            {"  "}
            {shortAddress(who)} {formatAmount(amount)} DUCK
          </Text>
        ))}
      </Box>
      {s.progress ? (
        <Text color={s.progress.state === "stalled" ? "red" : "yellow"}>
          {s.progress.state}: {s.progress.message}
          {s.progress.fix ? `\n  fix: ${s.progress.fix}` : ""}
        </Text>
      ) : null}
      {s.note ? <Text dimColor>{s.note}</Text> : null}
    </Box>
  );
}
