import {
  BackgroundAcceptedSchema,
  CapabilitiesResponseSchema,
  CodeErrorSchema,
  createExecuteRequestSchema,
  createSessionBashRequestSchema,
  createSessionPythonRequestSchema,
  ErrorResponseSchema,
  ExecuteResponseSchema,
  ExecutionResponseSchema,
  FileListResponseSchema,
  FileUploadResponseSchema,
  HealthResponseSchema,
  NetworkAttemptSchema,
  type RequestLimits,
  RichResultSchema,
  SessionBashResponseSchema,
  SessionCreateRequestSchema,
  SessionDetailSchema,
  SessionKeepaliveRequestSchema,
  SessionLifetimeRequestSchema,
  SessionListResponseSchema,
  SessionNetworkRequestSchema,
  SessionPauseResponseSchema,
  SessionPythonResponseSchema,
  SessionResponseSchema,
  SessionResumeResponseSchema,
  SessionSnapshotSchema,
  StreamDisplayEventSchema,
  StreamErrorEventSchema,
  StreamOutputEventSchema,
  StreamResultEventSchema,
} from "@code-interpreter/core";
import { z } from "zod";

/** One answer of an operation: JSON with a schema, or another media type. */
export interface ApiResponse {
  description: string;
  schema?: z.ZodType;
  /** @default "application/json" when `schema` is set */
  mediaType?: string;
  headers?: Record<string, string>;
}

/** One route of the HTTP API, described from the zod schemas the server validates with. */
export interface ApiOperation {
  method: "get" | "post" | "put" | "delete";
  /** Hono's form: `/v1/sessions/:sessionId`; a trailing `*` is the rest of the path. */
  path: string;
  operationId: string;
  summary: string;
  tag: "health" | "execute" | "executions" | "files" | "sessions" | "operations";
  /** Request headers the route reads, with what they do. */
  requestHeaders?: Record<string, string>;
  /** JSON request body schema, or a multipart upload of the field `file`. */
  body?: z.ZodType | "multipart";
  /** The JSON body may be left out (its fields all have defaults). */
  bodyOptional?: boolean;
  /** An example body "try it" starts from. */
  example?: unknown;
  responses: Record<number, ApiResponse>;
}

/** Answer of `GET /health` when the backend cannot run code, or the file store does not answer (each present only when failing). */
export const DegradedHealthResponseSchema = z.object({
  status: z.literal("degraded"),
  version: z.string(),
  backend: z.object({ name: z.string(), ok: z.literal(false), detail: z.string().optional() }).optional(),
  file_store: z.object({ name: z.string(), ok: z.literal(false), detail: z.string().optional() }).optional(),
});

export const SessionFileListResponseSchema = z.object({
  files: z.array(z.object({ path: z.string(), kind: z.literal("file"), size_bytes: z.int() })),
});

/** `background` on the routes that run code. */
const backgroundField = z
  .boolean()
  .default(false)
  .describe(
    "Run in the background: answer 202 `{execution_id, status_url}` at once and collect the answer from GET /v1/executions/{execution_id}. " +
      "`timeout_ms` may then go up to MAX_BACKGROUND_TIMEOUT_MS; the execution ends at its own timeout, not when the client leaves",
  );

