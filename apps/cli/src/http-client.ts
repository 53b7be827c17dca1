import {
  ErrorResponseSchema,
  type ExecuteResponse,
  ExecuteResponseSchema,
  FileListResponseSchema,
  type FileMetadata,
  FileUploadResponseSchema,
  type SessionCommandResponse,
  SessionCommandResponseSchema,
  SessionListResponseSchema,
  SessionResponseSchema,
  type StreamOutputEvent,
  StreamOutputEventSchema,
  type StreamResultEvent,
  StreamResultEventSchema,
} from "@code-interpreter/core";
import type { z } from "zod";

/** An error answer from the server: its status and `detail`. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly detail: string,
  ) {
    super(`${status}: ${detail}`);
    this.name = "ApiError";
  }
}

export type StreamEvent =
  | { type: "output"; data: StreamOutputEvent }
  | { type: "result"; data: StreamResultEvent }
  | { type: "error"; data: { message: string } };

export interface ExecuteBody {
  code: string;
  stdin?: string | null;
  timeout_ms?: number;
  last_line_interactive?: boolean;
  files?: { path: string; file_id: string }[];
}

/** The few calls the CLI makes, validated with core's schemas. */
export class HttpClient {
  constructor(readonly baseUrl: string) {}

  async health(): Promise<unknown> {
    return this.call("GET", "/health");
  }

  async execute(body: ExecuteBody): Promise<ExecuteResponse> {
    return this.call("POST", "/v1/execute", body, ExecuteResponseSchema);
  }

  /** Streams `/v1/execute/stream` events as they arrive. */
  async *executeStream(body: ExecuteBody): AsyncGenerator<StreamEvent> {
    const response = await this.fetch("POST", "/v1/execute/stream", body);
    const decoder = new TextDecoder();
    let buffer = "";
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      let end = buffer.indexOf("\n\n");
      while (end !== -1) {
        const event = parseEvent(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
        if (event) yield event;
        end = buffer.indexOf("\n\n");
      }
    }
  }

  async uploadFile(name: string, content: Uint8Array): Promise<z.infer<typeof FileUploadResponseSchema>> {
    const form = new FormData();
    form.append("file", new Blob([new Uint8Array(content)]), name);
    return this.call("POST", "/v1/files", form, FileUploadResponseSchema);
  }

  async listFiles(): Promise<FileMetadata[]> {
    return (await this.call("GET", "/v1/files", undefined, FileListResponseSchema)).files;
  }

  async downloadFile(fileId: string): Promise<Buffer> {
    const response = await this.fetch("GET", `/v1/files/${encodeURIComponent(fileId)}`);
    return Buffer.from(await response.arrayBuffer());
  }

  async deleteFile(fileId: string): Promise<void> {
    await this.fetch("DELETE", `/v1/files/${encodeURIComponent(fileId)}`);
  }

  async createSession(body: { ttl_seconds?: number; files?: { path: string; file_id: string }[] }) {
    return this.call("POST", "/v1/sessions", body, SessionResponseSchema);
  }

  async listSessions() {
    return (await this.call("GET", "/v1/sessions", undefined, SessionListResponseSchema)).sessions;
  }

  async deleteSession(sessionId: string): Promise<void> {
    await this.fetch("DELETE", `/v1/sessions/${encodeURIComponent(sessionId)}`);
  }

  async sessionBash(sessionId: string, body: { cmd: string; timeout_ms?: number }): Promise<SessionCommandResponse> {
    return this.call("POST", `/v1/sessions/${encodeURIComponent(sessionId)}/bash`, body, SessionCommandResponseSchema);
  }

  async sessionPython(sessionId: string, body: { code: string; timeout_ms?: number }): Promise<SessionCommandResponse> {
    return this.call("POST", `/v1/sessions/${encodeURIComponent(sessionId)}/python`, body, SessionCommandResponseSchema);
  }

  private async call<T>(method: string, path: string, body?: unknown, schema?: z.ZodType<T>): Promise<T> {
    const response = await this.fetch(method, path, body);
    const json = await response.json();
    return schema ? schema.parse(json) : (json as T);
  }

  private async fetch(method: string, path: string, body?: unknown): Promise<Response> {
    const init: RequestInit = { method };
    if (body instanceof FormData) init.body = body;
    else if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers = { "content-type": "application/json" };
    }
    let response: Response;
    try {
      response = await fetch(new URL(path, this.baseUrl), init);
    } catch (error) {
      throw new ApiError(
        0,
        `cannot reach the server at ${this.baseUrl} (${(error as Error & { cause?: Error }).cause?.message ?? (error as Error).message}); start it with: code-interpreter serve`,
      );
    }
    if (!response.ok) {
      const text = await response.text();
      let detail = text || response.statusText;
      try {
        detail = ErrorResponseSchema.parse(JSON.parse(text)).detail;
      } catch {
        // not our error shape: show the body as it is
      }
      throw new ApiError(response.status, detail);
    }
    return response;
  }
}

function parseEvent(block: string): StreamEvent | undefined {
  let event = "message";
  const data: string[] = [];
  for (const line of block.split("\n")) {
    if (line.startsWith("event:")) event = line.slice(6).trim();
    else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
  }
  if (data.length === 0) return undefined;
  const json = JSON.parse(data.join("\n"));
  if (event === "output") return { type: "output", data: StreamOutputEventSchema.parse(json) };
  if (event === "result") return { type: "result", data: StreamResultEventSchema.parse(json) };
  if (event === "error") return { type: "error", data: { message: String(json.message) } };
  return undefined;
}
