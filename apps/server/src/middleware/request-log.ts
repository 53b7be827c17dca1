import { createMiddleware } from "hono/factory";
import { routePath } from "hono/route";
import type { Env } from "../env.js";
import { currentInterface } from "../observability/interface.js";
import type { Logger } from "../observability/logger.js";

/**
 * One log line per request: its id, method, route pattern, status, duration,
 * the backend, the session it addressed and the interface (`http`, or `mcp`
 * for the requests MCP tools make in-process). Never a body: user code, stdin
 * and file contents stay out of logs.
 */
export function requestLog(options: { logger: Logger; backend: string }) {
  return createMiddleware<Env>(async function requestLogMiddleware(c, next) {
    const started = performance.now();
    await next();
    const status = c.res.status;
    const fields = {
      request_id: c.get("requestId"),
      method: c.req.method,
      route: routePath(c, -1),
      status,
      duration_ms: Math.round(performance.now() - started),
      backend: options.backend,
      session_id: c.req.param("sessionId"),
      // `/mcp` itself marks its line; the requests its tools make run as MCP calls.
      interface: c.get("interface") ?? currentInterface(),
    };
    if (status >= 500) options.logger.warn(fields, "request");
    else options.logger.info(fields, "request");
  });
}
