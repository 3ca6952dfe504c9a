/** Ctrl-C and `kill` for long-running commands, so each can close what it opened. */

const STOP_SIGNALS = ["SIGINT", "SIGTERM"] as const;

/**
 * Run `stop` on the first SIGINT or SIGTERM. The handlers remove themselves first, so a second
 * signal ends the process the usual way. Returns a function that removes them.
 */
export function onStopSignal(stop: (signal: NodeJS.Signals) => void): () => void {
  const off = () => {
    for (const s of STOP_SIGNALS) process.off(s, handler);
  };
  const handler = (signal: NodeJS.Signals) => {
    off();
    stop(signal);
  };
  for (const s of STOP_SIGNALS) process.on(s, handler);
  return off;
}

/** Resolve on the first SIGINT or SIGTERM; while waiting, those signals no longer end the process. */
export function waitForSignal(): { promise: Promise<NodeJS.Signals>; dispose(): void } {
  let onSignal: (s: NodeJS.Signals) => void = () => {};
  const promise = new Promise<NodeJS.Signals>((resolve) => (onSignal = resolve));
  for (const s of STOP_SIGNALS) process.on(s, onSignal);
  return {
    promise,
    dispose: () => {
      for (const s of STOP_SIGNALS) process.removeListener(s, onSignal);
    },
  };
}
