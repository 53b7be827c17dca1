const marker = Symbol.for("code-interpreter.client-error");

interface ClientErrorOptions {
  message: string;
  /** HTTP status of the answer; 0 when there was none (unreachable, timed out). */
  status: number;
  /** The server's `detail`, or a message a person can act on when the server said nothing. */
  detail?: string;
  cause?: unknown;
}

/**
 * Base of every error the client throws. Checks go through the `Symbol.for`
 * marker and the error's name rather than `instanceof`, so they work when two
 * copies of this package are installed side by side.
 */
export class CodeInterpreterClientError extends Error {
  readonly [marker] = true;
  /** HTTP status of the answer; 0 when no answer came. */
  readonly status: number;
  /** The server's `{"detail": …}` message (or the client's own, when no answer came). */
  readonly detail: string;

  constructor({ message, status, detail, cause }: ClientErrorOptions) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = new.target.name;
    this.status = status;
    this.detail = detail ?? message;
  }

  /** True for an error of this class made by any installed copy of the client. */
  static isInstance<T extends typeof CodeInterpreterClientError>(this: T, error: unknown): error is InstanceType<T> {
    if (typeof error !== "object" || error === null || (error as Record<symbol, unknown>)[marker] !== true) {
      return false;
    }
    return this.name === "CodeInterpreterClientError" || (error as Error).name === this.name;
  }
}

/** 404: no such file, session, or session file. */
export class NotFoundError extends CodeInterpreterClientError {}

/** 422: the request was refused; `detail` names the field. */
export class InvalidRequestError extends CodeInterpreterClientError {}

/** 429: the server runs MAX_CONCURRENT_EXECUTIONS already; retry after `retryAfterSeconds`. */
export class RateLimitedError extends CodeInterpreterClientError {
  /** From the `Retry-After` header; 1 when the server sent none. */
  readonly retryAfterSeconds: number;

  constructor(options: ClientErrorOptions & { retryAfterSeconds?: number }) {
    super(options);
    this.retryAfterSeconds = options.retryAfterSeconds ?? 1;
  }
}

/** No complete answer within the client's timeout (`timeoutMs`); status 0. */
export class TimeoutError extends CodeInterpreterClientError {}

/** The server could not be reached at all (refused, DNS, reset); status 0. */
export class ConnectionError extends CodeInterpreterClientError {}

/** The error an error answer stands for: a subclass where one fits, else the base class. */
export function errorForResponse(status: number, detail: string, retryAfter: string | null): CodeInterpreterClientError {
  const message = `${status}: ${detail}`;
  if (status === 404) return new NotFoundError({ message, status, detail });
  if (status === 422) return new InvalidRequestError({ message, status, detail });
  if (status === 429) {
    const seconds = Number(retryAfter);
    return new RateLimitedError({
      message,
      status,
      detail,
      ...(retryAfter && Number.isFinite(seconds) && seconds >= 0 ? { retryAfterSeconds: seconds } : {}),
    });
  }
  return new CodeInterpreterClientError({ message, status, detail });
}
