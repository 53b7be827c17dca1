import type { Backend } from "@code-interpreter/core";
import type { SessionSnapshots } from "@code-interpreter/core/engine";
import type { FileStore } from "@code-interpreter/files";
import { Hono } from "hono";
import { requestId } from "hono/request-id";
import { authenticate } from "./auth/authenticate.js";
import { KeyRing } from "./auth/key-ring.js";
import { Tenancy } from "./auth/tenancy.js";
import type { Config } from "./config.js";
import type { EgressOffer, ServerContext } from "./context.js";
import type { Env } from "./env.js";
import { ExecutionSlots } from "./execution-slots.js";
import { Executions } from "./executions/executions.js";
import { ConcurrencyLimit } from "./middleware/concurrency-limit.js";
import { createErrorHandler } from "./middleware/error-handler.js";
import { idempotency } from "./middleware/idempotency.js";
import { requestLog } from "./middleware/request-log.js";
import { instrumentBackend } from "./observability/instrument-backend.js";
import type { Logger } from "./observability/logger.js";
import { createMetrics, type Metrics } from "./observability/metrics.js";
import { capabilitiesRoutes } from "./routes/capabilities.js";
import { docsRoutes } from "./routes/docs.js";
import { executeRoutes } from "./routes/execute.js";
import { executionRoutes } from "./routes/executions.js";
import { fileRoutes } from "./routes/files.js";
import { healthRoutes } from "./routes/health.js";
import { mcpRoutes } from "./routes/mcp.js";
import { metricsRoutes } from "./routes/metrics.js";
import { resultsPageRoutes } from "./routes/results-page.js";
import { sessionRoutes } from "./routes/sessions.js";
import { runtimeOffer } from "./runtime-router.js";
import { VERSION } from "./version.js";

export interface AppOptions {
  backend: Backend;
  store: FileStore;
  config: Config;
  logger: Logger;
  /** Where executions are counted; a fresh registry when left out. */
  metrics?: Metrics;
  /** The API keys; read from the configuration when left out. */
  keys?: KeyRing;
  /** The egress proxy's offer (the secrets requests may name), when the server has one; without it `network` is not offered. */
  egress?: EgressOffer;
  /** Paused sessions' snapshots, counted in each tenant's stored bytes (TENANT_MAX_STORED_MB) with its files. */
  snapshots?: SessionSnapshots;
  /** Executions as resources; made here when left out (the caller then cannot close it: its timers do not hold the process). */
  executions?: (slots: ExecutionSlots) => Executions;
}

/** What a tenant's snapshots take, read from their records; undefined without snapshots. */
function snapshotBytesOf(snapshots: SessionSnapshots | undefined): ((tenant: string) => Promise<number>) | undefined {
  return snapshots && (async (tenant) => (await snapshots.usage(tenant)).bytes);
}

/** The HTTP API as a Hono app; `app.request(...)` works without a port. */
export function createApp(options: AppOptions) {
  const metrics = options.metrics ?? createMetrics({ backend: options.backend, store: options.store });
  const { config } = options;
  const keys = options.keys ?? KeyRing.load(config);
  const backend = instrumentBackend(options.backend, metrics);
  // Tenancy reads sessions through the same (instrumented) backend as every route.
  const tenancy = new Tenancy(
    backend,
    options.store,
    {
      maxConcurrentExecutions: config.TENANT_MAX_CONCURRENT_EXECUTIONS,
      maxSessions: config.TENANT_MAX_SESSIONS,
      maxStoredBytes: config.TENANT_MAX_STORED_MB * 1024 * 1024,
    },
    snapshotBytesOf(options.snapshots),
  );
  const limit = new ConcurrencyLimit(config.MAX_CONCURRENT_EXECUTIONS);
  const slots = new ExecutionSlots(limit, tenancy);
  const executions =
    options.executions?.(slots) ??
    new Executions({
      records: options.store.records,
      slots,
      logger: options.logger,
      resultTtlSeconds: config.EXECUTION_RESULT_TTL_SECONDS,
    });
  const server: ServerContext = {
    ...options,
    backend,
    metrics,
    keys,
    limit,
    slots,
    executions,
    tenancy,
    runtimes: runtimeOffer(options.backend),
    version: VERSION,
  };
  const app = new Hono<Env>();
  // Every answer carries X-Request-Id (the caller's, when it sent a sane one), also in the log line.
  app.use(requestId());
  app.use(requestLog({ logger: server.logger, backend: server.backend.name }));
  app.use(authenticate(keys));
  app.route("/", healthRoutes(server));
  app.route("/", capabilitiesRoutes(server));
  app.route("/", metricsRoutes(server));
  // Before the /docs assets: /docs/results is this page, not an asset.
  app.route("/", resultsPageRoutes());
  app.route("/", docsRoutes(server));
  app.use(idempotency(server));
  app.route("/", executeRoutes(server));
  app.route("/", executionRoutes(server));
  app.route("/", fileRoutes(server));
  app.route("/", sessionRoutes(server));
  // MCP tools call the routes above in-process, through the whole app (auth, limits, logs).
  app.route("/", mcpRoutes(server, { fetch: (request) => app.fetch(request) }));
  app.notFound((c) => c.json({ detail: `No route for ${c.req.method} ${c.req.path}` }, 404));
  app.onError(createErrorHandler(server.logger));
  return app;
}
