/**
 * One error type for the whole product: a short message, a stable code, an optional fix the
 * user can apply, and the underlying cause. The CLI's single error handler renders these.
 */
export class QuackError extends Error {
  readonly code: string;
  readonly fix?: string;
  readonly details?: Record<string, unknown>;

  constructor(code: string, message: string, opts: { fix?: string; details?: Record<string, unknown>; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = "QuackError";
    this.code = code;
    this.fix = opts.fix;
    this.details = opts.details;
  }

  toJSON(): Record<string, unknown> {
    return { error: this.code, message: this.message, fix: this.fix, details: this.details };
  }
}

export function isQuackError(e: unknown): e is QuackError {
  return e instanceof QuackError;
}

/** Raised by commands that belong to the product but are not built yet. */
export function notYetAvailable(command: string): QuackError {
  return new QuackError("NOT_AVAILABLE", `'quackmesh ${command}' is not available in this release yet.`, {
    fix: "See README.md, section 'Status', for what works today.",
  });
}
