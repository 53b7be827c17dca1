import {
  BACKEND_SPECIFICATION_VERSION,
  type Backend,
  BackendUnavailableError,
  type CommandResult,
  type CreateSessionOptions,
  commandResult,
  EXPIRES_AT_KEY,
  type ExecuteOptions,
  type ExecutionResult,
  executionResult,
  isSessionId,
  KeyedQueue,
  newExecName,
  newSessionId,
  planExecution,
  planPythonCell,
  planSessionCommand,
  type RunnerPlanSettings,
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
import { startKernel } from "./kernel-exec.js";
import { KubeApi } from "./kube-api.js";
import { defaultKubernetesBackendSettings, type KubernetesBackendSettings } from "./kubernetes-backend-settings.js";
import { defaultNamespace, loadKubeConfig } from "./load-kube-config.js";
import { sessionPodSpec } from "./pod-spec.js";
import { waitForRunning } from "./pod-startup.js";
import { reap } from "./reaper.js";
import { oneShotLifetime, runByExec, runInPod, type StartedPod, startPod, useSeconds } from "./sandbox-runs.js";
import { hasEnded, SESSION_SELECTOR, type SessionRecord, sessionRecord } from "./session-records.js";

const MB = 1024 * 1024;
/** A warm pod is replaced after this long unused. */
const WARM_MAX_AGE_SECONDS = 600;
/** The longest use of a warm pod: a request whose timeout needs more takes a fresh pod. */
const WARM_USE_SECONDS = 3600;

/**
 * Runs each execution in a fresh, hardened pod that is deleted afterwards
 * (taken from a pool of pods started ahead of demand when there is one), and
 * each session in a long-lived pod that commands reach by exec, with a
 * Python kernel kept open by exec for stateful Python. All state lives on
 * the pods (names, labels, annotations), so a restarted server or a second
 * replica finds and reaps what another left.
 */
export class KubernetesBackend implements Backend {
  readonly specificationVersion = BACKEND_SPECIFICATION_VERSION;
  readonly name = "kubernetes";
  readonly capabilities = { sessions: true, statefulPython: true };
  readonly api: KubeApi;
  /** Running one-shot pods, by name, with their kill switch. */
  private readonly live = new Map<string, () => Promise<void>>();
  private readonly pending = new Set<Promise<unknown>>();
  /** Python kernels of sessions, by session id (started lazily). */
  private readonly kernels = new SessionKernels();
  private readonly sessionQueue = new KeyedQueue();
  private readonly pool: WarmPool<StartedPod> | undefined;
  private closed = false;

  constructor(readonly settings: KubernetesBackendSettings) {
    this.api = new KubeApi(settings.kubeConfig, settings.namespace, settings.apiTimeoutMs);
    if (settings.pool) {
      const lifetimeSeconds = WARM_MAX_AGE_SECONDS + WARM_USE_SECONDS + Math.ceil(settings.podStartTimeoutMs / 1000);
      this.pool = new WarmPool({
        ...settings.pool,
        // Until a warm pod is used its expiry is its age limit: the reaper takes one an earlier
        // server left soon after, while the kubelet's deadline leaves room for the longest use.
        // Preloading costs each warm pod about a CPU-second: when refills cannot keep up, skip it.
        create: () =>
          startPod(this.api, settings, newExecName(), {
            lifetimeSeconds,
            expiresAt: unixNow() + WARM_MAX_AGE_SECONDS + Math.ceil(settings.podStartTimeoutMs / 1000),
            preload: this.pool?.underPressure ? [] : settings.preload,
            warm: true,
          }),
        destroy: async (pod) => {
          pod.connection.close();
          await this.api
            .deletePod(pod.name)
            .catch((error: Error) => settings.warn(`could not delete the pod ${pod.name}: ${error.message}`));
        },
        maxAgeMs: WARM_MAX_AGE_SECONDS * 1000,
        onError: (error) => settings.warn(`could not start a warm pod: ${(error as Error).message}`),
      });
    }
  }

  /** Warm pods ready for a request right now (0 without a pool): for metrics and tests. */
  get warmPodCount(): number {
    return this.pool?.size ?? 0;
  }

  execute(options: ExecuteOptions): Promise<ExecutionResult> {
    return this.track(async () => {
      const started = Date.now();
      const request = planExecution(options, this.planSettings());
      options.signal?.throwIfAborted();
      // Every warm pod can serve WARM_USE_SECONDS more (older ones are replaced): a longer request leaves them be.
      const pool = useSeconds(request) <= WARM_USE_SECONDS ? this.pool : undefined;
      let pod = pool && this.takeWarm(pool, useSeconds(request));
      try {
        pod ??= await startPod(this.api, this.settings, newExecName(), {
          lifetimeSeconds: oneShotLifetime(this.settings, request),
          expiresAt: unixNow() + oneShotLifetime(this.settings, request),
          signal: options.signal,
        });
        const sandboxWaitMs = Date.now() - started;
        const result = await runInPod(
          this.api,
          this.settings,
          pod,
          { request, onOutput: options.onOutput, signal: options.signal },
          this.live,
        );
        return { ...executionResult(options, result, Date.now() - started), sandboxWaitMs };
      } finally {
        pool?.release();
      }
    });
  }

  createSession(options: CreateSessionOptions): Promise<SessionInfo> {
    return this.track(async () => {
      const id = newSessionId();
      const expiresAt = unixNow() + Math.min(options.ttlSeconds, this.settings.sessionMaxLifetimeSeconds);
      await this.api.createPod(sessionPodSpec(this.settings, id, expiresAt, options.tenant));
      try {
        await waitForRunning(this.api, id, this.settings.podStartTimeoutMs, options.signal);
        if (options.files.length > 0) {
          await runByExec(this.api, this.settings, id, {
            request: { cwd: WORKSPACE_DIR, files: options.files, maxOutputBytes: this.settings.maxOutputBytes },
            signal: options.signal,
          });
        }
      } catch (error) {
        await this.api.deletePod(id).catch(() => {});
        throw error;
      }
      return sessionInfo({ id, expiresAt, tenant: options.tenant });
    });
  }

  async getSession(sessionId: string): Promise<SessionInfo> {
    return sessionInfo(await this.findSession(sessionId));
  }

  async listSessions(): Promise<SessionInfo[]> {
    const pods = await this.api.listPods(SESSION_SELECTOR);
    return pods.flatMap((pod) => {
      const record = sessionRecord(pod);
      return record ? [sessionInfo(record)] : [];
    });
  }

  /**
   * Moves the expiry annotation. The kubelet still stops the pod at its
   * `activeDeadlineSeconds` (which cannot be raised on a running pod), so the
   * new expiry is capped there and the answer says so.
   */
  async extendSession(sessionId: string, ttlSeconds: number): Promise<SessionInfo> {
    const record = await this.liveSession(sessionId);
    const expiresAt = Math.min(unixNow() + ttlSeconds, record.latestExpiry);
    await this.api.patchAnnotations(sessionId, { [EXPIRES_AT_KEY]: String(expiresAt) });
    return sessionInfo({ id: sessionId, expiresAt, tenant: record.tenant });
  }

  async deleteSession(sessionId: string): Promise<void> {
    const record = await this.findSession(sessionId);
    this.kernels.forget(sessionId);
    if (!(await this.api.deletePod(record.id))) throw notFound(sessionId);
  }

  /** Commands of one session run one at a time, in arrival order, so they never interleave in its workspace. */
  runInSession(options: SessionCommandOptions): Promise<CommandResult> {
    return this.sessionQueue.run(options.sessionId, () => this.runInLiveSession(options));
  }

  private runInLiveSession(options: SessionCommandOptions): Promise<CommandResult> {
    return this.track(async () => {
      const record = await this.liveSession(options.sessionId);
      const started = Date.now();
      if (options.language === "python") {
        const kernel = await this.kernels.get(record.id, () =>
          startKernel(this.api, this.settings, record.id, this.planSettings().limits ?? {}),
        );
        const result = await kernel.run(planPythonCell(options, this.planSettings()), {
          onOutput: options.onOutput,
          signal: options.signal,
        });
        return commandResult(result, Date.now() - started);
      }
      const request = planSessionCommand(options, this.planSettings());
      const result = await runByExec(this.api, this.settings, record.id, { request, onOutput: options.onOutput, signal: options.signal });
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
      return (await runByExec(this.api, this.settings, record.id, { request })).snapshot;
    });
  }

  reapExpiredSessions(): Promise<string[]> {
    return reap(this.api, this.settings.warn, unixNow());
  }

  /** Deletes warm and running one-shot pods and waits for them; sessions stay for the next server. */
  async close(): Promise<void> {
    this.closed = true;
    await this.pool?.close();
    // Kernels end with their sockets; the sessions' files stay for the next server.
    this.kernels.forgetAll();
    await Promise.all([...this.live.values()].map((kill) => kill().catch(() => {})));
    await Promise.allSettled([...this.pending]);
  }

  private planSettings(): RunnerPlanSettings {
    return {
      python: "python3",
      maxOutputBytes: this.settings.maxOutputBytes,
      // Memory is the pod's limit; processes are the kubelet's podPidsLimit: RLIMIT_NPROC would
      // count every process of uid 65532 on the node, across pods.
      limits: {
        cpuSeconds: this.settings.cpuTimeLimitSec,
        fileSizeBytes: Math.min(this.settings.maxFileSizeMb, this.settings.workspaceSizeMb) * MB,
        openFiles: 1024,
      },
      env: { OPENBLAS_NUM_THREADS: String(Math.max(1, Math.ceil(this.settings.cpus))) },
      maxSnapshotBytes: this.settings.workspaceSizeMb * MB,
    };
  }

  /** Runs an operation, refusing new work after close(). */
  private track<T>(operation: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new BackendUnavailableError({ message: "the Kubernetes backend is shutting down" }));
    const promise = operation();
    this.pending.add(promise);
    const forget = () => this.pending.delete(promise);
    promise.then(forget, forget);
    return promise;
  }

  /**
   * A warm pod that can serve a request needing `seconds` more, or undefined
   * (then a fresh one is made). One that cannot (its runner went away, or its
   * deadline is too near) is deleted in the background.
   */
  private takeWarm(pool: WarmPool<StartedPod>, seconds: number): StartedPod | undefined {
    const pod = pool.take();
    if (!pod) return undefined;
    if (!pod.connection.isClosed && pod.deadline - unixNow() > seconds) return pod;
    pod.connection.close();
    void this.api.deletePod(pod.name).catch((error: Error) => this.settings.warn(`could not delete the pod ${pod.name}: ${error.message}`));
    return undefined;
  }

  /** The session's Python kernel, started on first use (and again after it ended). */
  /** A session of ours by id: the exact name, with our labels. Anything else is "not found". */
  private async findSession(sessionId: string): Promise<SessionRecord> {
    if (!isSessionId(sessionId)) throw notFound(sessionId);
    const pod = await this.api.readPod(sessionId);
    const record = pod && sessionRecord(pod);
    if (!record) throw notFound(sessionId);
    return record;
  }

  /** A session that can run commands; an expired or ended one is deleted on the spot. */
  private async liveSession(sessionId: string): Promise<SessionRecord> {
    const record = await this.findSession(sessionId);
    if (Math.min(record.expiresAt, record.latestExpiry) <= unixNow() || hasEnded(record.phase)) {
      this.kernels.forget(record.id);
      await this.api.deletePod(record.id);
      throw new SessionNotFoundError({ message: `Session ${JSON.stringify(sessionId)} has expired` });
    }
    if (record.phase !== "Running") await waitForRunning(this.api, record.id, this.settings.podStartTimeoutMs);
    return record;
  }
}

