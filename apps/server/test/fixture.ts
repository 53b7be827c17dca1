import { chmod, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLocalBackend, type LocalBackend } from "@code-interpreter/backend-local";
import { listSandboxProcesses } from "@code-interpreter/backend-local/testing";
import type { Backend } from "@code-interpreter/core";
import type { SessionSnapshots } from "@code-interpreter/core/engine";
import type { FileStore } from "@code-interpreter/files";
import { serverEnv } from "@code-interpreter/test-support";
import { type AppOptions, createApp } from "../src/app.js";
import { type Config, loadConfig } from "../src/config.js";
import { openConfiguredFileStore, sessionSnapshots } from "../src/file-store.js";
import { createLogger } from "../src/observability/logger.js";
import { type RunningServer, startServer } from "../src/server.js";

export interface TestApp {
  app: ReturnType<typeof createApp>;
  config: Config;
  backend: Backend;
  store: FileStore;
  dir: string;
  close(): Promise<void>;
}

/** Builds the backend under test from the app's configuration (and the snapshots in the app's file store, for one that keeps them). */
export type BackendFactory = (config: Config, snapshots?: SessionSnapshots) => Promise<Backend>;

/** The real local backend, as the server builds it. */
/** The local backends the tests made: their untaken warm sandboxes are no leftovers. */
const localBackends = new Set<LocalBackend>();

export const localBackend: BackendFactory = async (config, snapshots) => {
  const backend = await createLocalBackend({
    ...(snapshots ? { snapshots } : {}),
    stateDir: config.LOCAL_STATE_DIR,
    sandbox: config.LOCAL_SANDBOX,
    maxOutputBytes: config.MAX_OUTPUT_BYTES,
    maxFileSizeMb: config.MAX_FILE_SIZE_MB,
    warn: () => {},
  });
  localBackends.add(backend);
  return backend;
};

/** The real app on a real backend (local unless given), with its own temporary directories. */
export async function createTestApp(
  env: Record<string, string> = {},
  wrap?: (backend: Backend) => Backend,
  createBackend: BackendFactory = localBackend,
  appOptions: Pick<AppOptions, "egress" | "metrics"> = {},
): Promise<TestApp> {
  const dir = await mkdtemp(join(tmpdir(), "ci-server-test-"));
  await chmod(dir, 0o711); // the sandbox uid reaches session workspaces below it
  const config = loadConfig(
    serverEnv(dir, {
      LOG_LEVEL: "silent",
      // These tests count every sandbox as a leftover: no warm sessions unless a test asks (the backends' suites cover the pool).
      SESSION_POOL_MAX: "0",
      ...env,
    }),
  );
  // Paused sessions are kept in the file store, opened after the backend as the server does.
  let opened: FileStore | undefined;
  const real = await createBackend(
    config,
    sessionSnapshots(config, () => opened),
  ).catch(async (error) => {
    await rm(dir, { recursive: true, force: true });
    throw error;
  });
  const backend = wrap ? wrap(real) : real;
  // The store FILE_STORE names (the directory below `dir` unless the env says s3), as the server opens it.
  const store = await openConfiguredFileStore(config);
  opened = store;
  const app = createApp({ backend, store, config, logger: createLogger({ level: "silent", format: "plain" }), ...appOptions });
  return {
    app,
    config,
    backend,
    store,
    dir,
    close: async () => {
      await real.close();
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A response's JSON body, loosely typed for assertions. */
// biome-ignore lint/suspicious/noExplicitAny: tests assert on the shape
export async function json(response: Response): Promise<any> {
  return response.json();
}

/** What the route tests send requests to: the app itself (`app.request`, no port), or a server over HTTP. */
export interface RequestTarget {
  request(path: string, init?: RequestInit): Response | Promise<Response>;
}

/** `app.request` for a running server at `baseUrl`, so the same route tests can run against it over HTTP. */
export function httpTarget(baseUrl: string): RequestTarget {
  return { request: (path, init) => fetch(new URL(path, baseUrl), init) };
}

/** JSON POST through the app, without a port (or over HTTP with an `httpTarget`). */
export function postJson(app: RequestTarget, path: string, body: unknown) {
  return app.request(path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
}

/** Sandboxes (bwrap children of this process) still running, warm ones left out. */
export const runningSandboxes = async () => {
  // Finished one-shot sandboxes go just after the answer; warm ones still waiting (under pool pressure they preload nothing) are no leftovers.
  await Promise.all([...localBackends].map((backend) => backend.whenIdle()));
  return listSandboxProcesses({ waiting: [...localBackends].flatMap((backend) => backend.driver.waitingWarm()) });
};

/** A real server (startServer) on the local backend, on a free loopback port, with its own temporary directories. */
export interface LiveServer extends RunningServer {
  dir: string;
  /** Closes the server and removes its directories. */
  stop(): Promise<void>;
}

/** The environment of a live test server whose state lives below `dir`; `env` adds to or overrides it. */
export function liveServerEnv(dir: string, env: Record<string, string> = {}): Record<string, string> {
  return serverEnv(dir, { PORT: "0", ...env });
}

/** Starts a live test server; `stop()` (also when start-up fails) leaves nothing behind. */
export async function startLiveServer(env: Record<string, string> = {}): Promise<LiveServer> {
  const dir = await mkdtemp(join(tmpdir(), "ci-live-"));
  await chmod(dir, 0o711); // the sandbox uid reaches session workspaces below it
  const server = await startServer(loadConfig(liveServerEnv(dir, env)), createLogger({ level: "silent", format: "plain" })).catch(
    async (error) => {
      await rm(dir, { recursive: true, force: true });
      throw error;
    },
  );
  return {
    ...server,
    dir,
    stop: async () => {
      await server.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
