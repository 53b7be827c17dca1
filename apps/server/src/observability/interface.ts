import { AsyncLocalStorage } from "node:async_hooks";

/** Which of the server's interfaces a request came through: the HTTP API or MCP (`/mcp`, `code-interpreter mcp`). */
export type ApiInterface = "http" | "mcp";

const current = new AsyncLocalStorage<ApiInterface>();

/**
 * Runs `work` as a call made through `api`. MCP tools serve their calls with
 * in-process requests to the HTTP routes; this is how metrics and logs of
 * those requests still tell them apart, without a header a caller could forge.
 */
export function runAsInterface<T>(api: ApiInterface, work: () => T): T {
  return current.run(api, work);
}

/** The interface of the call being served: `http` unless runAsInterface said otherwise. */
export function currentInterface(): ApiInterface {
  return current.getStore() ?? "http";
}
