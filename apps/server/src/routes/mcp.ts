import { type AuthInfo, createMcpHandler } from "@modelcontextprotocol/server";
import { type Context, Hono } from "hono";
import { principalOf } from "../auth/authenticate.js";
import type { ServerContext } from "../context.js";
import type { Env } from "../env.js";
import { type FetchableApp, inProcessApi } from "../mcp/api.js";
import { createMcpServer } from "../mcp/mcp-server.js";

/**
 * `/mcp`: the Model Context Protocol over Streamable HTTP, stateless as the
 * 2026-07-28 revision has it (no protocol sessions, no `Mcp-Session-Id`).
 * The SDK's handler builds a fresh MCP server for every POST and keeps
 * nothing between requests; tool calls name their `session_id`, so any
 * replica can serve any call. 2025-era clients (an `initialize` handshake)
 * are served the same way, per request. The tools call `app` (this server's
 * own HTTP routes) in-process with the caller's `Authorization`, so keys,
 * tenants, limits, quotas, metrics and logs are those of the HTTP API.
 */
export function mcpRoutes(server: ServerContext, app: FetchableApp) {
  const defaultTimeoutMs = Math.min(30_000, server.config.MAX_EXEC_TIMEOUT_MS);
  const handler = createMcpHandler(
    ({ authInfo, requestInfo }) =>
      createMcpServer({
        api: inProcessApi(app, callerHeaders(authInfo), requestInfo?.signal),
        version: server.version,
        defaultTimeoutMs,
      }),
    {
      // responseMode "auto": a POST gets one JSON answer once its tool call is done (the tools send nothing before
      // their result, so nothing upgrades it to a stream).
      legacy: "stateless",
      maxRequestBodySize: server.config.MAX_REQUEST_BODY_MB * 1024 * 1024,
      onerror: (error) => server.logger.warn({ err: error }, "MCP request failed"),
    },
  );
  // Stateless: no server-initiated stream (GET) and no MCP session to end (DELETE).
  const methodNotAllowed = (c: Context<Env>) =>
    c.json(
      {
        jsonrpc: "2.0",
        error: { code: -32000, message: "Method not allowed: POST JSON-RPC messages to /mcp (stateless server)" },
        id: null,
      },
      405,
      { Allow: "POST" },
    );

  return new Hono<Env>()
    .post("/mcp", async (c) => {
      c.set("interface", "mcp");
      // A web page must not reach a server on loopback through DNS rebinding: the SDK's handler checks no
      // Origin itself (the MCP spec asks servers to), so it is checked here.
      const origin = c.req.header("origin");
      if (origin && !sameHost(origin, c.req.header("host"))) {
        return c.json({ detail: `Requests from the web origin ${origin} are not accepted` }, 403);
      }
      // The caller as the authentication in front established it (the SDK's handler verifies no token itself),
      // handed to the factory for the tools' in-process calls. The key is sent again with each of them.
      const principal = principalOf(c);
      const requestId = c.get("requestId");
      const authInfo: AuthInfo = {
        token: /^Bearer\s+(\S+)\s*$/i.exec(c.req.header("authorization") ?? "")?.[1] ?? "",
        clientId: principal?.tenant ?? "anonymous",
        scopes: principal?.admin ? ["admin"] : [],
        extra: { requestId },
      };
      const response = await handler.fetch(c.req.raw, { authInfo });
      // Hono adds the headers its middleware prepared (X-Request-Id) to the answers it builds, not to one returned as is.
      const answer = new Response(response.body, response);
      if (requestId) answer.headers.set("X-Request-Id", requestId);
      return answer;
    })
    .get("/mcp", methodNotAllowed)
    .delete("/mcp", methodNotAllowed);
}

/** The headers of the tools' in-process calls: the caller's key and the MCP request's id (for the log lines). */
function callerHeaders(authInfo: AuthInfo | undefined): Record<string, string> {
  const headers: Record<string, string> = {};
  if (authInfo?.token) headers.authorization = `Bearer ${authInfo.token}`;
  const requestId = authInfo?.extra?.requestId;
  if (typeof requestId === "string") headers["x-request-id"] = requestId;
  return headers;
}

function sameHost(origin: string, host: string | undefined): boolean {
  try {
    return new URL(origin).host === host;
  } catch {
    return false;
  }
}
