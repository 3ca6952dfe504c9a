/** The demo's options, the events it reports while it runs, and its result. */
import type { Contract, JsonRpcProvider, Wallet } from "ethers";
import type { OrchestratorClient } from "../../../orchestrator/client.js";
import type { RunningServer } from "../../../orchestrator/index.js";
import type { SplitSummary } from "../data/splitMnist.js";
import type { ModelSpec } from "../../../native/types.js";
import type { Contracts } from "../../../protocol/chain/contracts.js";
import type { Deployment } from "../../../protocol/chain/deployments.js";
import type { LocalChain } from "../chain/localChain.js";
import type { CreatedJob } from "../job/create.js";
import type { DemoProvider } from "./market.js";
import type { DemoModel } from "./model.js";
import type { CliChild } from "./processes.js";

export interface DemoOptions {
  contributors: number;
  rounds: number;
  /** Keep the chain's deployment, the orchestrator's data and the data split in this folder (default: a temp folder, removed). */
  keep?: string;
  /** Dirichlet concentration of the non-IID split. */
  alpha: number;
  epochs: number;
  lr: number;
  batch: number;
  momentum: number;
  /** Least validation accuracy an update must reach to be paid (fraction). */
  threshold: number;
  /** The job's model: "mlp" (MLP 784-hidden-10, the default) or "cnn" (a small CNN; see model.ts). */
  model: DemoModel;
  /** Hidden units of the MLP. */
  hidden: number;
  /** Standardize the pixels in the model spec (MNIST's mean 0.1307 and std 0.3081). */
  normalize: boolean;
  /** DUCK. */
  reward: string;
  /** DUCK a round shares among its contributors by contribution. */
  roundBudget: string;
  /** Requester's validation samples, held out of MNIST train. */
  validation: number;
  /**
   * A round closes at this age with the updates it has (at least one): an update refused as
   * below the threshold then delays the round instead of stalling it.
   */
  roundDeadlineSeconds: number;
  /** Fail when no round closes for this long. */
  stallMs: number;
  /** Start 3 providers, list the market, rent and end with a refund (false: --no-market). */
  market: boolean;
  /**
   * With --keep-open: called with the result once the demo is done, before anything is stopped;
   * the chain, orchestrator and dashboard stay up until the promise settles (Ctrl-C).
   */
  keepOpen?: (result: DemoResult, dashboardUrl: string) => Promise<void>;
  signal?: AbortSignal;
}

export const DEFAULT_DEMO: Omit<DemoOptions, "signal" | "keep" | "keepOpen"> = {
  contributors: 3,
  rounds: 10,
  alpha: 1,
  epochs: 1,
  lr: 0.05,
  batch: 64,
  momentum: 0.9,
  threshold: 0.7,
  model: "mlp",
  hidden: 128,
  normalize: true,
  reward: "1000",
  roundBudget: "30",
  validation: 2000,
  roundDeadlineSeconds: 30,
  stallMs: 120_000,
  market: true,
};

export type DemoEvent =
  | { event: "step"; id: string; title: string; status: "started" | "done"; ms?: number; detail?: string }
  | { event: "contributor"; name: string; address: string; update: Record<string, unknown> }
  | { event: "round"; round: number; validationAccuracy: number; testAccuracy: number; contributors: number }
  | { event: "log"; source: string; text: string };

/** The demo's answer; --json prints exactly this as its last line. DUCK amounts as decimal strings. */
export interface DemoResult {
  rounds: Array<{ round: number; testAccuracy: number }>;
  contributors: Array<{ address: string; paid: string }>;
  refund: string;
  finalTestAccuracy: number;
  wallSeconds: number;
}

export interface DemoContributor {
  name: string;
  account: string;
  address: string;
  dir: string;
  child?: CliChild;
  duckBefore?: bigint;
}

/** What the steps share while the demo runs. Each step fills in its part. */
export interface DemoContext {
  opts: DemoOptions;
  workDir: string;
  started: number;
  emit(e: DemoEvent): void;
  /** Run at the end, last added first, whatever happened. */
  onCleanup(fn: () => Promise<void> | void): void;
  chain?: LocalChain;
  provider?: JsonRpcProvider;
  deployment?: Deployment;
  /** Environment for child processes: the deployment folder and a home of their own. */
  childEnv: NodeJS.ProcessEnv;
  requester?: Wallet;
  contracts?: Contracts;
  server?: RunningServer;
  client?: OrchestratorClient;
  split?: SplitSummary;
  spec?: ModelSpec;
  job?: CreatedJob;
  contributors: DemoContributor[];
  rounds: Array<{ round: number; validationAccuracy: number; testAccuracy: number; contributors: number }>;
  /** Resolves once every closed round seen so far has been evaluated on the test set. */
  evaluated?: () => Promise<void>;
  refund?: bigint;
  pool?: Contract;
  /** The `quackmesh provide` processes of the market steps. */
  providers?: DemoProvider[];
}
