import {
  BackendUnavailableError,
  CodeInterpreterError,
  FileNotFoundError,
  InvalidRequestError,
  NotSupportedError,
  PayloadTooLargeError,
  SessionNotFoundError,
  TooManyRequestsError,
} from "@code-interpreter/core";
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { Env } from "../env.js";
import type { Logger } from "../observability/logger.js";

const STATUS: [check: (error: unknown) => boolean, status: ContentfulStatusCode][] = [
  [(e) => SessionNotFoundError.isInstance(e), 404],
  [(e) => FileNotFoundError.isInstance(e), 404],
  [(e) => PayloadTooLargeError.isInstance(e), 413],
  [(e) => InvalidRequestError.isInstance(e), 422],
  [(e) => TooManyRequestsError.isInstance(e), 429],
  [(e) => NotSupportedError.isInstance(e), 501],
  [(e) => BackendUnavailableError.isInstance(e), 503],
];

/**
 * The server's own storage failing under a request (the file store's or a
 * sandbox's state directory): out of capacity (503) with what to do, never the
 * system error's text (it names paths).
 */
const STORAGE_ERRORS: Record<string, string> = {
  ENOSPC: "The server's storage is full (ENOSPC); free space under FILE_STORAGE_DIR or the state directories",
  EDQUOT: "The server's storage quota is used up (EDQUOT); free space under FILE_STORAGE_DIR or the state directories",
  EROFS: "The server's storage is read-only (EROFS); give FILE_STORAGE_DIR and the state directories a writable filesystem",
  EMFILE: "The server has too many files open (EMFILE); retry later, or raise its open-file limit",
  ENFILE: "The system has too many files open (ENFILE); retry later",
};

function storageError(error: unknown): string | undefined {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  return typeof code === "string" ? STORAGE_ERRORS[code] : undefined;
}

/** HTTP status of an error this project throws; 500 for anything else. */
export function statusOf(error: unknown): ContentfulStatusCode {
  if (error instanceof HTTPException) return error.status as ContentfulStatusCode;
  if (!CodeInterpreterError.isInstance(error) && storageError(error)) return 503;
  return STATUS.find(([check]) => check(error))?.[1] ?? 500;
}

/**
 * What a client is told about an error: its status and a message a person can
 * act on. Only errors this project throws on purpose show their message; any
 * other (a TypeError, a raw engine error) is "Internal server error", so no
 * internal detail leaks. Answers and stream `error` events both use it.
 */
export function describeError(error: unknown): { status: ContentfulStatusCode; detail: string } {
  const status = statusOf(error);
  if (status === 500) return { status, detail: "Internal server error" };
  const detail =
    CodeInterpreterError.isInstance(error) || error instanceof HTTPException ? error.message : (storageError(error) ?? "Request failed");
  return { status, detail };
}

/** Status of a request whose client hung up before the answer (nginx's): not a server error. */
export const CLIENT_CLOSED_REQUEST = 499;

/**
 * Whether the client went away before its request was answered (mid-upload,
 * mid-execution): what failed then is the client's connection, not the server.
 */
export function clientClosedRequest(c: Context<Env>): boolean {
  if (c.req.raw.signal.aborted) return true;
  const incoming = (c.env as { incoming?: { aborted?: boolean; complete?: boolean; socket?: { destroyed?: boolean } | null } } | undefined)
    ?.incoming;
  return incoming?.aborted === true || (incoming?.complete === false && incoming.socket?.destroyed === true);
}

/**
 * describeError, and a log line for what needs an operator (a bug, the
 * server's storage failing): the same for an answer and a stream's `error` event.
 */
export function reportError(logger: Logger, c: Context<Env>, error: unknown): { status: ContentfulStatusCode; detail: string } {
  const described = describeError(error);
  if (described.status === 500) logger.error({ method: c.req.method, path: c.req.path, err: error }, "unhandled error");
  else if (described.status === 503 && !CodeInterpreterError.isInstance(error))
    logger.error({ method: c.req.method, path: c.req.path, err: error }, "storage failed");
  return described;
}

/** The one place errors become responses: `{"detail": ...}`, never a stack trace. */
export function createErrorHandler(logger: Logger) {
  return function errorHandler(error: Error, c: Context<Env>): Response {
    // No one reads this answer; the request log shows 499 and no error is logged or counted.
    if (clientClosedRequest(c)) return c.json({ detail: "Client closed the request" }, CLIENT_CLOSED_REQUEST as ContentfulStatusCode);
    const { status, detail } = reportError(logger, c, error);
    if (TooManyRequestsError.isInstance(error)) c.header("Retry-After", String(error.retryAfterSeconds));
    return c.json({ detail }, status);
  };
}
