import type {
  CapabilitiesResponse,
  ExecuteResponse,
  FileListResponse,
  FileMetadata,
  FileUploadResponse,
  HealthResponse,
  SessionBashResponse,
  SessionDetail,
  SessionListResponse,
  SessionPauseResponse,
  SessionPythonResponse,
  SessionResponse,
  SessionResumeResponse,
} from "@code-interpreter/core";
import { CodeInterpreterClientError, ConnectionError, errorForResponse, TimeoutError } from "./errors.js";
import { multipartBody } from "./multipart.js";
import { readExecutionEvents } from "./sse.js";
import type {
  BashRequest,
  CallOptions,
  CreateSessionRequest,
  DownloadedFile,
  ExecuteRequest,
  Execution,
  ExecutionAccepted,
  ExecutionStreamOptions,
  KeepaliveRequest,
  NetworkPolicy,
  PythonRequest,
  SessionFile,
  SessionLifetimeRequest,
  StreamEvent,
  StreamOptions,
  UploadOptions,
} from "./types.js";

/** How the client reaches the server. */
export interface ClientOptions {
  /** The server's URL; a path prefix (behind a proxy) is kept. @default http://127.0.0.1:8000 */
  baseUrl?: string;
  /** Sent as `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
  /** Milliseconds per call, body included; 0 for none. Long executions need more than their `timeout_ms`. @default 120000 */
  timeoutMs?: number;
  /** The fetch to use (a proxy agent, a test double). @default globalThis.fetch */
  fetch?: typeof globalThis.fetch;
  /** Headers sent with every request. */
  headers?: Record<string, string>;
}

/** Default per-call timeout: above the server's default MAX_EXEC_TIMEOUT_MS of 60 s, with room for sandbox start-up. */
export const DEFAULT_TIMEOUT_MS = 120_000;

type Body = { json: unknown } | { raw: NonNullable<RequestInit["body"]>; headers: Record<string, string> } | undefined;

/**
 * A typed client for every route of the code-interpreter HTTP API. Errors
 * are `CodeInterpreterClientError`s carrying the HTTP status and the
 * server's `detail`; the timeout covers the whole call, body included.
 */
export class CodeInterpreterClient {
  readonly baseUrl: string;
  readonly #options: ClientOptions;
  readonly #fetch: typeof globalThis.fetch;

