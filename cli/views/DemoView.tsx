/** `demo`: the steps, every contributor's round and rewards, and the global model's test accuracy per round. */
import { Box, Text } from "ink";
import { formatAmount } from "../../protocol/chain/units.js";
import type { ContributorEvent } from "../lib/contribute/events.js";
import type { DemoEvent, DemoResult } from "../lib/demo/types.js";
import { bar, percent, shortAddress, sparkline } from "./charts.js";
import { contributeLine } from "./ContributeView.js";

interface ContributorRow {
  name: string;
  address: string;
  round: number | null;
  phase: string;
  holdoutAccuracy: number | null;
  attestedBps: number | null;
  paid: bigint;
}

export interface DemoState {
  steps: Array<{ id: string; title: string; status: "started" | "done"; detail?: string; ms?: number }>;
  contributors: Record<string, ContributorRow>;
  rounds: Array<{ round: number; testAccuracy: number; validationAccuracy: number }>;
  log: string[];
}

export const initialDemo: DemoState = { steps: [], contributors: {}, rounds: [], log: [] };

const BIGINTS = new Set(["reward", "totalReward", "balance", "totalRewardPool", "roundBudget", "maxPerContributor", "flatPerUpdate", "remaining", "outstanding", "amount"]);

/** A contributor's JSON line back to its event (amounts were written as decimal strings). */
export function reviveContributorEvent(update: Record<string, unknown>): ContributorEvent {
  return JSON.parse(JSON.stringify(update), (key, value) => (BIGINTS.has(key) && typeof value === "string" && /^\d+$/.test(value) ? BigInt(value) : value)) as ContributorEvent;
}

export function reduceDemo(s: DemoState, e: DemoEvent): DemoState {
  switch (e.event) {
    case "step": {
      const steps = s.steps.filter((x) => x.id !== e.id);
      return { ...s, steps: [...steps, { id: e.id, title: e.title, status: e.status, detail: e.detail, ms: e.ms }] };
    }
    case "round":
      return { ...s, rounds: [...s.rounds, e].sort((a, b) => a.round - b.round) };
    case "log":
      return { ...s, log: [...s.log, `[${e.source}] ${e.text}`].slice(-4) };
    case "contributor": {
      const u = reviveContributorEvent(e.update);
      const row: ContributorRow = s.contributors[e.name] ?? { name: e.name, address: e.address, round: null, phase: "starting", holdoutAccuracy: null, attestedBps: null, paid: 0n };
      const next = { ...row };
      if (u.event === "model") Object.assign(next, { round: u.round, phase: "training" });
      if (u.event === "trained") Object.assign(next, { holdoutAccuracy: u.holdoutAccuracy, phase: "sending" });
      if (u.event === "attested") Object.assign(next, { attestedBps: u.accuracyBps, phase: "claiming" });
      if (u.event === "submitted") Object.assign(next, { paid: u.totalReward, phase: "waiting" });
      if (u.event === "refused") next.phase = `refused ${u.code}`;
      if (u.event === "finished") next.phase = "done";
      return { ...s, contributors: { ...s.contributors, [e.name]: next } };
    }
  }
}

export function demoLine(e: DemoEvent): string | undefined {
  switch (e.event) {
    case "step":
      return e.status === "started" ? `▶ ${e.title}…` : `✓ ${e.title} (${((e.ms ?? 0) / 1000).toFixed(1)} s): ${e.detail ?? ""}`;
    case "round":
      return `  round ${e.round}: global model ${percent(e.testAccuracy)} on MNIST test (${percent(e.validationAccuracy)} on validation, ${e.contributors} updates)`;
    case "log":
      return `  [${e.source}] ${e.text}`;
    case "contributor": {
      const text = contributeLine(reviveContributorEvent(e.update));
      return text === undefined ? undefined : `  [${e.name}] ${text}`;
    }
  }
}

export function demoSummary(r: DemoResult): string {
  return [
    "",
    "Global model on the MNIST test set, per round:",
    ...r.rounds.map((x) => `  round ${String(x.round).padStart(2)}  ${bar(x.testAccuracy, 30)} ${percent(x.testAccuracy)}`),
    "DUCK paid:",
    ...r.contributors.map((c) => `  ${c.address}  ${c.paid} DUCK`),
    `Refund to the requester: ${r.refund} DUCK`,
    `Final test accuracy ${percent(r.finalTestAccuracy)} in ${r.wallSeconds} s.`,
  ].join("\n");
}

export function DemoView({ state: s }: { state: DemoState }) {
  const tests = s.rounds.map((r) => r.testAccuracy);
  return (
    <Box flexDirection="column">
      <Text bold>QuackMesh demo</Text>
      {s.steps.map((step) => (
        <Text key={step.id}>
          <Text color={step.status === "done" ? "green" : "yellow"}>{step.status === "done" ? "✓" : "…"}</Text> {step.title}
          <Text dimColor>{step.detail ? `  ${step.detail}` : ""}</Text>
        </Text>
      ))}
      {Object.keys(s.contributors).length > 0 ? (
        <Box flexDirection="column" marginTop={1}>
          <Text dimColor>{"contributor     address        round  held-out  attested  paid DUCK  "}</Text>
          {Object.values(s.contributors).sort((a, b) => a.name.localeCompare(b.name, undefined, { numeric: true })).map((c) => (
            <Text key={c.name}>
              {c.name.padEnd(15)} {shortAddress(c.address).padEnd(14)} {String(c.round === null ? "–" : c.round + 1).padStart(5)}  {percent(c.holdoutAccuracy, 1).padStart(8)}  {percent(c.attestedBps === null ? null : c.attestedBps / 10000, 1).padStart(8)}  {formatAmount(c.paid).padStart(9)}  <Text dimColor>{c.phase}</Text>
            </Text>
          ))}
        </Box>
      ) : null}
      {s.rounds.length > 0 ? (
        <Box flexDirection="column" marginTop={1}>
          <Text>
            test accuracy <Text color="cyan">{sparkline(tests, { min: 0.8, max: 1 })}</Text> {percent(tests.at(-1))}
          </Text>
          {s.rounds.map((r) => (
            <Text key={r.round}>
              {`r${r.round}`.padStart(4)} <Text color="cyan">{bar(r.testAccuracy, 30)}</Text> {percent(r.testAccuracy)}
            </Text>
          ))}
        </Box>
      ) : null}
      {s.log.map((l, i) => (
        <Text key={i} dimColor>
          {l}
        </Text>
      ))}
    </Box>
  );
}
