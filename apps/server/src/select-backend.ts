import { createDockerBackend, type DockerBackendSettings, probeDocker } from "@code-interpreter/backend-docker";
import { createKubernetesBackend, type KubernetesBackendSettings, parseSeccompProfile } from "@code-interpreter/backend-kubernetes";
import { createLocalBackend, type LocalBackendSettings } from "@code-interpreter/backend-local";
import { type Backend, BackendUnavailableError, type EgressGateway } from "@code-interpreter/core";
import type { SessionSnapshots } from "@code-interpreter/core/engine";
import type { SandboxRuntime, SandboxSettings } from "@code-interpreter/core/sandbox";
import type { Config } from "./config.js";
import type { Logger } from "./observability/logger.js";
import { RuntimeRouter } from "./runtime-router.js";

type BackendKind = "local" | "docker" | "kubernetes";

/**
 * Builds the backends the configuration asks for: one of the kind
 * EXECUTOR_BACKEND names per runtime in SANDBOX_RUNTIMES, behind a
 * RuntimeRouter (SANDBOX_RUNTIME the default). `auto` picks the kind once:
 * Docker when an engine answers and the executor image is there, the local
 * sandbox otherwise, and logs which and why. A runtime whose backend cannot
 * be built stops start-up with that runtime named; those already built are closed.
 * With `egress` (the server's egress proxy), sandboxes of requests with `network` reach out through it.
 * With `snapshots` (kept in the file store), sessions can be paused, resumed and forked.
 */
export async function selectBackend(
  config: Config,
  logger: Logger,
  egress?: EgressGateway,
  snapshots?: SessionSnapshots,
): Promise<RuntimeRouter> {
  const kind = await backendKind(config, logger);
  const backends = new Map<SandboxRuntime, Backend>();
  try {
    for (const runtime of config.SANDBOX_RUNTIMES) {
      const backend = await createBackend(kind, config, runtime, logger, egress, snapshots).catch((error: Error) => {
        if (config.SANDBOX_RUNTIMES.length === 1 && runtime === "default") throw error;
        throw new BackendUnavailableError({
          message: `the ${kind} backend cannot offer the sandbox runtime ${runtime} (SANDBOX_RUNTIMES): ${error.message}`,
          cause: error,
        });
      });
      backends.set(runtime, backend);
    }
  } catch (error) {
    await Promise.allSettled([...backends.values()].map((backend) => backend.close()));
    throw error;
  }
  return new RuntimeRouter(backends, config.SANDBOX_RUNTIME);
}

async function backendKind(config: Config, logger: Logger): Promise<BackendKind> {
  switch (config.EXECUTOR_BACKEND) {
    case "local":
    case "docker":
    case "kubernetes":
      return config.EXECUTOR_BACKEND;
    case "auto": {
      const probe = await probeDocker({ image: config.PYTHON_EXECUTOR_DOCKER_IMAGE, runtime: config.PYTHON_EXECUTOR_DOCKER_RUNTIME });
      if (probe.ok) {
        logger.info(`EXECUTOR_BACKEND=auto: using docker (engine answers, image ${config.PYTHON_EXECUTOR_DOCKER_IMAGE} present)`);
        return "docker";
      }
      logger.info(`EXECUTOR_BACKEND=auto: using the local sandbox (docker: ${probe.reason})`);
      return "local";
    }
    default:
      throw new BackendUnavailableError({
        message: `EXECUTOR_BACKEND=${config.EXECUTOR_BACKEND} is not available in this build; use auto, local, docker or kubernetes`,
      });
  }
}

function createBackend(
  kind: BackendKind,
  config: Config,
  runtime: SandboxRuntime,
  logger: Logger,
  egress?: EgressGateway,
  snapshots?: SessionSnapshots,
): Promise<Backend> {
  const withEgress = egress ? { egress } : {};
  // Snapshots go through each session's command runner (or its driver's snapshotSession), on every backend.
  const withSnapshots = snapshots ? { snapshots } : {};
  switch (kind) {
    case "local":
      return createLocalBackend({ ...localSettings(config, runtime, logger), ...withEgress, ...withSnapshots });
    case "docker":
      return createDockerBackend({ ...dockerSettings(config, runtime, logger), ...withEgress, ...withSnapshots });
    case "kubernetes":
      return createKubernetesBackend({ ...kubernetesSettings(config, runtime, logger), ...withEgress, ...withSnapshots });
  }
}

/**
 * Whether a backend-specific runtime setting (PYTHON_EXECUTOR_DOCKER_RUNTIME,
 * KUBERNETES_EXECUTOR_RUNTIME_CLASS) applies to the backend of `runtime`: to
 * gVisor's when gvisor is offered, else (as before runtimes) to every sandbox.
 */
