import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Backend } from "@code-interpreter/core";
import type { FileStore } from "@code-interpreter/files";
import { type ServerType, serve } from "@hono/node-server";
import { createApp } from "./app.js";
import { assertSafeExposure } from "./auth/exposure.js";
import { KeyRing } from "./auth/key-ring.js";
import { type Config, loadConfig } from "./config.js";
import { openEgress } from "./egress.js";
import { Executions } from "./executions/executions.js";
import { openConfiguredFileStore, sessionSnapshots } from "./file-store.js";
import { answerClientErrors, requestTimeouts } from "./middleware/client-errors.js";
import { drain } from "./middleware/drain.js";
import { createLogger, type Logger } from "./observability/logger.js";
import { createMetrics, type Metrics } from "./observability/metrics.js";
import { runtimeOffer } from "./runtime-router.js";
import { selectBackend } from "./select-backend.js";
import { trialSandbox } from "./trial-sandbox.js";

export interface RunningServer {
  /** `http://host:port` the server listens on. */
  url: string;
  backend: Backend;
  /** Stops accepting requests, lets those in flight finish, stops the reaper, closes the backend. */
  close(): Promise<void>;
}

/** Everything the server runs except its listening socket: the app, the backend under it, the reaper. */
export interface Service {
  /** The Hono app: `app.fetch(request)` serves a request in-process. */
  app: ReturnType<typeof createApp>;
  backend: Backend;
  /** Stops the reaper and closes the backend. */
  close(): Promise<void>;
}

/**
 * Picks the backend (one per runtime offered, behind a RuntimeRouter) and runs
 * a trial sandbox in every runtime (trialSandbox: start-up fails with the
 * runtime and the reason when one cannot run code), opens the file store, reaps
 * once at start-up and then every REAPER_INTERVAL_SEC, and builds the app. startServer listens on top of
 * it; `code-interpreter mcp` serves it over stdio without a port.
 */
export async function openService(config: Config, logger: Logger, keys: KeyRing = KeyRing.load(config)): Promise<Service> {
  // The egress proxy comes first (the backends' engines open ways out through it); its decisions are counted once metrics exist.
  let metrics: Metrics | undefined;
  const egress = await openEgress(config, (tenant, allowed) => metrics?.observeEgressAttempt(tenant, allowed));
  // Paused sessions' snapshots live in the file store, opened after the backends (which make their state directories first).
  let store: FileStore | undefined;
  const snapshots = sessionSnapshots(config, () => store, logger);
  const backend = await selectBackend(config, logger, egress?.gateway, snapshots).catch(async (error) => {
    await egress?.gateway.close().catch(() => {});
    throw error;
  });
  // A backend that cannot run code (an engine that refuses the runtime, a missing image, …) stops start-up, with the reason.
  await trialSandbox(backend).catch(async (error) => {
    await backend.close().catch(() => {});
    await egress?.gateway.close().catch(() => {});
    throw error;
  });
  if (egress && backend.capabilities.egress === true) {
    logger.info(
      { allow: config.egress.allowOut ?? ["*"], secrets: egress.offer.secrets.map((secret) => secret.name) },
      "network egress offered",
    );
  } else if (egress && config.egress.allowOut) {
    // Said only when the operator asked for egress: by default a backend without it simply offers none.
    logger.info(
      { allow: config.egress.allowOut },
      `network egress configured, but the ${backend.name} backend cannot give sandboxes a way out yet`,
    );
  }
  store = await openConfiguredFileStore(config, logger);
  metrics = createMetrics({ backend, store });
  const reap = async () => {
    try {
      const sessions = await backend.reapExpiredSessions();
      metrics.observeReaped(sessions.length);
      // Expired files, and expired records (idempotent answers, executions' results and events).
      const files = await store.purgeExpired();
      if (sessions.length || files) logger.info({ sessions: sessions.length, files }, "reaped");
    } catch (error) {
      logger.warn({ err: error }, "reaper failed");
    }
  };
  await reap();
  const reaper = setInterval(reap, config.REAPER_INTERVAL_SEC * 1000);
  reaper.unref();
  let executions: Executions | undefined;
  const app = createApp({
    backend,
    store,
    config,
    logger,
    metrics,
    keys,
    snapshots,
    ...(egress ? { egress: egress.offer } : {}),
    executions: (slots) => {
      executions = new Executions({ records: store.records, slots, logger, resultTtlSeconds: config.EXECUTION_RESULT_TTL_SECONDS });
      return executions;
    },
  });
  return {
    app,
    backend,
    close: async () => {
      clearInterval(reaper);
      // Background executions still running end `failed` (the server stopped), recorded before their sandboxes go.
      await executions?.close();
      await backend.close();
      // After the backend: every sandbox's way out is closed by then; this stops the proxy itself.
      await egress?.gateway.close();
      await store.close();
    },
  };
}

/**
 * Starts the HTTP server: picks the backend, opens the file store, reaps
 * once at start-up and then every REAPER_INTERVAL_SEC.
 */
export async function startServer(
  config: Config = loadConfig(),
  logger: Logger = createLogger({ level: config.LOG_LEVEL, format: config.LOG_FORMAT }),
): Promise<RunningServer> {
  const keys = KeyRing.load(config);
  assertSafeExposure(config, keys, logger);
  const { app, backend, close: closeService } = await openService(config, logger, keys);
  const server = await new Promise<ServerType>((resolve, reject) => {
    const instance = serve(
      { fetch: app.fetch, hostname: config.HOST, port: config.PORT, serverOptions: requestTimeouts(config.REQUEST_TIMEOUT_MS) },
      () => resolve(instance),
    );
    answerClientErrors(instance as Server);
    instance.once("error", reject);
  });
  const address = server.address() as AddressInfo;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}`;
  logger.info({ url, backend: backend.name, runtimes: runtimeOffer(backend).runtimes }, "listening");

  let closing: Promise<void> | undefined;
  return {
    url,
    backend,
    close: () => {
      closing ??= (async () => {
        // Executions in flight finish (they are bounded by MAX_EXEC_TIMEOUT_MS); past that they are cut.
        await drain(server as Server, config.MAX_EXEC_TIMEOUT_MS + 5000);
        await closeService();
        logger.info("stopped");
      })();
      return closing;
    },
  };
}
