import { Hono } from "hono";
import type { ServerContext } from "../context.js";
import type { Env } from "../env.js";

/** `GET /metrics`: Prometheus text exposition of the server's metrics. */
export function metricsRoutes(server: ServerContext) {
  return new Hono<Env>().get("/metrics", async (c) =>
    c.body(await server.metrics.registry.metrics(), 200, { "Content-Type": server.metrics.registry.contentType }),
  );
}
