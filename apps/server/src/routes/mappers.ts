import type {
  CodeErrorJson,
  CommandResult,
  ExecuteResponse,
  NetworkAttemptJson,
  NetworkPolicy,
  RichResultJson,
  SessionCommandResponse,
  SessionDetail,
  SessionInfo,
  SessionPythonRequest,
  SessionPythonResponse,
  SessionResponse,
  SessionSnapshotJson,
} from "@code-interpreter/core";
import type { SavedOutputs } from "@code-interpreter/files";

// Between the API's JSON and the backend's types, for every route: the one place that decides the
// fields of an answer and their order (onyx's first, ours after). Pure: what needs the store
// (saving outputs, storing rich results) is done by the caller and handed in.

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

/** What a request asks of the egress proxy (`network`, `secrets`), as the backend takes it: nothing when it asked for nothing. */
export function networkOptions(body: { network?: NetworkPolicy; secrets?: string[] }) {
  return {
    ...(body.network ? { network: body.network } : {}),
    ...(body.secrets ? { secrets: body.secrets } : {}),
  };
}

/** `network` of an answer: what the code tried, only when the request (or its session) had `network`, so other answers stay onyx's. */
export function networkJson(result: CommandResult): { network?: NetworkAttemptJson[] } {
  if (!result.network) return {};
  return {
    network: result.network.map(({ host, port, allowed, reason }) =>
      reason === undefined ? { host, port, allowed } : { host, port, allowed, reason },
    ),
  };
}

/** A session as onyx's routes show it (create, keepalive). */
export function sessionJson(session: SessionInfo): SessionResponse {
  return { session_id: session.id, expires_at: session.expiresAt };
}

/** A session as our own routes show it (list, get): also its runtime (`fallback` for a backend that does not say), and its network policy when it has one. */
export function sessionDetailJson(session: SessionInfo, fallback: SessionDetail["runtime"]): SessionDetail {
  const network = session.network && { allow_out: [...session.network.allow_out], deny_out: [...session.network.deny_out] };
  return {
    ...sessionJson(session),
    runtime: session.runtime ?? fallback,
    ...(network ? { network } : {}),
    state: session.state ?? "running",
    memory: session.memory ?? false,
    ...(session.snapshot ? { snapshot: snapshotJson(session.snapshot) } : {}),
  };
}

/** A pause's snapshot as answers show it. */
export function snapshotJson(snapshot: NonNullable<SessionInfo["snapshot"]>): SessionSnapshotJson {
  return { bytes: snapshot.bytes, memory: snapshot.memory, created_at: snapshot.createdAt };
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

/** An answer's rich fields, as the rich-result mapper made them. */
export interface RichFields {
  results: RichResultJson[];
  error: CodeErrorJson | null;
}

/**
 * The answer to an execution (and its stream's `result`): commandJson, the
 * files it made (already saved) with `skipped_files` only when one was left
 * out (so every other answer stays onyx's exactly), then its rich `results` and `error`.
 */
export function executionJson(result: CommandResult, saved: SavedOutputs, rich: RichFields): ExecuteResponse {
  const { files, skipped_files } = saved;
  return {
    ...commandJson(result),
    ...(skipped_files.length ? { files, skipped_files } : { files }),
    ...rich,
    ...networkJson(result),
  };
}

/** Session python's answer: an execution's, and the cell's number in the session's kernel. */
export function sessionPythonJson(result: CommandResult, saved: SavedOutputs, rich: RichFields): SessionPythonResponse {
  const { network, ...answer } = executionJson(result, saved, rich);
  return { ...answer, execution_count: result.executionCount ?? null, ...(network ? { network } : {}) };
}
