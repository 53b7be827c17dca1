import type {
  CommandResult,
  ExecuteResponse,
  SessionCommandResponse,
  SessionInfo,
  SessionPythonRequest,
  SessionPythonResponse,
  SessionResponse,
} from "@code-interpreter/core";
import { OutputSaver } from "@code-interpreter/files";
import type { Context } from "hono";
import { accessOf } from "../auth/authenticate.js";
import type { ServerContext } from "../context.js";
import type { Env } from "../env.js";
import { richResultMapper } from "./rich-results.js";

// Between the API's JSON and the backend's types, for every route: the one place that decides the
// fields of an answer and their order (onyx's first, ours after).

/** The code to run as the backend takes it, from the fields execute's and session python's bodies share. */
export function codeOptions(body: SessionPythonRequest) {
  return {
    code: body.code,
    language: body.language,
    stdin: body.stdin,
    timeoutMs: body.timeout_ms,
    lastLineInteractive: body.last_line_interactive,
  };
}

/** A session as the API shows it. */
export function sessionJson(session: SessionInfo): SessionResponse {
  return { session_id: session.id, expires_at: session.expiresAt };
}

/** Session bash's whole answer, and how every answer to code that ran starts. */
export function commandJson(result: CommandResult): SessionCommandResponse {
  return {
    stdout: result.stdout,
    stderr: result.stderr,
    exit_code: result.exitCode,
    timed_out: result.timedOut,
    duration_ms: result.durationMs,
  };
}

/**
 * The answer to an execution (and its stream's `result`): commandJson, the
 * files it made (saved to the store) with `skipped_files` only when one was
 * left out (so every other answer stays onyx's exactly), then its rich
 * `results` and `error`. `rich` is the request's mapper when a stream has
 * already stored some of the results; `outputs` the saver that has already
 * stored the files that came as the snapshot arrived.
 */
export async function executionJson(
  server: ServerContext,
  c: Context<Env>,
  result: CommandResult,
  rich = richResultMapper(server, c),
  outputs = new OutputSaver(server.store, accessOf(c).owner),
): Promise<ExecuteResponse> {
  const { files, skipped_files } = await outputs.finish(result.files ?? [], result.skippedFiles);
  return {
    ...commandJson(result),
    ...(skipped_files.length ? { files, skipped_files } : { files }),
    ...(await rich.fields(result)),
  };
}

/** Session python's answer: an execution's, and the cell's number in the session's kernel. */
export async function sessionPythonJson(
  server: ServerContext,
  c: Context<Env>,
  result: CommandResult,
  rich = richResultMapper(server, c),
): Promise<SessionPythonResponse> {
  return { ...(await executionJson(server, c, result, rich)), execution_count: result.executionCount ?? null };
}
