import {
  BACKEND_SPECIFICATION_VERSION,
  type Backend,
  type BackendHealth,
  BackendUnavailableError,
  type CommandResult,
  type CreateSessionOptions,
  commandResult,
  type ExecuteOptions,
  type ExecutionResult,
  executionResult,
  isSessionId,
  KeyedQueue,
  kernelArgv,
  newExecName,
  newSessionId,
  planExecution,
  planPythonCell,
  planSessionCommand,
  type RunnerPlanSettings,
  SANDBOX_ENV,
  type SessionCommandOptions,
  type SessionInfo,
  SessionKernels,
  SessionNotFoundError,
  sessionInfo,
  unixNow,
  WarmPool,
  WORKSPACE_DIR,
  type WorkspaceFileContent,
} from "@code-interpreter/core";
import Dockerode from "dockerode";
import { keepaliveContainerSpec, sessionContainerSpec } from "./container-spec.js";
import { type DockerBackendSettings, defaultDockerBackendSettings } from "./docker-backend-settings.js";
import { toBackendError } from "./engine-errors.js";
import { startKernel } from "./kernel-exec.js";
import { probeDocker } from "./probe-docker.js";
import { reap, removeContainer, removeSession } from "./reaper.js";
import { oneShotLifetime, runByExec, runInSandbox, type StartedSandbox, startSandbox } from "./sandbox-runs.js";
import { type SessionRecord, takeInventory } from "./session-records.js";

const MB = 1024 * 1024;
/** A warm sandbox is replaced after this long unused. */
const WARM_MAX_AGE_SECONDS = 600;
/**
 * Deadline label of warm sandboxes: their age limit, then the longest use a request may make of
 * one (MAX_EXEC_TIMEOUT_MS, the backstop and time to start). A crashed server's warm sandboxes
 * stop long before it, when their runner sees the connection drop, and go at the reaper's next pass.
 */
const warmLifetimeSeconds = (maxExecTimeoutMs: number) => WARM_MAX_AGE_SECONDS + oneShotLifetime({ timeoutMs: maxExecTimeoutMs });

/**
 * Runs each execution in a fresh, hardened container that is removed
 * afterwards, and each session in a long-lived container that commands reach
 * by exec. All state lives on the containers (names and labels), so a
 * restarted server or a second replica finds and reaps what another left.
 */
export class DockerBackend implements Backend {
  readonly specificationVersion = BACKEND_SPECIFICATION_VERSION;
  readonly name = "docker";
  readonly capabilities = { sessions: true, statefulPython: true };
  /** Running one-shot containers, by name, with their kill switch. */
  private readonly live = new Map<string, () => Promise<void>>();
  private readonly pending = new Set<Promise<unknown>>();
  /** Python kernels of sessions, by session id (started lazily). */
  private readonly kernels = new SessionKernels();
  /** Removals of finished one-shot containers, still under way. */
  private readonly removals = new Set<Promise<void>>();
  private readonly pool: WarmPool<StartedSandbox> | undefined;
  private closed = false;
  private readonly sessionQueue = new KeyedQueue();
  /** Sessions being deleted right now: their commands fail on purpose. */
  private readonly removing = new Set<string>();

  constructor(readonly settings: DockerBackendSettings) {
    if (settings.pool) {
      const env = this.sandboxEnv();
      this.pool = new WarmPool({
        ...settings.pool,
        // Preloading costs each warm container about a CPU-second: when refills cannot keep up, skip it.
        create: () =>
          startSandbox(settings, newExecName(), {
            lifetimeSeconds: warmLifetimeSeconds(settings.maxExecTimeoutMs),
            env,
            preload: this.pool?.underPressure ? [] : settings.preload,
            warm: true,
          }),
        destroy: (sandbox) => {
          sandbox.stream.destroy();
          return removeContainer(settings.docker, sandbox.name);
        },
        maxAgeMs: WARM_MAX_AGE_SECONDS * 1000,
        onError: (error) => settings.warn(`could not start a warm sandbox: ${(error as Error).message}`),
      });
    }
  }

  execute(options: ExecuteOptions): Promise<ExecutionResult> {
    return this.track(async () => {
      const started = Date.now();
      const request = planExecution(options, this.planSettings());
      options.signal?.throwIfAborted();
      let sandbox = this.pool?.take();
      // A warm sandbox whose engine connection broke (the engine restarted) can never answer: start a fresh one.
      if (sandbox && (sandbox.stream.destroyed || sandbox.stream.readableEnded)) {
        const broken = sandbox;
        sandbox = undefined;
        this.background(removeContainer(this.settings.docker, broken.name).catch(() => {}));
      }
      try {
        sandbox ??= await startSandbox(this.settings, newExecName(), { lifetimeSeconds: oneShotLifetime(request), env: request.env });
        const sandboxWaitMs = Date.now() - started;
        const result = await runInSandbox(
          this.settings,
          sandbox,
          { request, onOutput: options.onOutput, signal: options.signal },
          this.live,
          (removal) => this.background(removal),
        );
        return { ...executionResult(options, result, Date.now() - started), sandboxWaitMs };
      } finally {
        this.pool?.release();
      }
    });
  }

