const PREFIX = "code-interpreter.error";
const marker = Symbol.for(PREFIX);

/** The marker of the class whose `code` is `code`: one symbol shared by every installed copy of core. */
const classMarker = (code: string) => Symbol.for(`${PREFIX}.${code}`);

interface ErrorOptions {
  message: string;
  cause?: unknown;
}

/**
 * Base of every error this project throws on purpose. Each class names itself
 * with a static `code`, which becomes its errors' `name` and, as a `Symbol.for`
 * marker on each error, what `isInstance` checks: unlike `instanceof` it
 * works when two copies of core are installed side by side, and unlike the
 * class name it survives minification.
 */
export class CodeInterpreterError extends Error {
  /**
   * What tells this class apart, in every copy of core: its errors' `name`
   * and the key of their marker. Every subclass declares its own.
   */
  static readonly code: string = "CodeInterpreterError";
  readonly [marker] = true;

  constructor({ message, cause }: ErrorOptions) {
    super(message, cause === undefined ? undefined : { cause });
    const type = new.target as typeof CodeInterpreterError;
    this.name = type.code;
    // One marker per class it is an instance of, so a subclass's errors also pass its parents' isInstance.
    for (let klass = type; klass !== CodeInterpreterError && typeof klass?.code === "string"; klass = Object.getPrototypeOf(klass)) {
      (this as unknown as Record<symbol, boolean>)[classMarker(klass.code)] = true;
    }
  }

  /** True for an error of this class (or a subclass) made by any installed copy of core. */
  static isInstance<T extends typeof CodeInterpreterError>(this: T, error: unknown): error is InstanceType<T> {
    if (typeof error !== "object" || error === null || (error as Record<symbol, unknown>)[marker] !== true) return false;
    return this.code === CodeInterpreterError.code || (error as Record<symbol, unknown>)[classMarker(this.code)] === true;
  }
}

/** The backend cannot do this at all (HTTP 501). */
export class NotSupportedError extends CodeInterpreterError {
  static override readonly code: string = "NotSupportedError";
}
/** No session with that id exists, or the id does not name one of ours (HTTP 404). */
export class SessionNotFoundError extends CodeInterpreterError {
  static override readonly code: string = "SessionNotFoundError";
}
/** No stored file with that id (HTTP 404). */
export class FileNotFoundError extends CodeInterpreterError {
  static override readonly code: string = "FileNotFoundError";
}
/** The request is well-formed but not acceptable (HTTP 422). */
export class InvalidRequestError extends CodeInterpreterError {
  static override readonly code: string = "InvalidRequestError";
}
/** A body or file is over its size limit (HTTP 413). */
export class PayloadTooLargeError extends CodeInterpreterError {
  static override readonly code: string = "PayloadTooLargeError";
}
/** The backend is unreachable or out of capacity (HTTP 503). */
export class BackendUnavailableError extends CodeInterpreterError {
  static override readonly code: string = "BackendUnavailableError";
}
/** Too many executions at once; retry later (HTTP 429). */
export class TooManyRequestsError extends CodeInterpreterError {
  static override readonly code: string = "TooManyRequestsError";
  /** Seconds the client should wait, sent as `Retry-After`. */
  readonly retryAfterSeconds: number;

  constructor(options: ErrorOptions & { retryAfterSeconds?: number }) {
    super(options);
    this.retryAfterSeconds = options.retryAfterSeconds ?? 1;
  }
}
