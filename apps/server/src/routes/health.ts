import { Hono } from "hono";
import type { ServerContext } from "../context.js";
import type { Env } from "../env.js";

/**
 * `GET /health`: the version clients gate session features on, and whether
 * the backend can run code. Healthy stays the onyx answer
 * `{"status":"ok","version":…}`; a backend that cannot run code (engine down,
 * image missing) makes it 503 `{"status":"degraded",…,"backend":{name, ok, detail}}`,
 * and so does a file store that does not answer (`"file_store":{name, ok, detail}`).
 */
export function healthRoutes(server: ServerContext) {
  return new Hono<Env>().get("/health", async (c) => {
    const [health, files] = await Promise.all([backendHealth(server), fileStoreHealth(server)]);
    if (health.ok && files.ok) return c.json({ status: "ok", version: server.version });
    return c.json(
      {
        status: "degraded",
        version: server.version,
        ...(health.ok ? {} : { backend: { name: server.backend.name, ...health } }),
        ...(files.ok ? {} : { file_store: { name: server.store.kind, ...files } }),
      },
      503,
    );
  });
}

/** A file store that does not answer (S3 unreachable, bucket gone, directory unwritable) degrades the server too. */
async function fileStoreHealth(server: ServerContext): Promise<{ ok: boolean; detail?: string }> {
  try {
    return await server.store.health();
  } catch (error) {
    return { ok: false, detail: (error as Error).message };
  }
}

async function backendHealth(server: ServerContext): Promise<{ ok: boolean; detail?: string }> {
  try {
    return (await server.backend.health?.()) ?? { ok: true };
  } catch (error) {
    return { ok: false, detail: (error as Error).message };
  }
}
