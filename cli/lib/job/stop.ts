/**
 * Ctrl-C and `kill`: run `stop` on the first SIGINT or SIGTERM so a command can close what it
 * opened. The handlers remove themselves first, so a second signal ends the process the usual
 * way. Returns a function that removes them.
 */
export function onStopSignal(stop: (signal: NodeJS.Signals) => void): () => void {
  const off = () => {
    process.off("SIGINT", handler);
    process.off("SIGTERM", handler);
  };
  const handler = (signal: NodeJS.Signals) => {
    off();
    stop(signal);
  };
  process.on("SIGINT", handler);
  process.on("SIGTERM", handler);
  return off;
}
