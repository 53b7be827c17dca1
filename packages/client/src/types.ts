import type {
  BackgroundAccepted,
  createExecuteRequestSchema,
  createSessionBashRequestSchema,
  createSessionPythonRequestSchema,
  ExecutionResponse,
  SessionCreateRequestSchema,
  SessionKeepaliveRequestSchema,
  SessionLifetimeRequestSchema,
  SessionNetworkRequestSchema,
  StreamDisplayEvent,
  StreamErrorEvent,
  StreamOutputEvent,
  StreamResultEvent,
} from "@code-interpreter/core";

/** What a zod schema accepts (fields with defaults are optional), read from core's schemas without importing zod. */
type Input<Schema> = Schema extends { _zod: { input: infer Accepted } } ? Accepted : never;

/**
 * `POST /v1/execute` body: `code`, and optionally `stdin`, `timeout_ms`, `last_line_interactive`, `files`, `language`, `runtime`,
 * `network` (`{allow_out, deny_out}`: the sandbox's way out through the server's egress proxy) and `secrets` (names the operator configured).
 */
export type ExecuteRequest = Input<ReturnType<typeof createExecuteRequestSchema>>;
/** `POST /v1/sessions` body: optional `ttl_seconds`, `files`, `language`, `runtime`, `network` and `secrets`. */
export type CreateSessionRequest = Input<typeof SessionCreateRequestSchema>;
/** `PUT /v1/sessions/{id}/network` body, and a request's `network`: `allow_out` (domains, `*.` wildcards, IPs, CIDRs) and `deny_out` (IPs, CIDRs). */
export type NetworkPolicy = Input<typeof SessionNetworkRequestSchema>;
/** `POST /v1/sessions/{id}/keepalive` body: optional `ttl_seconds`. */
export type KeepaliveRequest = Input<typeof SessionKeepaliveRequestSchema>;
/** `POST /v1/sessions/{id}/resume` and `…/fork` body: optional `ttl_seconds` (the default TTL when left out). */
export type SessionLifetimeRequest = Input<typeof SessionLifetimeRequestSchema>;
/** `POST /v1/sessions/{id}/bash` body: `cmd` and optionally `timeout_ms`. */
export type BashRequest = Input<ReturnType<typeof createSessionBashRequestSchema>>;
/** `POST /v1/sessions/{id}/python` body: execute's, without `files`. */
export type PythonRequest = Input<ReturnType<typeof createSessionPythonRequestSchema>>;

/** One event of a streamed execution: `output` chunks and a `display` per rich result, then exactly one `result` or `error`. */
export type StreamEvent = (
  | { type: "output"; data: StreamOutputEvent }
  | { type: "display"; data: StreamDisplayEvent }
  | { type: "result"; data: StreamResultEvent }
  | { type: "error"; data: StreamErrorEvent }
) & {
  /** The event's id (1, 2, …): what a reconnect sends as Last-Event-ID. */
  id?: string;
};

/** `202` of a background execution: `execution_id`, and `status_url` (`/v1/executions/{execution_id}`). */
export type ExecutionAccepted = BackgroundAccepted;

/** `GET /v1/executions/{execution_id}`: its status, and when completed the answer the foreground route gives. */
export type Execution = ExecutionResponse;

/** One entry of `GET /v1/sessions/{id}/files`. */
export interface SessionFile {
  path: string;
  kind: "file";
  size_bytes: number;
}

/** A stored file's bytes and the name it was uploaded under. */
export interface DownloadedFile {
  /** From `Content-Disposition`; undefined when the server sent none. */
  filename: string | undefined;
  content: Uint8Array;
}

/** Options every call takes. */
export interface CallOptions {
  /** Cancels the call (and, for streams, the execution on the server); the call rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Milliseconds for the whole call, body included; 0 for none. @default the client's `timeoutMs` */
  timeoutMs?: number;
  /**
   * Sent as `Idempotency-Key` on the calls that run code or create sessions: a retry with the same key and
   * body gets the first answer instead of running again. Streams make one up when none is given, so they can resume.
   */
  idempotencyKey?: string;
}

/** Options of the stream calls. */
export interface StreamOptions extends CallOptions {
  /** Reconnects after a dropped connection before giving up (each resumes after the last event seen). @default 5 */
  maxReconnects?: number;
}

/** Options of `streamExecution`. */
export interface ExecutionStreamOptions extends StreamOptions {
  /** Resume after this event id (Last-Event-ID); from the start when left out. */
  lastEventId?: string;
}

/** Options of `uploadFile`. */
export interface UploadOptions extends CallOptions {
  /** Called as the body is sent, with the bytes of the file sent so far and its size. */
  onProgress?: (sentBytes: number, totalBytes: number) => void;
}
