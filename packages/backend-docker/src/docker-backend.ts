import { BackendUnavailableError } from "@code-interpreter/core";
import { SandboxEngine, type SandboxEngineOptions, sandboxLimits, warmPoolMemoryBytes } from "@code-interpreter/core/engine";
import Dockerode from "dockerode";
import { type DockerBackendSettings, defaultDockerBackendSettings } from "./docker-backend-settings.js";
import { DockerDriver, type DockerEngineFacts } from "./docker-driver.js";
import { probeDocker } from "./probe-docker.js";
import type { DockerSession } from "./session-records.js";

/** The Docker backend: core's sandbox engine over the Docker driver. */
export class DockerBackend extends SandboxEngine<DockerSession> {
  constructor(
    readonly settings: DockerBackendSettings,
    engine: DockerEngineFacts = {},
  ) {
    super(new DockerDriver(settings, engine), dockerEngineOptions(settings));
  }
}

/**
 * The engine's configuration from the backend's settings: each container has
 * a cgroup for memory and processes; under gVisor the pids cgroup counts
 * runsc's threads, so the runner's RLIMIT_NPROC (in gVisor's kernel: this
 * sandbox's processes only) bounds the code's processes, and the memory
 * cgroup also holds gVisor's kernel and each process's overhead
 * (memoryCgroupBytes).
 */
export function dockerEngineOptions(settings: DockerBackendSettings): SandboxEngineOptions {
  return {
    limits: sandboxLimits(settings),
    cgroup: true,
    processRlimit: settings.sandboxRuntime === "gvisor",
    pool: settings.pool,
    sessionPool: settings.sessionPool,
    warmPoolMemoryBytes: warmPoolMemoryBytes(settings),
    preload: settings.preload,
    maxExecTimeoutMs: settings.maxExecTimeoutMs,
    warn: settings.warn,
    ...(settings.egress ? { egress: settings.egress } : {}),
    ...(settings.snapshots ? { snapshots: settings.snapshots } : {}),
  };
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
  return new DockerBackend(settings, { runtimeArgs: probe.runtimeArgs });
}