  constructor(options: ClientOptions = {}) {
    this.#options = options;
    this.baseUrl = (options.baseUrl ?? "http://127.0.0.1:8000").replace(/\/+$/, "");
    this.#fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  }

  /** `GET /health`: `{status: "ok", version}`. */
  health(options?: CallOptions): Promise<HealthResponse> {
    return this.#json("GET", "/health", undefined, options);
  }

  /**
   * `GET /v1/capabilities`: the sandbox runtimes the server offers and its default, the backend,
   * languages, sessions, optional features and limits.
   */
  capabilities(options?: CallOptions): Promise<CapabilitiesResponse> {
    return this.#json("GET", "/v1/capabilities", undefined, options);
  }

  /** `POST /v1/execute`: runs Python in a fresh sandbox (on `runtime`, or the server's default) and answers when it is done. */
  execute(request: ExecuteRequest, options?: CallOptions): Promise<ExecuteResponse> {
    return this.#json("POST", "/v1/execute", { json: request }, options);
  }

  /**
   * `POST /v1/execute/stream`: the same, as `output` and `display` events while it runs,
   * then one `result` or `error`. Leaving the loop early stops the execution. The
   * stream is resumable (it sends an Idempotency-Key): after a dropped connection it
   * reconnects by itself (`maxReconnects`) and continues after the last event seen.
   */
  executeStream(request: ExecuteRequest, options?: StreamOptions): AsyncGenerator<StreamEvent> {
    return this.#stream("/v1/execute/stream", request, options);
  }

  /** `POST /v1/execute` with `background: true`: answers at once with the execution to collect later. */
  submitExecution(request: ExecuteRequest, options?: CallOptions): Promise<ExecutionAccepted> {
    return this.#json("POST", "/v1/execute", { json: { ...request, background: true } }, options);
  }

  /** `POST /v1/sessions/{id}/bash` with `background: true`. */
  submitBash(sessionId: string, request: BashRequest, options?: CallOptions): Promise<ExecutionAccepted> {
    return this.#json("POST", `${sessionPath(sessionId)}/bash`, { json: { ...request, background: true } }, options);
  }

  /** `POST /v1/sessions/{id}/python` with `background: true`. */
  submitPython(sessionId: string, request: PythonRequest, options?: CallOptions): Promise<ExecutionAccepted> {
    return this.#json("POST", `${sessionPath(sessionId)}/python`, { json: { ...request, background: true } }, options);
  }

  /** `GET /v1/executions/{id}`: status, and the answer once done. */
  getExecution(executionId: string, options?: CallOptions): Promise<Execution> {
    return this.#json("GET", executionPath(executionId), undefined, options);
  }

  /** `DELETE /v1/executions/{id}`: cancels a running execution, forgets a finished one. */
  deleteExecution(executionId: string, options?: CallOptions): Promise<void> {
    return this.#call("DELETE", executionPath(executionId), undefined, options, discard);
  }

  /** Polls `getExecution` until the execution is no longer running. */
  async waitForExecution(executionId: string, options: CallOptions & { pollIntervalMs?: number } = {}): Promise<Execution> {
    for (let delay = 250; ; delay = Math.min(delay * 2, options.pollIntervalMs ?? 2000)) {
      const execution = await this.getExecution(executionId, options);
      if (execution.status !== "running") return execution;
      await sleep(delay, options.signal);
    }
  }

  /**
   * `GET /v1/executions/{id}/stream`: its events from the start (or after
   * `lastEventId`), then live until the result or error; reconnects by
   * itself after a dropped connection. Leaving the loop does not cancel the execution.
   */
  async *streamExecution(executionId: string, options: ExecutionStreamOptions = {}): AsyncGenerator<StreamEvent> {
    yield* this.#resume(executionId, options.lastEventId, options, false);
  }

  /** `POST /v1/files`: stores a file (multipart field `file`); 413 past MAX_FILE_SIZE_MB. */
  async uploadFile(content: Blob | Uint8Array | string, filename: string, options: UploadOptions = {}): Promise<FileUploadResponse> {
    const file = content instanceof Blob ? content : new Blob([typeof content === "string" ? content : new Uint8Array(content)]);
    let body: Body;
    if (options.onProgress) {
      const multipart = multipartBody(file, filename, options.onProgress);
      body = {
        raw: multipart.body,
        headers: { "content-type": multipart.contentType, "content-length": String(multipart.contentLength) },
      };
    } else {
      const form = new FormData();
      form.append("file", file, filename);
      body = { raw: form, headers: {} };
    }
    return this.#json("POST", "/v1/files", body, options);
  }

  /** `GET /v1/files`: every stored file. */
  async listFiles(options?: CallOptions): Promise<FileMetadata[]> {
    return (await this.#json<FileListResponse>("GET", "/v1/files", undefined, options)).files;
  }

  /** `GET /v1/files/{id}`: a stored file's bytes and name. */
  async downloadFile(fileId: string, options?: CallOptions): Promise<DownloadedFile> {
    return this.#call(`GET`, `/v1/files/${encodeURIComponent(fileId)}`, undefined, options, async (response) => ({
      filename: filenameOf(response.headers.get("content-disposition")),
      content: new Uint8Array(await response.arrayBuffer()),
    }));
  }

  /** `DELETE /v1/files/{id}`. */
  deleteFile(fileId: string, options?: CallOptions): Promise<void> {
    return this.#call("DELETE", `/v1/files/${encodeURIComponent(fileId)}`, undefined, options, discard);
  }

  /** `POST /v1/sessions`: a sandbox whose workspace persists between commands, on `runtime` (or the server's default). */
  createSession(request: CreateSessionRequest = {}, options?: CallOptions): Promise<SessionResponse> {
    return this.#json("POST", "/v1/sessions", { json: request }, options);
  }

  /** `GET /v1/sessions`: each with its runtime. */
  async listSessions(options?: CallOptions): Promise<SessionDetail[]> {
    return (await this.#json<SessionListResponse>("GET", "/v1/sessions", undefined, options)).sessions;
  }

  /** `GET /v1/sessions/{id}`: its expiry and runtime. */
  getSession(sessionId: string, options?: CallOptions): Promise<SessionDetail> {
    return this.#json("GET", sessionPath(sessionId), undefined, options);
  }

  /** `DELETE /v1/sessions/{id}`. */
  deleteSession(sessionId: string, options?: CallOptions): Promise<void> {
    return this.#call("DELETE", sessionPath(sessionId), undefined, options, discard);
  }

  /** `POST /v1/sessions/{id}/keepalive`: a new expiry, `ttl_seconds` (or the default TTL) from now. */
  keepaliveSession(sessionId: string, request: KeepaliveRequest = {}, options?: CallOptions): Promise<SessionResponse> {
    return this.#json("POST", `${sessionPath(sessionId)}/keepalive`, { json: request }, options);
  }

  /**
   * `POST /v1/sessions/{id}/pause`: keeps the session's workspace as a signed snapshot and removes its sandbox
   * (waits for a command it runs). `snapshot.memory` says whether the kernel's variables were kept.
   */
  pauseSession(sessionId: string, options?: CallOptions): Promise<SessionPauseResponse> {
    return this.#json("POST", `${sessionPath(sessionId)}/pause`, { json: {} }, options);
  }

  /** `POST /v1/sessions/{id}/resume`: a paused session runs again, its workspace restored (any command does this too). */
  resumeSession(sessionId: string, request: SessionLifetimeRequest = {}, options?: CallOptions): Promise<SessionResumeResponse> {
    return this.#json("POST", `${sessionPath(sessionId)}/resume`, { json: request }, options);
  }

  /** `POST /v1/sessions/{id}/fork`: a new session with a copy of the workspace of a running or paused one. */
  forkSession(sessionId: string, request: SessionLifetimeRequest = {}, options?: CallOptions): Promise<SessionResponse> {
    return this.#json("POST", `${sessionPath(sessionId)}/fork`, { json: request }, options);
  }

  /**
   * `PUT /v1/sessions/{id}/network`: replaces the policy of a session made with `network`; connections the new
   * one forbids are closed. Answers the session with its new policy; 422 for a session without `network`.
   */
  setSessionNetwork(sessionId: string, policy: NetworkPolicy, options?: CallOptions): Promise<SessionDetail> {
    return this.#json("PUT", `${sessionPath(sessionId)}/network`, { json: policy }, options);
  }

  /** `POST /v1/sessions/{id}/bash`: `bash -c cmd` in the session's `/workspace` (with `network`, when the session has one). */
  runBash(sessionId: string, request: BashRequest, options?: CallOptions): Promise<SessionBashResponse> {
    return this.#json("POST", `${sessionPath(sessionId)}/bash`, { json: request }, options);
  }

  /** `POST /v1/sessions/{id}/python`: Python in the session (state kept between calls where the backend can). */
  runPython(sessionId: string, request: PythonRequest, options?: CallOptions): Promise<SessionPythonResponse> {
    return this.#json("POST", `${sessionPath(sessionId)}/python`, { json: request }, options);
  }

  /** `POST /v1/sessions/{id}/python/stream`: like `executeStream`, in the session. */
  streamPython(sessionId: string, request: PythonRequest, options?: StreamOptions): AsyncGenerator<StreamEvent> {
    return this.#stream(`${sessionPath(sessionId)}/python/stream`, request, options);
  }

  /** `GET /v1/sessions/{id}/files`: the regular files in the session's workspace. */
  async listSessionFiles(sessionId: string, options?: CallOptions): Promise<SessionFile[]> {
    return (await this.#json<{ files: SessionFile[] }>("GET", `${sessionPath(sessionId)}/files`, undefined, options)).files;
  }

  /** `GET /v1/sessions/{id}/files/{path}`: one workspace file's bytes. */
  downloadSessionFile(sessionId: string, path: string, options?: CallOptions): Promise<Uint8Array> {
    const encoded = path.split("/").map(encodeURIComponent).join("/");
    return this.#call("GET", `${sessionPath(sessionId)}/files/${encoded}`, undefined, options, async (response) => {
      return new Uint8Array(await response.arrayBuffer());
    });
  }

  #json<T>(method: string, path: string, body: Body, options: CallOptions | undefined): Promise<T> {
    return this.#call(method, path, body, options, (response) => response.json() as Promise<T>);
  }

  /** A resumable stream: POST with an Idempotency-Key, then (after a drop) the execution's own stream from the last id seen. */
  async *#stream(path: string, request: object, options: StreamOptions = {}): AsyncGenerator<StreamEvent> {
    const call = this.#begin(options);
    const key = options.idempotencyKey ?? globalThis.crypto.randomUUID();
    let executionId: string | undefined;
    let finished = false;
    try {
      let response: Response;
      try {
        response = await this.#send(call, "POST", path, { json: request }, { "idempotency-key": key });
      } catch (error) {
        throw call.translate(error);
      }
      executionId = response.headers.get("x-execution-id") ?? undefined;
      let lastId: string | undefined;
      try {
        for await (const event of readExecutionEvents(response.body as ReadableStream<Uint8Array>)) {
          // Events read before the caller aborted are not handed out after it.
          call.signal.throwIfAborted();
          lastId = event.id ?? lastId;
          finished ||= event.type === "result" || event.type === "error";
          yield event;
        }
      } catch (error) {
        // A server too old to resume (no execution id), or the caller's abort or timeout: the error, as before.
        if (!executionId || call.signal.aborted) throw call.translate(error);
      }
      if (finished) return;
      if (!executionId) {
        throw new CodeInterpreterClientError({ message: "the stream ended before a result or error event", status: response.status });
      }
      for await (const event of this.#resume(executionId, lastId, options, true)) {
        finished ||= event.type === "result" || event.type === "error";
        yield event;
      }
    } finally {
      call.done();
      // Leaving the loop early stops the execution, as leaving a stream always did.
      if (!finished && executionId) await this.deleteExecution(executionId, { timeoutMs: 5000 }).catch(() => {});
    }
  }

  /** The execution's stream after `lastId`, reconnecting (up to `maxReconnects`, backing off) after each dropped connection. */
  async *#resume(
    executionId: string,
    lastId: string | undefined,
    options: StreamOptions,
    reconnecting: boolean,
  ): AsyncGenerator<StreamEvent> {
    const maxReconnects = options.maxReconnects ?? 5;
    let attempts = reconnecting ? 1 : 0;
    for (;;) {
      if (attempts > 0) {
        if (attempts > maxReconnects) {
          throw new ConnectionError({ message: `the stream of ${executionId} dropped ${maxReconnects} times; giving up`, status: 0 });
        }
        await sleep(Math.min(250 * 2 ** (attempts - 1), 4000), options.signal);
      }
      const call = this.#begin(options);
      try {
        const headers: Record<string, string> = lastId === undefined ? {} : { "last-event-id": lastId };
        const response = await this.#send(call, "GET", `${executionPath(executionId)}/stream`, undefined, headers);
        attempts = 0;
        for await (const event of readExecutionEvents(response.body as ReadableStream<Uint8Array>)) {
          call.signal.throwIfAborted();
          lastId = event.id ?? lastId;
          yield event;
          if (event.type === "result" || event.type === "error") return;
        }
      } catch (error) {
        const translated = call.translate(error);
        // Only a dropped or refused connection is worth another try; an answer (404, 422), a timeout or an abort is final.
        if (!ConnectionError.isInstance(translated)) throw translated;
      } finally {
        call.done();
      }
      attempts++;
    }
  }

  async #call<T>(
    method: string,
    path: string,
    body: Body,
    options: CallOptions = {},
    read: (response: Response) => Promise<T>,
  ): Promise<T> {
    const call = this.#begin(options);
    const headers: Record<string, string> = options.idempotencyKey ? { "idempotency-key": options.idempotencyKey } : {};
    try {
      return await read(await this.#send(call, method, path, body, headers));
    } catch (error) {
      throw call.translate(error);
    } finally {
      call.done();
    }
  }

  /** One call's signal: the caller's and the timeout's together, and how to tell which fired. */
  #begin(options: CallOptions) {
    const timeoutMs = options.timeoutMs ?? this.#options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const controller = new AbortController();
    const timer = timeoutMs > 0 ? setTimeout(() => controller.abort(), timeoutMs) : undefined;
    const signal = options.signal ? AbortSignal.any([options.signal, controller.signal]) : controller.signal;
    const baseUrl = this.baseUrl;
    return {
      signal,
      done: () => clearTimeout(timer),
      translate: (error: unknown): unknown => {
        if (options.signal?.aborted) return options.signal.reason;
        if (controller.signal.aborted) {
          return new TimeoutError({ message: `no complete answer from ${baseUrl} within ${timeoutMs} ms`, status: 0, cause: error });
        }
        if (CodeInterpreterClientError.isInstance(error)) return error;
        const cause = (error as Error & { cause?: Error }).cause?.message ?? (error as Error).message;
        return new ConnectionError({ message: `cannot reach the server at ${baseUrl} (${cause})`, status: 0, cause: error });
      },
    };
  }

  async #send(
    call: { signal: AbortSignal },
    method: string,
    path: string,
    body: Body,
    extraHeaders: Record<string, string> = {},
  ): Promise<Response> {
    const headers: Record<string, string> = { accept: "application/json", ...this.#options.headers, ...extraHeaders };
    if (this.#options.apiKey) headers.authorization = `Bearer ${this.#options.apiKey}`;
    const init: RequestInit & { duplex?: "half" } = { method, headers, signal: call.signal };
    if (body && "json" in body) {
      headers["content-type"] = "application/json";
      init.body = JSON.stringify(body.json);
    } else if (body) {
      Object.assign(headers, body.headers);
      init.body = body.raw;
      // A streamed request body must say so (fetch refuses it otherwise).
      if (body.raw instanceof ReadableStream) init.duplex = "half";
    }
    const response = await this.#fetch(`${this.baseUrl}${path}`, init);
    if (response.ok) return response;
    const text = await response.text();
    throw errorForResponse(response.status, detailOf(text) ?? (text || response.statusText), response.headers.get("retry-after"));
  }
}

/** A client with defaulted options. */
export function createCodeInterpreterClient(options: ClientOptions = {}): CodeInterpreterClient {
  return new CodeInterpreterClient(options);
}

function sessionPath(sessionId: string): string {
  return `/v1/sessions/${encodeURIComponent(sessionId)}`;
}

function executionPath(executionId: string): string {
  return `/v1/executions/${encodeURIComponent(executionId)}`;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        reject(signal.reason);
      },
      { once: true },
    );
  });
}

async function discard(response: Response): Promise<void> {
  await response.body?.cancel();
}

function detailOf(text: string): string | undefined {
  try {
    const parsed = JSON.parse(text) as { detail?: unknown };
    return typeof parsed.detail === "string" ? parsed.detail : undefined;
  } catch {
    return undefined;
  }
}

/** The file name of `attachment; filename="…"`, preferring the RFC 5987 `filename*` form. */
function filenameOf(disposition: string | null): string | undefined {
  if (!disposition) return undefined;
  const extended = /filename\*\s*=\s*UTF-8''([^;]+)/i.exec(disposition);
  if (extended?.[1]) {
    try {
      return decodeURIComponent(extended[1]);
    } catch {
      // malformed: fall back to the plain form
    }
  }
  return /filename\s*=\s*"([^"]*)"/i.exec(disposition)?.[1] ?? /filename\s*=\s*([^;\s]+)/i.exec(disposition)?.[1];
}
