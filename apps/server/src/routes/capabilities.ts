import { type Backend, type CapabilitiesResponse, LANGUAGES } from "@code-interpreter/core";
import type { SandboxRuntime } from "@code-interpreter/core/sandbox";
import { Hono } from "hono";
import { accessOf } from "../auth/authenticate.js";
import type { ServerContext } from "../context.js";
import type { Env } from "../env.js";
import { RuntimeRouter } from "../runtime-router.js";

/**
 * `GET /v1/capabilities`: what this server offers (runtimes, languages,
 * sessions, optional features, limits), so a client can choose before it
 * asks. Read from the configuration and the backend, never from a sandbox:
 * it answers at once. `/health` stays onyx's answer.
 */
export function capabilitiesRoutes(server: ServerContext) {
  const { backend, config } = server;
  const answer: CapabilitiesResponse = {
    version: server.version,
    backend: backend.name,
    runtimes: [...server.runtimes.runtimes],
    default_runtime: server.runtimes.defaultRuntime,
    languages: [...(backend.capabilities.languages ?? LANGUAGES)],
    sessions: backend.capabilities.sessions,
    stateful_python: backend.capabilities.sessions && backend.capabilities.statefulPython === true,
    features: {
      background_executions: true,
      idempotency_keys: true,
      resumable_streams: true,
      rich_results: true,
      session_files: backend.capabilities.sessions,
      mcp: true,
    },
    network: { offered: false, secrets: [] },
    memory_snapshots: server.runtimes.runtimes.filter((runtime) => backendOf(backend, runtime).capabilities.memorySnapshots === true),
    file_store: config.FILE_STORE,
    limits: {
      max_exec_timeout_ms: config.MAX_EXEC_TIMEOUT_MS,
      max_background_timeout_ms: config.MAX_BACKGROUND_TIMEOUT_MS,
      max_file_size_mb: config.MAX_FILE_SIZE_MB,
      session_max_lifetime_seconds: config.SESSION_MAX_LIFETIME_SECONDS,
    },
  };
  const egress = backend.capabilities.egress === true ? server.egress : undefined;
  return new Hono<Env>().get("/v1/capabilities", (c) => {
    if (!egress) return c.json(answer);
    // The secrets this caller may name: every tenant's, and those the operator gave its tenant.
    const { tenant } = accessOf(c).owner;
    const secrets = egress.secrets.filter((secret) => !secret.tenants || (tenant !== undefined && secret.tenants.includes(tenant)));
    return c.json({ ...answer, network: { offered: true, secrets: secrets.map((secret) => secret.name) } });
  });
}

/** The backend that runs `runtime`'s sandboxes: the router's, or the one backend of a server with one runtime. */
function backendOf(backend: Backend, runtime: SandboxRuntime): Backend {
  return backend instanceof RuntimeRouter ? (backend.backends.get(runtime) ?? backend) : backend;
}