  createSession(options: CreateSessionOptions): Promise<SessionInfo> {
    return this.track(async () => {
      const id = newSessionId();
      const expiresAt = unixNow() + options.ttlSeconds;
      const container = await this.settings.docker.createContainer(sessionContainerSpec(this.settings, id, expiresAt, options.tenant));
      try {
        await container.start();
        if (options.files.length > 0) {
          await runByExec(this.settings, container.id, {
            request: { cwd: WORKSPACE_DIR, files: options.files, maxOutputBytes: this.settings.maxOutputBytes },
            signal: options.signal,
          });
        }
      } catch (error) {
        await removeContainer(this.settings.docker, container.id).catch(() => {});
        throw error;
      }
      return sessionInfo({ id, expiresAt, tenant: options.tenant });
    });
  }

  async getSession(sessionId: string): Promise<SessionInfo> {
    return sessionInfo(await this.findSession(sessionId));
  }

  async listSessions(): Promise<SessionInfo[]> {
    const inventory = await this.engine(() => takeInventory(this.settings.docker));
    return [...inventory.sessions.values()].map(sessionInfo);
  }

  /** Labels cannot change, so the new expiry goes on a keepalive record; older records are removed. */
  async extendSession(sessionId: string, ttlSeconds: number): Promise<SessionInfo> {
    const record = await this.liveSession(sessionId);
    const expiresAt = unixNow() + ttlSeconds;
    await this.engine(() => this.settings.docker.createContainer(keepaliveContainerSpec(this.settings, sessionId, expiresAt)));
    await Promise.all(record.keepalives.map((id) => removeContainer(this.settings.docker, id).catch(() => {})));
    return sessionInfo({ id: sessionId, expiresAt, tenant: record.tenant });
  }

  async deleteSession(sessionId: string): Promise<void> {
    const record = await this.findSession(sessionId);
    this.kernels.forget(sessionId);
    this.removing.add(sessionId);
    try {
      await this.engine(() => removeSession(this.settings.docker, record));
    } finally {
      this.removing.delete(sessionId);
    }
  }

  /** Commands of one session run one at a time, in arrival order, so they never interleave in its workspace. */
  runInSession(options: SessionCommandOptions): Promise<CommandResult> {
    return this.sessionQueue.run(options.sessionId, async () => {
      try {
        return await this.runInLiveSession(options);
      } catch (error) {
        if (SessionNotFoundError.isInstance(error) || (await this.stillRunning(options.sessionId))) throw error;
        // Deleted or reaped while it ran, which killed its container: say so rather than "engine failed".
        throw new SessionNotFoundError({
          message: `Session ${JSON.stringify(options.sessionId)} was deleted while the command ran`,
          cause: error,
        });
      }
    });
  }

