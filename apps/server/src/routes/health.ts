import { Hono } from "hono";
import type { ServerContext } from "../context.js";

/** `GET /health`: liveness, and the version clients gate session features on. */
export function healthRoutes(server: ServerContext) {
  return new Hono().get("/health", (c) => c.json({ status: "ok", version: server.version }));
}
