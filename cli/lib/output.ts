import { EXIT, isQuackError } from "../../protocol/errors.js";

/** Where a command writes: plain text for people, one JSON object per line with --json. */
export interface Output {
  json: boolean;
  /** A result or event. In JSON mode it is printed as one line; otherwise `human` renders it. */
  emit(value: Record<string, unknown>, human?: string): void;
  info(text: string): void;
}

export function makeOutput(json: boolean, stdout: NodeJS.WritableStream = process.stdout, stderr: NodeJS.WritableStream = process.stderr): Output {
  return {
    json,
    emit(value, human) {
      if (json) stdout.write(JSON.stringify(value, bigintReplacer) + "\n");
      else stdout.write((human ?? JSON.stringify(value, bigintReplacer, 2)) + "\n");
    },
    info(text) {
      if (!json) stderr.write(text + "\n");
    },
  };
}

export function bigintReplacer(_key: string, value: unknown): unknown {
  return typeof value === "bigint" ? value.toString() : value;
}

/**
 * Render any thrown value for the user; returns the process exit code. A QuackError (NativeError
 * included) keeps its code, message, fix and the exit code of its row in ERROR_CODES; anything
 * else is INTERNAL, exit 2.
 */
export function reportError(err: unknown, json: boolean, stderr: NodeJS.WritableStream = process.stderr): number {
  if (isQuackError(err)) {
    if (json) stderr.write(JSON.stringify(err.toJSON(), bigintReplacer) + "\n");
    else stderr.write(`error: ${err.message}\n` + (err.fix ? `  fix: ${err.fix}\n` : ""));
    return err.exitCode;
  }
  const message = err instanceof Error ? err.message : String(err);
  if (json) stderr.write(JSON.stringify({ error: "INTERNAL", message }) + "\n");
  else stderr.write(`error: ${message}\n`);
  return EXIT.INTERNAL;
}
