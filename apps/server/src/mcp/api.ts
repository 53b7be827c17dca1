import { runAsInterface } from "../observability/interface.js";

/**
 * Sends one request to the HTTP API and answers with its response. The MCP
 * tools do all their work through this, so a tool call takes exactly the path
 * an HTTP call takes: the same routes, validation, limits, tenant quotas,
 * concurrency limit, metrics and log lines. Either the app in this process
 * (`inProcessApi`) or a server over the network (`remoteApi`).
 */
export type ApiFetch = (path: string, init: RequestInit) => Promise<Response>;

/** What the HTTP API refused, with its status and `detail`: the tool reports it as a tool error. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly detail: string,
  ) {
    super(detail);
    this.name = "ApiError";
  }
}

/** Anything with Hono's `fetch`: the app createApp returns. */
export interface FetchableApp {
  fetch(request: Request): Response | Promise<Response>;
}

/**
 * The app in this process, called as `headers` (the MCP caller's
 * `Authorization` and request id) say. Requests are marked as MCP calls for
 * metrics and logs; no port is involved. `signal` (the MCP request's
 * connection) cancels them too.
 */
export function inProcessApi(app: FetchableApp, headers: Record<string, string> = {}, signal?: AbortSignal): ApiFetch {
  return (path, init) =>
    runAsInterface("mcp", async () => {
      const signals = [init.signal, signal].filter((entry): entry is AbortSignal => entry instanceof AbortSignal);
      const request = new Request(new URL(path, "http://in-process"), {
        ...init,
        headers: { ...headers, ...toRecord(init.headers) },
        ...(signals.length ? { signal: AbortSignal.any(signals) } : {}),
      });
      return app.fetch(request);
    });
}

/** A code-interpreter server at `baseUrl` (a path prefix is kept), with `apiKey` as bearer token. */
export function remoteApi(baseUrl: string, apiKey?: string): ApiFetch {
  const base = baseUrl.replace(/\/+$/, "");
  return async (path, init) => {
    const headers = { ...toRecord(init.headers), ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}) };
    try {
      return await fetch(`${base}${path}`, { ...init, headers });
    } catch (error) {
      if (init.signal?.aborted) throw error;
      const cause = (error as Error & { cause?: Error }).cause?.message ?? (error as Error).message;
      throw new ApiError(0, `cannot reach the code-interpreter server at ${base} (${cause})`);
    }
  };
}

/** Sends a request and returns the response when it is a success; throws ApiError with the server's `detail` otherwise. */
export async function send(api: ApiFetch, method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<Response> {
  const init: RequestInit = { method, headers: { accept: "application/json" }, ...(signal ? { signal } : {}) };
  if (body instanceof FormData) init.body = body;
  else if (body !== undefined) {
    init.headers = { ...toRecord(init.headers), "content-type": "application/json" };
    init.body = JSON.stringify(body);
  }
  const response = await api(path, init);
  if (response.ok) return response;
  const text = await response.text();
  let detail = text || response.statusText;
  try {
    const parsed = JSON.parse(text) as { detail?: unknown };
    if (typeof parsed.detail === "string") detail = parsed.detail;
  } catch {
    // not JSON: the text itself is the reason
  }
  const retry = response.headers.get("retry-after");
  throw new ApiError(response.status, retry ? `${detail} (retry after ${retry} s)` : detail);
}

/** `send`, then the JSON body. */
export async function sendJson<T>(api: ApiFetch, method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
  return (await (await send(api, method, path, body, signal)).json()) as T;
}

function toRecord(headers: RequestInit["headers"]): Record<string, string> {
  return headers ? Object.fromEntries(new Headers(headers).entries()) : {};
}
