/**
 * The demo as an ordered list of steps. Each step reads what earlier steps put in the context,
 * adds its own part and returns a one-line summary. New parts of the system join the demo by
 * adding a step here; the runner, the views and --json pick it up unchanged.
 *
 * The compute marketplace joins after "data": 3 `quackmesh provide` processes list their
 * machines (market.ts), then a short `job create --cluster 3` job trains on them and the rentals
 * end early for a refund (cluster.ts); both steps say "skipped" with --no-market.
 */
import { dataStep, deployStep, fundStep, jobStep, orchestratorStep, startChainStep } from "./setup.js";
import { clusterStep } from "./cluster.js";
import { providersStep } from "./market.js";
import { finishStep, trainStep } from "./training.js";
import type { DemoContext } from "./types.js";

export interface DemoStep {
  id: string;
  title: string;
  run(ctx: DemoContext): Promise<string>;
}

export const DEMO_STEPS: readonly DemoStep[] = [
  { id: "chain", title: "Start a local chain", run: startChainStep },
  { id: "deploy", title: "Deploy the contracts", run: deployStep },
  { id: "orchestrator", title: "Start the orchestrator", run: orchestratorStep },
  { id: "fund", title: "Fund the requester and contributors", run: fundStep },
  { id: "data", title: "Split MNIST across contributors", run: dataStep },
  { id: "providers", title: "Start 3 compute providers", run: providersStep },
  { id: "cluster", title: "Rent the 3 machines for a cluster job, end early for a refund", run: clusterStep },
  { id: "job", title: "Create the training job", run: jobStep },
  { id: "train", title: "Train: contributors, rounds, rewards", run: trainStep },
  { id: "finish", title: "Finish the job and refund the rest", run: finishStep },
];