  /**
   * Whether a session is still usable after one of its commands failed: not being deleted here, not
   * expired, and its container still running a moment later (another replica's removal takes a moment to show).
   */
  private async stillRunning(sessionId: string): Promise<boolean> {
    for (let attempt = 0; attempt < 3; attempt++) {
      if (this.removing.has(sessionId)) return false;
      const record = await this.findSession(sessionId).catch(() => undefined);
      if (record?.state !== "running" || record.expiresAt <= unixNow()) return false;
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
    return true;
  }

  private runInLiveSession(options: SessionCommandOptions): Promise<CommandResult> {
    return this.track(async () => {
      const record = await this.liveSession(options.sessionId);
      const started = Date.now();
      if (options.language === "python") {
        const kernel = await this.kernels.get(record.id, () =>
          startKernel(this.settings, record.containerId, kernelArgv("python3", this.planSettings().limits), this.sandboxEnv()),
        );
        const result = await kernel.run(planPythonCell(options, this.planSettings()), {
          onOutput: options.onOutput,
          signal: options.signal,
        });
        return commandResult(result, Date.now() - started);
      }
      const request = planSessionCommand(options, this.planSettings());
      const result = await runByExec(this.settings, record.containerId, { request, onOutput: options.onOutput, signal: options.signal });
      return commandResult(result, Date.now() - started);
    });
  }

  readSessionFiles(sessionId: string): Promise<WorkspaceFileContent[]> {
    return this.track(async () => {
      const record = await this.liveSession(sessionId);
      const request = {
        cwd: WORKSPACE_DIR,
        snapshot: true,
        maxOutputBytes: this.settings.maxOutputBytes,
        maxSnapshotBytes: this.settings.workspaceSizeMb * MB,
      };
      return (await runByExec(this.settings, record.containerId, { request })).snapshot;
    });
  }

  /** The engine answers and the executor image is there; otherwise what to do about it (for `GET /health`). */
  async health(): Promise<BackendHealth> {
    const probe = await probeDocker(this.settings);
    return probe.ok ? { ok: true } : { ok: false, detail: probe.reason };
  }

  reapExpiredSessions(): Promise<string[]> {
    return this.engine(() => reap(this.settings.docker, this.settings.warn, unixNow()));
  }

  /** Resolves when the containers of finished executions have been removed (they go after the answer). */
  async whenIdle(): Promise<void> {
    while (this.removals.size > 0) await Promise.allSettled([...this.removals]);
  }

  /** Kills running one-shot containers and waits for their removal; sessions stay for the next server. */
  async close(): Promise<void> {
    this.closed = true;
    await this.pool?.close();
    // Kernels end with their streams; the sessions' files stay for the next server.
    this.kernels.forgetAll();
    await Promise.all([...this.live.values()].map((kill) => kill().catch(() => {})));
    await Promise.allSettled([...this.pending]);
    await this.whenIdle();
  }

  private background(removal: Promise<void>): void {
    this.removals.add(removal);
    removal.finally(() => this.removals.delete(removal));
  }

  private planSettings(): RunnerPlanSettings {
    return {
      python: "python3",
      maxOutputBytes: this.settings.maxOutputBytes,
      // Memory and processes are the cgroup's job: RLIMIT_AS breaks programs that reserve address
      // space, and RLIMIT_NPROC counts every process of the uid on the host, not the container's.
      limits: {
        cpuSeconds: this.settings.cpuTimeLimitSec,
        fileSizeBytes: Math.min(this.settings.maxFileSizeMb, this.settings.workspaceSizeMb) * MB,
        openFiles: 1024,
      },
      env: { OPENBLAS_NUM_THREADS: String(Math.max(1, Math.ceil(this.settings.cpus))) },
      maxSnapshotBytes: this.settings.workspaceSizeMb * MB,
    };
  }

  /** The code's environment, which warm sandboxes start with (preloaded modules read it). */
  private sandboxEnv(): Record<string, string> {
    return { ...SANDBOX_ENV, ...this.planSettings().env };
  }

  /** Runs an operation, refusing new work after close() and mapping engine errors. */
  private track<T>(operation: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new BackendUnavailableError({ message: "the Docker backend is shutting down" }));
    const promise = this.engine(operation);
    this.pending.add(promise);
    const forget = () => this.pending.delete(promise);
    promise.then(forget, forget);
    return promise;
  }

  private async engine<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      throw toBackendError(error, this.settings.docker, this.settings.image, this.settings.runtime);
    }
  }

  /** The session's Python kernel, started on first use (and again after it ended). */
  /** A session of ours by id: the exact name, with our labels. Anything else is "not found". */
  private async findSession(sessionId: string): Promise<SessionRecord> {
    const notFound = () => new SessionNotFoundError({ message: `Session ${JSON.stringify(sessionId)} not found` });
    if (!isSessionId(sessionId)) throw notFound();
    const inventory = await this.engine(() => takeInventory(this.settings.docker));
    const record = inventory.sessions.get(sessionId);
    if (!record) throw notFound();
    return record;
  }

  /** A session that can run commands; an expired or stopped one is removed on the spot. */
  private async liveSession(sessionId: string): Promise<SessionRecord> {
    const record = await this.findSession(sessionId);
    if (record.expiresAt <= unixNow() || record.state !== "running") {
      await this.engine(() => removeSession(this.settings.docker, record));
      throw new SessionNotFoundError({ message: `Session ${JSON.stringify(sessionId)} has expired` });
    }
    return record;
  }
}

/**
 * Connects to the engine (DOCKER_HOST, else the local socket) and checks that
 * it answers and that the executor image exists; throws BackendUnavailableError
 * saying how to fix it otherwise.
 */
export async function createDockerBackend(overrides: Partial<DockerBackendSettings> = {}): Promise<DockerBackend> {
  const settings: DockerBackendSettings = { ...defaultDockerBackendSettings(), ...overrides, docker: overrides.docker ?? new Dockerode() };
  const probe = await probeDocker(settings);
  if (!probe.ok) throw new BackendUnavailableError({ message: probe.reason });
  return new DockerBackend(settings);
}