function runtimeSettingApplies(config: Config, runtime: SandboxRuntime): boolean {
  return config.SANDBOX_RUNTIMES.includes("gvisor") ? runtime === "gvisor" : true;
}

/** What every backend takes from the same variables: limits, the warm pool, preloads, warnings, its runtime. */
function sandboxSettings(config: Config, runtime: SandboxRuntime, logger: Logger): Partial<SandboxSettings> {
  return {
    sandboxRuntime: runtime,
    pool: poolSettings(config, config.SANDBOX_POOL_MIN, config.SANDBOX_POOL_MAX),
    sessionPool: poolSettings(config, config.SESSION_POOL_MIN, config.SESSION_POOL_MAX),
    ...(config.WARM_POOL_MEMORY_MB === undefined ? {} : { warmPoolMemoryMb: config.WARM_POOL_MEMORY_MB }),
    preload: config.SANDBOX_PRELOAD,
    maxOutputBytes: config.MAX_OUTPUT_BYTES,
    memoryLimitMb: config.MEMORY_LIMIT_MB,
    cpuTimeLimitSec: config.CPU_TIME_LIMIT_SEC,
    maxFileSizeMb: config.MAX_FILE_SIZE_MB,
    warn: (message) => logger.warn(config.SANDBOX_RUNTIMES.length > 1 ? `[runtime ${runtime}] ${message}` : message),
  };
}

/** A warm pool's settings (one-shot sandboxes, or sessions'); off when its maximum is 0. */
function poolSettings(config: Config, min: number, max: number) {
  if (max === 0) return false as const;
  return {
    min: Math.min(min, max),
    max,
    idleTimeoutMs: config.SANDBOX_POOL_IDLE_TIMEOUT_SEC * 1000,
  };
}

function localSettings(config: Config, runtime: SandboxRuntime, logger: Logger): Partial<LocalBackendSettings> {
  return {
    ...sandboxSettings(config, runtime, logger),
    stateDir: config.LOCAL_STATE_DIR,
    python: config.LOCAL_PYTHON,
    ...(config.LOCAL_ROOTFS ? { rootfs: config.LOCAL_ROOTFS } : {}),
    ...(config.LOCAL_RUNSC_PATH ? { runscPath: config.LOCAL_RUNSC_PATH } : {}),
    runscPlatform: config.LOCAL_RUNSC_PLATFORM,
    forkServer: config.LOCAL_FORK_SERVER,
    sandbox: config.LOCAL_SANDBOX,
  };
}

function dockerSettings(config: Config, runtime: SandboxRuntime, logger: Logger): Partial<DockerBackendSettings> {
  return {
    ...sandboxSettings(config, runtime, logger),
    image: config.PYTHON_EXECUTOR_DOCKER_IMAGE,
    network: config.PYTHON_EXECUTOR_DOCKER_NETWORK,
    ...(config.PYTHON_EXECUTOR_DOCKER_RUNTIME && runtimeSettingApplies(config, runtime)
      ? { runtime: config.PYTHON_EXECUTOR_DOCKER_RUNTIME }
      : {}),
    oneShotReuse: config.DOCKER_ONESHOT_REUSE,
    maxExecTimeoutMs: config.MAX_EXEC_TIMEOUT_MS,
  };
}

function kubernetesSettings(
  config: Config,
  runtime: SandboxRuntime,
  logger: Logger,
): Partial<KubernetesBackendSettings> & { ownerDeployment?: string } {
  return {
    ...sandboxSettings(config, runtime, logger),
    namespace: config.KUBERNETES_EXECUTOR_NAMESPACE,
    image: config.KUBERNETES_EXECUTOR_IMAGE ?? config.PYTHON_EXECUTOR_DOCKER_IMAGE,
    serviceAccountName: config.KUBERNETES_EXECUTOR_SERVICE_ACCOUNT,
    // Left out, the backend picks its runtime's (gvisor for the gvisor runtime).
    ...(config.KUBERNETES_EXECUTOR_RUNTIME_CLASS && runtimeSettingApplies(config, runtime)
      ? { runtimeClassName: config.KUBERNETES_EXECUTOR_RUNTIME_CLASS }
      : {}),
    seccompProfile: parseSeccompProfile(config.KUBERNETES_EXECUTOR_SECCOMP_PROFILE),
    netAdminLockdown: config.KUBERNETES_EXECUTOR_NET_ADMIN_LOCKDOWN,
    ownerDeployment: config.KUBERNETES_EXECUTOR_OWNER_DEPLOYMENT,
    sessionMaxLifetimeSeconds: config.SESSION_MAX_LIFETIME_SECONDS,
  };
}
