import { createDockerBackend, type DockerBackendSettings, probeDocker } from "@code-interpreter/backend-docker";
import { createKubernetesBackend, type KubernetesBackendSettings, parseSeccompProfile } from "@code-interpreter/backend-kubernetes";
import { createLocalBackend, type LocalBackendSettings } from "@code-interpreter/backend-local";
import { type Backend, BackendUnavailableError } from "@code-interpreter/core";
import type { SandboxSettings } from "@code-interpreter/core/sandbox";
import type { Config } from "./config.js";
import type { Logger } from "./observability/logger.js";

/**
 * Builds the backend EXECUTOR_BACKEND names. `auto` takes Docker when an
 * engine answers and the executor image is there, the local sandbox
 * otherwise, and logs which and why.
 */
export async function selectBackend(config: Config, logger: Logger): Promise<Backend> {
  switch (config.EXECUTOR_BACKEND) {
    case "local":
      return createLocalBackend(localSettings(config, logger));
    case "docker":
      return createDockerBackend(dockerSettings(config, logger));
    case "kubernetes":
      return createKubernetesBackend(kubernetesSettings(config, logger));
    case "auto": {
      const probe = await probeDocker({ image: config.PYTHON_EXECUTOR_DOCKER_IMAGE, runtime: config.PYTHON_EXECUTOR_DOCKER_RUNTIME });
      if (probe.ok) {
        logger.info(`EXECUTOR_BACKEND=auto: using docker (engine answers, image ${config.PYTHON_EXECUTOR_DOCKER_IMAGE} present)`);
        return createDockerBackend(dockerSettings(config, logger));
      }
      logger.info(`EXECUTOR_BACKEND=auto: using the local sandbox (docker: ${probe.reason})`);
      return createLocalBackend(localSettings(config, logger));
    }
    default:
      throw new BackendUnavailableError({
        message: `EXECUTOR_BACKEND=${config.EXECUTOR_BACKEND} is not available in this build; use auto, local, docker or kubernetes`,
      });
  }
}

/** What every backend takes from the same variables: limits, the warm pool, preloads, warnings. */
function sandboxSettings(config: Config, logger: Logger): Partial<SandboxSettings> {
  return {
    pool: poolSettings(config, config.SANDBOX_POOL_MIN, config.SANDBOX_POOL_MAX),
    sessionPool: poolSettings(config, config.SESSION_POOL_MIN, config.SESSION_POOL_MAX),
    preload: config.SANDBOX_PRELOAD,
    maxOutputBytes: config.MAX_OUTPUT_BYTES,
    memoryLimitMb: config.MEMORY_LIMIT_MB,
    cpuTimeLimitSec: config.CPU_TIME_LIMIT_SEC,
    maxFileSizeMb: config.MAX_FILE_SIZE_MB,
    warn: (message) => logger.warn(message),
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

function localSettings(config: Config, logger: Logger): Partial<LocalBackendSettings> {
  return {
    ...sandboxSettings(config, logger),
    stateDir: config.LOCAL_STATE_DIR,
    python: config.LOCAL_PYTHON,
    ...(config.LOCAL_ROOTFS ? { rootfs: config.LOCAL_ROOTFS } : {}),
    sandbox: config.LOCAL_SANDBOX,
  };
}

function dockerSettings(config: Config, logger: Logger): Partial<DockerBackendSettings> {
  return {
    ...sandboxSettings(config, logger),
    image: config.PYTHON_EXECUTOR_DOCKER_IMAGE,
    network: config.PYTHON_EXECUTOR_DOCKER_NETWORK,
    ...(config.PYTHON_EXECUTOR_DOCKER_RUNTIME ? { runtime: config.PYTHON_EXECUTOR_DOCKER_RUNTIME } : {}),
    maxExecTimeoutMs: config.MAX_EXEC_TIMEOUT_MS,
  };
}

function kubernetesSettings(config: Config, logger: Logger): Partial<KubernetesBackendSettings> & { ownerDeployment?: string } {
  return {
    ...sandboxSettings(config, logger),
    namespace: config.KUBERNETES_EXECUTOR_NAMESPACE,
    image: config.KUBERNETES_EXECUTOR_IMAGE ?? config.PYTHON_EXECUTOR_DOCKER_IMAGE,
    serviceAccountName: config.KUBERNETES_EXECUTOR_SERVICE_ACCOUNT,
    runtimeClassName: config.KUBERNETES_EXECUTOR_RUNTIME_CLASS,
    seccompProfile: parseSeccompProfile(config.KUBERNETES_EXECUTOR_SECCOMP_PROFILE),
    netAdminLockdown: config.KUBERNETES_EXECUTOR_NET_ADMIN_LOCKDOWN,
    ownerDeployment: config.KUBERNETES_EXECUTOR_OWNER_DEPLOYMENT,
    sessionMaxLifetimeSeconds: config.SESSION_MAX_LIFETIME_SECONDS,
  };
}
