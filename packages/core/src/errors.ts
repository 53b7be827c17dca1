const marker = Symbol.for("code-interpreter.error");

interface ErrorOptions {
  message: string;
  cause?: unknown;
}

/**
 * Base of every error this project throws on purpose. Checks go through the
 * `Symbol.for` marker and the error's name rather than `instanceof`, so they
 * work when two copies of core are installed side by side.
 */
export class CodeInterpreterError extends Error {
  readonly [marker] = true;

  constructor({ message, cause }: ErrorOptions) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = new.target.name;
  }

  /** True for an error of this class made by any installed copy of core. */
  static isInstance<T extends typeof CodeInterpreterError>(this: T, error: unknown): error is InstanceType<T> {
    if (typeof error !== "object" || error === null || (error as Record<symbol, unknown>)[marker] !== true) {
      return false;
    }
    return this.name === "CodeInterpreterError" || (error as Error).name === this.name;
  }
}

/** The backend cannot do this at all (HTTP 501). */
export class NotSupportedError extends CodeInterpreterError {}
/** No session with that id exists, or the id does not name one of ours (HTTP 404). */
export class SessionNotFoundError extends CodeInterpreterError {}
/** No stored file with that id (HTTP 404). */
export class FileNotFoundError extends CodeInterpreterError {}
/** The request is well-formed but not acceptable (HTTP 422). */
export class InvalidRequestError extends CodeInterpreterError {}
/** A body or file is over its size limit (HTTP 413). */
export class PayloadTooLargeError extends CodeInterpreterError {}
/** The backend is unreachable or out of capacity (HTTP 503). */
export class BackendUnavailableError extends CodeInterpreterError {}
/** Too many executions at once; retry later (HTTP 429). */
export class TooManyRequestsError extends CodeInterpreterError {
  /** Seconds the client should wait, sent as `Retry-After`. */
  readonly retryAfterSeconds: number;

  constructor(options: ErrorOptions & { retryAfterSeconds?: number }) {
    super(options);
    this.retryAfterSeconds = options.retryAfterSeconds ?? 1;
  }
}
