import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
import { type Context, Hono } from "hono";
import type { ServerContext } from "../context.js";
import { type FetchableApp, inProcessApi } from "../mcp/api.js";
import { createMcpServer } from "../mcp/mcp-server.js";

/**
 * `/mcp`: the Model Context Protocol over Streamable HTTP, stateless. Every
 * POST gets its own MCP server and transport, and tool calls name their
 * `session_id`, so any replica can serve any call. The tools call `app` (this
 * server's own HTTP routes) in-process with the caller's `Authorization`, so
 * keys, tenants, limits, quotas, metrics and logs are those of the HTTP API.
 */
export function mcpRoutes(server: ServerContext, app: FetchableApp) {
  const maxRequestBodySize = server.config.MAX_REQUEST_BODY_MB * 1024 * 1024;
  const defaultTimeoutMs = Math.min(30_000, server.config.MAX_EXEC_TIMEOUT_MS);
  // Stateless: no server-initiated stream (GET) and no MCP session to end (DELETE).
  const methodNotAllowed = (c: Context) =>
    c.json(
      {
        jsonrpc: "2.0",
        error: { code: -32000, message: "Method not allowed: POST JSON-RPC messages to /mcp (stateless server)" },
        id: null,
      },
      405,
      { Allow: "POST" },
    );

  return new Hono()
    .post("/mcp", async (c) => {
      c.set("interface" as never, "mcp" as never);
      // A web page must not reach a server on loopback through DNS rebinding (the MCP spec asks servers to check Origin).
      const origin = c.req.header("origin");
      if (origin && !sameHost(origin, c.req.header("host"))) {
        return c.json({ detail: `Requests from the web origin ${origin} are not accepted` }, 403);
      }
      const headers: Record<string, string> = {};
      const authorization = c.req.header("authorization");
      if (authorization) headers.authorization = authorization;
      const requestId = c.get("requestId" as never) as string | undefined;
      if (requestId) headers["x-request-id"] = requestId;
      const mcp = createMcpServer({
        api: inProcessApi(app, headers, c.req.raw.signal),
        version: server.version,
        defaultTimeoutMs,
      });
      // JSON answers: each POST is answered once its tool calls are done, then the server is dropped.
      const transport = new WebStandardStreamableHTTPServerTransport({
        sessionIdGenerator: undefined,
        enableJsonResponse: true,
        maxRequestBodySize,
      });
      await mcp.connect(transport);
      try {
        return await transport.handleRequest(c.req.raw);
      } finally {
        await mcp.close();
      }
    })
    .get("/mcp", methodNotAllowed)
    .delete("/mcp", methodNotAllowed);
}

function sameHost(origin: string, host: string | undefined): boolean {
  try {
    return new URL(origin).host === host;
  } catch {
    return false;
  }
}
