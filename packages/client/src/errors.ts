import { errorFamily } from "@code-interpreter/core/errors";

interface ClientErrorOptions {
  message: string;
  /** HTTP status of the answer; 0 when there was none (unreachable, timed out). */
  status: number;
  /** The server's `detail`, or a message a person can act on when the server said nothing. */
  detail?: string;
  cause?: unknown;
}

/**
 * Base of every error the client throws. Each class names itself with a
 * static `code`, which becomes its errors' `name` and the key of its marker,
 * what `isInstance` checks: the same marking as core's errors (core's
 * `errorFamily`), under the client's own prefix, so it works across two
 * installed copies of the client and survives minification (a bundled web app).
 */
export class CodeInterpreterClientError extends Error {
  /** What tells this class apart, in every copy of the client: its errors' `name` and the key of their marker. Every subclass declares its own. */
  static readonly code: string = "CodeInterpreterClientError";
  /** HTTP status of the answer; 0 when no answer came. */
  readonly status: number;
  /** The server's `{"detail": …}` message (or the client's own, when no answer came). */
  readonly detail: string;

  constructor({ message, status, detail, cause }: ClientErrorOptions) {
    super(message, cause === undefined ? undefined : { cause });
    family.mark(this, new.target as typeof CodeInterpreterClientError);
    this.status = status;
    this.detail = detail ?? message;
  }

  /** True for an error of this class (or a subclass) made by any installed copy of the client. */
  static isInstance<T extends typeof CodeInterpreterClientError>(this: T, error: unknown): error is InstanceType<T> {
    return family.isInstance(error, this);
  }
}

const family = errorFamily("code-interpreter.client-error", CodeInterpreterClientError);

/** 404: no such file, session, or session file. */
export class NotFoundError extends CodeInterpreterClientError {
  static override readonly code: string = "NotFoundError";
}

/** 422: the request was refused; `detail` names the field. */
export class InvalidRequestError extends CodeInterpreterClientError {
  static override readonly code: string = "InvalidRequestError";
}

/** 429: the server runs MAX_CONCURRENT_EXECUTIONS already; retry after `retryAfterSeconds`. */
export class RateLimitedError extends CodeInterpreterClientError {
  static override readonly code: string = "RateLimitedError";
  /** From the `Retry-After` header; 1 when the server sent none. */
  readonly retryAfterSeconds: number;

  constructor(options: ClientErrorOptions & { retryAfterSeconds?: number }) {
    super(options);
    this.retryAfterSeconds = options.retryAfterSeconds ?? 1;
  }
}

/** No complete answer within the client's timeout (`timeoutMs`); status 0. */
export class TimeoutError extends CodeInterpreterClientError {
  static override readonly code: string = "TimeoutError";
}

/** The server could not be reached at all (refused, DNS, reset); status 0. */
export class ConnectionError extends CodeInterpreterClientError {
  static override readonly code: string = "ConnectionError";
}

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
