/**
 * The demo as an ordered list of steps. Each step reads what earlier steps put in the context,
 * adds its own part and returns a one-line summary. New parts of the system join the demo by
 * adding a step here; the runner, the views and --json pick it up unchanged.
 *
 * Hook for the compute marketplace: once `provide`/`rent` land, insert after "fund" a step
 * "providers" (start 3 `quackmesh provide` processes on dev accounts provider1-3, wait for their
 * listings) and a step "rent" (rent them for the job; the orchestrator's cluster manager takes
 * them as workers), e.g. `{ id: "providers", title: "List 3 compute providers", run: providersStep }`.
 */
import { dataStep, deployStep, fundStep, jobStep, orchestratorStep, startChainStep } from "./setup.js";
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
  // marketplace: "providers" and "rent" go here (see above)
  { id: "data", title: "Split MNIST across contributors", run: dataStep },
  { id: "job", title: "Create the training job", run: jobStep },
  { id: "train", title: "Train: contributors, rounds, rewards", run: trainStep },
  { id: "finish", title: "Finish the job and refund the rest", run: finishStep },
];
