/**
 * The orchestrator's public entry: what the CLI (and anything else outside this folder) may use.
 * Everything else under orchestrator/ is internal; the import-rule test holds the CLI to this file
 * and to client.ts.
 */
export { startServe, type ServeHandle, type ServeOptions, type ServeReady } from "./serve.js";
export { startServer, type RunningServer } from "./server.js";
export { OrchestratorEmitter, type EventName, type OrchestratorEvents } from "./events.js";
export { formatServeBench, formatSoak, runServeBench, runSoak } from "./bench.js";
export { replayRound, type ReplayInput, type ReplayResult } from "./rounds/replay.js";
export { SshSession, type ExecHandle, type SshTarget } from "./cluster/sshClient.js";
export { KnownHosts } from "./cluster/knownHosts.js";
