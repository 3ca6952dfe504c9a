/**
 * Rendering a stream of events: an ink view on a terminal, else one JSON object per line
 * (--json) or one plain line per event (a pipe or a log file). The same events feed all three.
 */
import type { ComponentType } from "react";
import { render, type Instance } from "ink";
import { bigintReplacer } from "../lib/output.js";

export interface EventSink<E> {
  push(event: E): void;
  /** Unmount the view (the last frame stays on screen) and flush. */
  close(): Promise<void>;
}

export interface SinkOptions<S, E> {
  json: boolean;
  view: ComponentType<{ state: S }>;
  reduce: (state: S, event: E) => S;
  initial: S;
  /** One plain line per event for a non-terminal, or undefined to print nothing for it. */
  line: (event: E) => string | undefined;
  stdout?: NodeJS.WriteStream;
  /** Force the ink view on or off (default: stdout is a terminal and not --json). */
  live?: boolean;
  /** Off a terminal without --json: plain lines (default) or JSON lines. */
  piped?: "lines" | "json";
}

export function eventSink<S, E extends object>(opts: SinkOptions<S, E>): EventSink<E> {
  const stdout = opts.stdout ?? process.stdout;
  const live = opts.live ?? Boolean(stdout.isTTY);
  if (opts.json || (!live && opts.piped === "json")) {
    return {
      push: (e) => void stdout.write(JSON.stringify(e, bigintReplacer) + "\n"),
      close: async () => {},
    };
  }
  if (!live) {
    return {
      push: (e) => {
        const text = opts.line(e);
        if (text !== undefined) stdout.write(text + "\n");
      },
      close: async () => {},
    };
  }
  const View = opts.view;
  let state = opts.initial;
  const instance: Instance = render(<View state={state} />, { stdout, exitOnCtrlC: false, patchConsole: false });
  let closed = false;
  return {
    push(e) {
      if (closed) return;
      state = opts.reduce(state, e);
      instance.rerender(<View state={state} />);
    },
    async close() {
      if (closed) return;
      closed = true;
      instance.unmount();
      await instance.waitUntilExit().catch(() => undefined);
    },
  };
}