/** Named schemas for `components.schemas`, so the document says `$ref` instead of repeating them. */
export function namedSchemas(limits: RequestLimits): Record<string, z.ZodType> {
  return {
    ExecuteRequest: createExecuteRequestSchema(limits).extend({ background: backgroundField }),
    ExecuteResponse: ExecuteResponseSchema,
    StreamOutputEvent: StreamOutputEventSchema,
    StreamDisplayEvent: StreamDisplayEventSchema,
    StreamResultEvent: StreamResultEventSchema,
    RichResult: RichResultSchema,
    CodeError: CodeErrorSchema,
    StreamErrorEvent: StreamErrorEventSchema,
    FileUploadResponse: FileUploadResponseSchema,
    FileListResponse: FileListResponseSchema,
    SessionCreateRequest: SessionCreateRequestSchema,
    SessionResponse: SessionResponseSchema,
    SessionDetail: SessionDetailSchema,
    SessionListResponse: SessionListResponseSchema,
    SessionKeepaliveRequest: SessionKeepaliveRequestSchema,
    SessionSnapshot: SessionSnapshotSchema,
    SessionPauseResponse: SessionPauseResponseSchema,
    SessionResumeResponse: SessionResumeResponseSchema,
    SessionLifetimeRequest: SessionLifetimeRequestSchema,
    SessionBashRequest: createSessionBashRequestSchema(limits).extend({ background: backgroundField }),
    SessionBashResponse: SessionBashResponseSchema,
    SessionNetworkRequest: SessionNetworkRequestSchema,
    NetworkAttempt: NetworkAttemptSchema,
    SessionPythonRequest: createSessionPythonRequestSchema(limits).extend({ background: backgroundField }),
    SessionPythonResponse: SessionPythonResponseSchema,
    SessionFileListResponse: SessionFileListResponseSchema,
    BackgroundAccepted: BackgroundAcceptedSchema,
    ExecutionResponse: ExecutionResponseSchema,
    HealthResponse: HealthResponseSchema,
    CapabilitiesResponse: CapabilitiesResponseSchema,
    DegradedHealthResponse: DegradedHealthResponseSchema,
    Error: ErrorResponseSchema,
  };
}

const error = (description: string): ApiResponse => ({ description, schema: ErrorResponseSchema });
const tooMany: ApiResponse = {
  ...error("MAX_CONCURRENT_EXECUTIONS (or a tenant limit) reached; retry after the given seconds"),
  headers: { "Retry-After": "Seconds to wait before retrying" },
};
const invalid = error("The request is invalid; `detail` names the field");
const invalidOrRuntime = error(
  "The request is invalid (`detail` names the field), or asks for a `runtime` this server does not offer (`detail` names those it does)",
);
const sessionMissing = error("No such session");
const unavailable = error("The backend is unreachable or out of capacity");
const noSessions = error("The backend has no sessions");
const noSnapshots = error("The backend keeps no session snapshots (one built without a file store for them)");
const stream: ApiResponse = {
  description:
    "Server-sent events: `output` events (StreamOutputEvent) while the code runs, a `display` event (StreamDisplayEvent, " +
    "a RichResult) for each result as soon as the code shows it, then exactly one `result` (StreamResultEvent) or `error` (StreamErrorEvent). " +
    "Every event has an `id` (1, 2, …). With an Idempotency-Key the stream is resumable: `X-Execution-Id` names its execution, which outlives " +
    "the client up to its own timeout; GET /v1/executions/{execution_id}/stream with Last-Event-ID continues it.",
  mediaType: "text/event-stream",
  headers: { "X-Execution-Id": "The execution, when the request carried an Idempotency-Key (resumable)" },
};
const accepted: ApiResponse = {
  description: "`background: true`: the execution is recorded and runs; collect it from `status_url`",
  schema: BackgroundAcceptedSchema,
};
const idempotencyKey = {
  "Idempotency-Key":
    "A key (1-255 visible ASCII characters, per tenant) that makes a retry safe: a repeat with the same body within IDEMPOTENCY_TTL_SECONDS gets " +
    "the first answer (header `Idempotent-Replayed: true`) without running anything again, waiting while the first still runs; another body is 422",
};
const executionMissing = error("No such execution (unknown, expired, or another tenant's)");
const binary = (description: string): ApiResponse => ({ description, mediaType: "application/octet-stream" });

/**
 * Every route the server answers. The OpenAPI document, the docs page and the
 * conformance test are all made from this list.
 */
