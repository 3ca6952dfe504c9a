/** `contribute`: the round, local loss and accuracy, the attested accuracy, rewards and balance. */
import { Box, Text } from "ink";
import { formatAmount } from "../../protocol/chain/units.js";
import type { ContributorEvent } from "../lib/contribute/events.js";
import type { JobTerms } from "../lib/contribute/terms.js";
import type { QualityName } from "../../protocol/quality.js";
import { quality, qualityThreshold, sparkline } from "./charts.js";

export interface ContributeState {
  jobId: number;
  address: string;
  terms: JobTerms | null;
  round: number | null;
  phase: string;
  samples: number;
  holdout: number;
  loss: number | null;
  accuracy: number | null;
  holdoutAccuracy: number | null;
  /** What the accuracy figures are: accuracy, or a regression's R². */
  metric: QualityName;
  attested: Array<{ round: number; accuracyBps: number }>;
  totalReward: bigint;
  balance: bigint | null;
  log: string[];
}

export function initialContribute(jobId: number, address: string): ContributeState {
  return { jobId, address, terms: null, round: null, phase: "starting", samples: 0, holdout: 0, loss: null, accuracy: null, holdoutAccuracy: null, metric: "accuracy", attested: [], totalReward: 0n, balance: null, log: [] };
}

const LOG_LINES = 6;

export function reduceContribute(s: ContributeState, e: ContributorEvent): ContributeState {
  const line = contributeLine(e);
  const next: ContributeState = { ...s, log: line ? [...s.log, line].slice(-LOG_LINES) : s.log };
  switch (e.event) {
    case "terms":
      return { ...next, terms: e.terms, phase: "checked the job on chain" };
    case "started":
      return { ...next, samples: e.samples, holdout: e.holdout, metric: e.metric, phase: "waiting for the global model" };
    case "model":
      return { ...next, round: e.round, phase: "training" };
    case "trained":
      return { ...next, loss: e.loss, accuracy: e.accuracy, holdoutAccuracy: e.holdoutAccuracy, metric: e.metric, phase: "sending the update" };
    case "attested":
      return { ...next, attested: [...s.attested, { round: e.round, accuracyBps: e.accuracyBps }], metric: e.metric, phase: "claiming the reward" };
    case "submitted":
      return { ...next, totalReward: e.totalReward, balance: e.balance, phase: "waiting for the next round" };
    case "rewarded":
      return { ...next, totalReward: e.totalReward, phase: "waiting for the next round" };
    case "refused":
    case "skipped":
      return { ...next, phase: "waiting for the next round" };
    case "waiting":
      return { ...next, phase: `waiting: ${e.reason}` };
    case "resumed":
      return { ...next, phase: e.what === "resend" ? "resending an unanswered update" : "claiming an earlier attestation" };
    case "finished":
      return { ...next, totalReward: e.totalReward, phase: `done (${e.reason})` };
  }
}

export function contributeLine(e: ContributorEvent): string | undefined {
  switch (e.event) {
    case "terms":
      return `job ${e.jobId}: evaluator ${e.terms.evaluator}, threshold ${e.terms.accuracyThresholdBps / 100} %, up to ${formatAmount(e.terms.roundBudget)} DUCK a round shared by contribution, ${formatAmount(e.terms.remaining)} DUCK left, ${e.terms.rounds} rounds`;
    case "started":
      return `training on ${e.samples} samples (${e.holdout} held out) as ${e.address}${e.stateFile ? `; state in ${e.stateFile}` : ""}`;
    case "resumed":
      return `round ${e.round}: ${e.what === "resend" ? "resending the update sent before the restart" : "claiming the attestation received before the restart"}`;
    case "waiting":
      return `waiting ${Math.round(e.delayMs / 100) / 10} s: ${e.reason}`;
    case "model":
      return undefined;
    case "trained":
      return `round ${e.round}: trained in ${e.ms} ms, loss ${e.loss.toFixed(4)}, ${e.metric} ${quality(e.metric, e.accuracy)}, held-out ${quality(e.metric, e.holdoutAccuracy)}`;
    case "attested":
      return `round ${e.round}: evaluator attested ${e.metric === "accuracy" ? "" : "R² "}${quality(e.metric, e.accuracyBps / 10000)}`;
    case "refused":
      return `round ${e.round}: refused by the ${e.stage} (${e.code}): ${e.message}`;
    case "submitted":
      return `round ${e.round}: receipt on chain, flat part ${formatAmount(e.reward)} DUCK (total ${formatAmount(e.totalReward)}${e.balance === null ? "" : `, balance ${formatAmount(e.balance)}`}; tx ${e.txHash})`;
    case "skipped":
      return `round ${e.round}: skipped, ${e.reason}`;
    case "rewarded":
      return e.amount > 0n
        ? `round ${e.round}: contribution ${e.score.toExponential(2)} → claimed ${formatAmount(e.amount)} DUCK (total ${formatAmount(e.totalReward)}${e.txHash ? `; tx ${e.txHash}` : ""})`
        : `round ${e.round}: contribution ${e.score.toExponential(2)}${e.excluded ? ` (${e.excluded})` : ""}: nothing owed`;
    case "finished":
      return `finished (${e.reason}): ${e.rounds} rounds, ${formatAmount(e.totalReward)} DUCK received`;
  }
}

export function ContributeView({ state: s }: { state: ContributeState }) {
  const attested = s.attested.map((a) => a.accuracyBps / 10000);
  return (
    <Box flexDirection="column">
      <Text>
        <Text bold>Contributing to job {s.jobId}</Text> as {s.address}
      </Text>
      {s.terms ? (
        <Text dimColor>
          threshold {qualityThreshold(s.metric, s.terms.accuracyThresholdBps)} · up to {formatAmount(s.terms.roundBudget)} DUCK a round by contribution · {s.terms.rounds} rounds · evaluator {s.terms.evaluator}
        </Text>
      ) : null}
      <Box marginTop={1} flexDirection="column">
        <Text>
          round {s.round === null ? "–" : s.round}
          {s.terms ? ` of 0–${s.terms.rounds - 1}` : ""} · <Text color="yellow">{s.phase}</Text>
        </Text>
        <Text>
          local loss {s.loss === null ? "–" : s.loss.toFixed(4)} · {s.metric} {quality(s.metric, s.accuracy)} · held-out {quality(s.metric, s.holdoutAccuracy)} ({s.samples} + {s.holdout} samples)
        </Text>
        <Text>
          attested <Text color="cyan">{sparkline(attested, { min: 0, max: 1 })}</Text> {quality(s.metric, attested.at(-1))}
        </Text>
        <Text>
          rewards <Text color="green">{formatAmount(s.totalReward)} DUCK</Text>
          {s.balance === null ? "" : ` · balance ${formatAmount(s.balance)} DUCK`}
        </Text>
      </Box>
      <Box marginTop={1} flexDirection="column">
        {s.log.map((l, i) => (
          <Text key={i} dimColor>
            {l}
          </Text>
        ))}
      </Box>
    </Box>
  );
}
