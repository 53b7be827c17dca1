import { Hono } from "hono";
import type { ServerContext } from "../context.js";

/**
 * `GET /health`: the version clients gate session features on, and whether
 * the backend can run code. Healthy stays the onyx answer
 * `{"status":"ok","version":…}`; a backend that cannot run code (engine down,
 * image missing) makes it 503 `{"status":"degraded",…,"backend":{name, ok, detail}}`.
 */
export function healthRoutes(server: ServerContext) {
  return new Hono().get("/health", async (c) => {
    const health = await backendHealth(server);
    if (health.ok) return c.json({ status: "ok", version: server.version });
    return c.json({ status: "degraded", version: server.version, backend: { name: server.backend.name, ...health } }, 503);
  });
}

async function backendHealth(server: ServerContext): Promise<{ ok: boolean; detail?: string }> {
  try {
    return (await server.backend.health?.()) ?? { ok: true };
  } catch (error) {
    return { ok: false, detail: (error as Error).message };
  }
}