export function apiOperations(limits: RequestLimits): ApiOperation[] {
  const schemas = namedSchemas(limits);
  return [
    {
      method: "get",
      path: "/health",
      operationId: "getHealth",
      summary: "Liveness, the server version, and whether the backend can run code",
      tag: "health",
      responses: {
        200: { description: "The server and its backend are ready", schema: HealthResponseSchema },
        503: {
          description: "The backend cannot run code (`backend.detail` says why) or the file store does not answer (`file_store.detail`)",
          schema: DegradedHealthResponseSchema,
        },
      },
    },
    {
      method: "get",
      path: "/v1/capabilities",
      operationId: "getCapabilities",
      summary: "What this server offers: sandbox runtimes and the default, backend, languages, sessions, optional features, limits",
      tag: "health",
      responses: { 200: { description: "The server's capabilities", schema: CapabilitiesResponseSchema } },
    },
    {
      method: "post",
      path: "/v1/execute",
      operationId: "execute",
      summary: "Run code once in a fresh sandbox (Python by default; `language` bash or javascript)",
      tag: "execute",
      body: schemas.ExecuteRequest,
      example: { code: "print(1 + 1)" },
      requestHeaders: idempotencyKey,
      responses: {
        202: accepted,
        200: {
          description:
            "The code ran (whatever its exit code) or timed out; `results` holds what it displayed (MIME bundles), `error` the exception it raised",
          schema: ExecuteResponseSchema,
        },
        404: error("A file_id in `files` is unknown"),
        413: error("The request body is too large"),
        422: invalidOrRuntime,
        429: tooMany,
        503: unavailable,
      },
    },
    {
      method: "post",
      path: "/v1/execute/stream",
      operationId: "executeStream",
      summary: "Run code once, streaming its output and display events as server-sent events",
      tag: "execute",
      body: schemas.ExecuteRequest,
      example: { code: "print(1 + 1)" },
      requestHeaders: idempotencyKey,
      responses: {
        200: stream,
        404: error("A file_id in `files` is unknown"),
        413: error("Too large"),
        422: invalidOrRuntime,
        429: tooMany,
      },
    },
    {
      method: "post",
      path: "/v1/files",
      operationId: "uploadFile",
      summary: "Upload a file (multipart field `file`)",
      tag: "files",
      body: "multipart",
      responses: {
        201: { description: "Stored", schema: FileUploadResponseSchema },
        413: error("Larger than MAX_FILE_SIZE_MB"),
        422: error("Not a multipart body with the field `file`"),
      },
    },
    {
      method: "get",
      path: "/v1/files",
      operationId: "listFiles",
      summary: "List stored files",
      tag: "files",
      responses: { 200: { description: "The stored files", schema: FileListResponseSchema } },
    },
    {
      method: "get",
      path: "/v1/files/:fileId",
      operationId: "getFile",
      summary: "Download a stored file",
      tag: "files",
      responses: {
        200: { ...binary("The file's bytes"), headers: { "Content-Disposition": 'attachment; filename="…"' } },
        404: error("No such file"),
      },
    },
    {
      method: "delete",
      path: "/v1/files/:fileId",
      operationId: "deleteFile",
      summary: "Delete a stored file",
      tag: "files",
      responses: { 204: { description: "Deleted" }, 404: error("No such file") },
    },
    {
      method: "post",
      path: "/v1/sessions",
      operationId: "createSession",
      summary: "Start a session: a sandbox that keeps its /workspace (and Python state) between commands",
      tag: "sessions",
      body: schemas.SessionCreateRequest,
      example: { ttl_seconds: 600 },
      requestHeaders: idempotencyKey,
      responses: {
        201: { description: "Started", schema: SessionResponseSchema },
        404: error("A file_id in `files` is unknown"),
        422: invalidOrRuntime,
        429: tooMany,
        501: error('The backend has no sessions, or keeps no snapshots (`on_expire: "pause"`)'),
        503: unavailable,
      },
    },
    {
      method: "get",
      path: "/v1/sessions",
      operationId: "listSessions",
      summary: "List live sessions",
      tag: "sessions",
      responses: { 200: { description: "Live sessions", schema: SessionListResponseSchema }, 501: noSessions },
    },
    {
      method: "get",
      path: "/v1/sessions/:sessionId",
      operationId: "getSession",
      summary: "A session's expiry and sandbox runtime",
      tag: "sessions",
      responses: { 200: { description: "The session", schema: SessionDetailSchema }, 404: sessionMissing },
    },
    {
      method: "delete",
      path: "/v1/sessions/:sessionId",
      operationId: "deleteSession",
      summary: "End a session and remove its sandbox",
      tag: "sessions",
      responses: { 204: { description: "Deleted" }, 404: sessionMissing },
    },
    {
      method: "put",
      path: "/v1/sessions/:sessionId/network",
      operationId: "setSessionNetwork",
      summary: "Replace a session's network policy: connections the new one forbids are closed",
      tag: "sessions",
      body: schemas.SessionNetworkRequest,
      example: { allow_out: ["pypi.org", "*.pythonhosted.org"], deny_out: [] },
      responses: {
        200: { description: "The session, with its new policy", schema: SessionDetailSchema },
        404: sessionMissing,
        422: error(
          "The policy is invalid or outside the operator's bounds (`detail` names the entry), the session was made without `network`, or the server offers no egress",
        ),
      },
    },
    {
      method: "post",
      path: "/v1/sessions/:sessionId/pause",
      operationId: "pauseSession",
      summary:
        "Pause a session: its workspace is kept as a signed snapshot in the file store and its sandbox removed (it waits for the command the session runs, never 409; without memory, the kernel's variables are not kept)",
      tag: "sessions",
      responses: {
        200: { description: "Paused (a session already paused answers the same)", schema: SessionPauseResponseSchema },
        404: sessionMissing,
        413: error("The snapshot would be over MAX_SNAPSHOT_MB; the session keeps running"),
        422: error("A session with `network` cannot be paused yet"),
        429: {
          ...error(
            "The tenant keeps TENANT_MAX_SNAPSHOTS paused sessions, or its files and snapshots would pass TENANT_MAX_STORED_MB; the session keeps running",
          ),
          headers: { "Retry-After": "Seconds to wait before retrying" },
        },
        501: noSnapshots,
      },
    },
    {
      method: "post",
      path: "/v1/sessions/:sessionId/resume",
      operationId: "resumeSession",
      summary:
        "Resume a paused session in a fresh sandbox, its workspace restored after its snapshot's signature is checked (any command to a paused session does this first)",
      tag: "sessions",
      body: SessionLifetimeRequestSchema,
      bodyOptional: true,
      example: { ttl_seconds: 600 },
      responses: {
        200: { description: "Running (a running session answers the same)", schema: SessionResumeResponseSchema },
        404: sessionMissing,
        422: error("The snapshot is refused (altered, or signed with another SNAPSHOT_KEY): nothing was restored"),
        501: noSnapshots,
      },
    },
    {
      method: "post",
      path: "/v1/sessions/:sessionId/fork",
      operationId: "forkSession",
      summary: "A new session of the same tenant with a copy of the workspace of a running or paused session",
      tag: "sessions",
      body: SessionLifetimeRequestSchema,
      bodyOptional: true,
      example: { ttl_seconds: 600 },
      responses: {
        201: { description: "The new session", schema: SessionResponseSchema },
        404: sessionMissing,
        413: error("The snapshot would be over MAX_SNAPSHOT_MB"),
        422: error("A session with `network` cannot be forked yet, or the paused session's snapshot is refused"),
        429: tooMany,
        501: noSnapshots,
      },
    },
    {
      method: "post",
      path: "/v1/sessions/:sessionId/keepalive",
      operationId: "keepSessionAlive",
      summary: "Move a session's expiry to now + ttl_seconds",
      tag: "sessions",
      body: schemas.SessionKeepaliveRequest,
      example: { ttl_seconds: 600 },
      responses: { 200: { description: "The new expiry", schema: SessionResponseSchema }, 404: sessionMissing, 422: invalid },
    },
    {
      method: "post",
      path: "/v1/sessions/:sessionId/bash",
      operationId: "runBash",
      summary: "Run `bash -c cmd` in the session's /workspace",
      tag: "sessions",
      body: schemas.SessionBashRequest,
      example: { cmd: "ls -la" },
      requestHeaders: idempotencyKey,
      responses: {
        202: accepted,
        200: { description: "The command ran or timed out", schema: SessionBashResponseSchema },
        404: sessionMissing,
        422: invalid,
        429: tooMany,
      },
    },
    {
      method: "post",
      path: "/v1/sessions/:sessionId/python",
      operationId: "runPython",
      summary: "Run a Python cell in the session's kernel: variables persist between calls",
      tag: "sessions",
      body: schemas.SessionPythonRequest,
      example: { code: "x = 41\nx + 1" },
      requestHeaders: idempotencyKey,
      responses: {
        202: accepted,
        200: {
          description:
            "The cell ran or timed out; `files` holds its matplotlib figures, `results` what it displayed, `error` its exception, `execution_count` its number",
          schema: SessionPythonResponseSchema,
        },
        404: sessionMissing,
        422: invalid,
        429: tooMany,
      },
    },
    {
      method: "post",
      path: "/v1/sessions/:sessionId/python/stream",
      operationId: "runPythonStream",
      summary: "Run a Python cell in the session's kernel, streaming its output",
      tag: "sessions",
      body: schemas.SessionPythonRequest,
      example: { code: "print('hello')" },
      requestHeaders: idempotencyKey,
      responses: { 200: stream, 404: sessionMissing, 422: invalid, 429: tooMany },
    },
    {
      method: "get",
      path: "/v1/sessions/:sessionId/files",
      operationId: "listSessionFiles",
      summary: "List the regular files in a session's /workspace",
      tag: "sessions",
      responses: { 200: { description: "The files", schema: SessionFileListResponseSchema }, 404: sessionMissing },
    },
    {
      method: "get",
      path: "/v1/sessions/:sessionId/files/*",
      operationId: "getSessionFile",
      summary: "Download a file from a session's /workspace (path relative to it)",
      tag: "sessions",
      responses: { 200: binary("The file's bytes"), 404: error("No such session or file"), 422: invalid },
    },
    {
      method: "get",
      path: "/v1/executions/:executionId",
      operationId: "getExecution",
      summary: "A background (or resumable) execution's status, and its answer once done",
      tag: "executions",
      responses: { 200: { description: "The execution", schema: ExecutionResponseSchema }, 404: executionMissing },
    },
    {
      method: "delete",
      path: "/v1/executions/:executionId",
      operationId: "deleteExecution",
      summary: "Cancel a running execution (it ends `cancelled`), or forget a finished one",
      tag: "executions",
      responses: { 204: { description: "Cancelled or forgotten" }, 404: executionMissing },
    },
    {
      method: "get",
      path: "/v1/executions/:executionId/stream",
      operationId: "streamExecution",
      summary: "An execution's events from the start (or after Last-Event-ID), then live until its result or error",
      tag: "executions",
      requestHeaders: {
        "Last-Event-ID": "The id of the last event received: the stream continues after it, with no gap and no duplicate",
      },
      responses: {
        200: { ...stream, headers: { "X-Execution-Id": "The execution" } },
        404: executionMissing,
        422: error("Last-Event-ID is not an event id"),
      },
    },
    {
      method: "get",
      path: "/metrics",
      operationId: "getMetrics",
      summary: "Prometheus metrics",
      tag: "operations",
      responses: { 200: { description: "Prometheus text exposition format", mediaType: "text/plain" } },
    },
  ];
}
