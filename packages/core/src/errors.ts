/** What an error class must have to join a family: its static `code`. */
export interface CodedErrorClass {
  readonly code: string;
}

/** The marks of one family of error classes (see {@link errorFamily}). */
export interface ErrorFamily {
  /** Names `error` for its class and marks it with the family's marker and one marker per class from `type` up to `base`. */
  mark(error: Error, type: CodedErrorClass): void;
  /** True when `error` carries the family's marker and, unless `type` is the base, the marker of `type`'s code. */
  isInstance(error: unknown, type: CodedErrorClass): boolean;
}

/**
 * Lets a family of error classes, from `base` down, be told apart by
 * `Symbol.for` markers keyed by `prefix` and each class's static `code`:
 * unlike `instanceof` this works when two copies of the defining package are
 * installed side by side, and unlike the class name it survives minification.
 * Core's errors and the client's HTTP errors are two families (two prefixes)
 * marked the same way. It imports nothing, so the client can use it
 * (`@code-interpreter/core/errors`) without loading the rest of core.
 */
export function errorFamily(prefix: string, base: CodedErrorClass): ErrorFamily {
  const marker = Symbol.for(prefix);
  const classMarker = (code: string) => Symbol.for(`${prefix}.${code}`);
  return {
    mark(error, type) {
      const marks = error as unknown as Record<symbol, boolean>;
      marks[marker] = true;
      error.name = type.code;
      // One marker per class it is an instance of, so a subclass's errors also pass its parents' isInstance.
      for (let klass = type; klass !== base && typeof klass?.code === "string"; klass = Object.getPrototypeOf(klass)) {
        marks[classMarker(klass.code)] = true;
      }
    },
    isInstance(error, type) {
      if (typeof error !== "object" || error === null || (error as Record<symbol, unknown>)[marker] !== true) return false;
      return type.code === base.code || (error as Record<symbol, unknown>)[classMarker(type.code)] === true;
    },
  };
}

interface ErrorOptions {
  message: string;
  cause?: unknown;
}

/**
 * Base of every error this project throws on purpose. Each class names itself
 * with a static `code`, which becomes its errors' `name` and the key of its
 * marker, what `isInstance` checks (see {@link errorFamily}).
 */
export class CodeInterpreterError extends Error {
  /**
   * What tells this class apart, in every copy of core: its errors' `name`
   * and the key of their marker. Every subclass declares its own.
   */
  static readonly code: string = "CodeInterpreterError";

  constructor({ message, cause }: ErrorOptions) {
    super(message, cause === undefined ? undefined : { cause });
    family.mark(this, new.target as typeof CodeInterpreterError);
  }

  /** True for an error of this class (or a subclass) made by any installed copy of core. */
  static isInstance<T extends typeof CodeInterpreterError>(this: T, error: unknown): error is InstanceType<T> {
    return family.isInstance(error, this);
  }
}

const family = errorFamily("code-interpreter.error", CodeInterpreterError);

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
