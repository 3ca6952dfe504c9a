/** Resolve on the first SIGINT or SIGTERM; while waiting, those signals no longer end the process. */
export function waitForSignal(): { promise: Promise<NodeJS.Signals>; dispose(): void } {
  let onSignal: (s: NodeJS.Signals) => void = () => {};
  const promise = new Promise<NodeJS.Signals>((resolve) => (onSignal = resolve));
  for (const s of ["SIGINT", "SIGTERM"] as const) process.on(s, onSignal);
  return {
    promise,
    dispose: () => {
      for (const s of ["SIGINT", "SIGTERM"] as const) process.removeListener(s, onSignal);
    },
  };
}