function notFound(sessionId: string): SessionNotFoundError {
  return new SessionNotFoundError({ message: `Session ${JSON.stringify(sessionId)} not found` });
}

/**
 * Connects to the API (in-cluster service account, else the default
 * kubeconfig, unless `kubeConfig` is given), resolves the owner Deployment
 * named by `ownerDeployment`, and checks that pods can be listed in the
 * namespace; throws BackendUnavailableError saying how to fix it otherwise.
 */
export async function createKubernetesBackend(
  overrides: Partial<KubernetesBackendSettings> & { ownerDeployment?: string } = {},
): Promise<KubernetesBackend> {
  const { ownerDeployment, ...rest } = overrides;
  let kubeConfig = rest.kubeConfig;
  if (!kubeConfig) {
    try {
      kubeConfig = loadKubeConfig();
    } catch (error) {
      throw new BackendUnavailableError({ message: `no Kubernetes configuration: ${(error as Error).message}`, cause: error });
    }
  }
  const settings: KubernetesBackendSettings = {
    ...defaultKubernetesBackendSettings(),
    ...rest,
    kubeConfig,
    namespace: rest.namespace || defaultNamespace(kubeConfig),
  };
  // Checked before the backend exists: its warm pool starts making pods at once, with the owner.
  const api = new KubeApi(kubeConfig, settings.namespace, settings.apiTimeoutMs);
  await api.listPods(SESSION_SELECTOR);
  if (ownerDeployment && !settings.owner) settings.owner = await api.readDeployment(ownerDeployment);
  return new KubernetesBackend(settings);
}
