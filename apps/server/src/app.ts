import type { Backend } from "@code-interpreter/core";
import type { FileStore } from "@code-interpreter/files";
import { Hono } from "hono";
import type { Config } from "./config.js";
import type { ServerContext } from "./context.js";
import type { Logger } from "./logger.js";
import { ConcurrencyLimit } from "./middleware/concurrency-limit.js";
import { createErrorHandler } from "./middleware/error-handler.js";
import { executeRoutes } from "./routes/execute.js";
import { fileRoutes } from "./routes/files.js";
import { healthRoutes } from "./routes/health.js";
import { sessionRoutes } from "./routes/sessions.js";
import { VERSION } from "./version.js";

export interface AppOptions {
  backend: Backend;
  store: FileStore;
  config: Config;
  logger: Logger;
}

/** The HTTP API as a Hono app; `app.request(...)` works without a port. */
export function createApp(options: AppOptions) {
  const server: ServerContext = { ...options, limit: new ConcurrencyLimit(options.config.MAX_CONCURRENT_EXECUTIONS), version: VERSION };
  const app = new Hono();
  app.use(async (c, next) => {
    const started = Date.now();
    await next();
    server.logger.info("request", {
      method: c.req.method,
      path: c.req.path,
      status: c.res.status,
      duration_ms: Date.now() - started,
      backend: server.backend.name,
    });
  });
  app.route("/", healthRoutes(server));
  app.route("/", executeRoutes(server));
  app.route("/", fileRoutes(server));
  app.route("/", sessionRoutes(server));
  app.notFound((c) => c.json({ detail: `No route for ${c.req.method} ${c.req.path}` }, 404));
  app.onError(createErrorHandler(server.logger));
  return app;
}
