import { type ContainerSandboxSettings, DEFAULT_EXECUTOR_IMAGE, defaultContainerSandboxSettings } from "@code-interpreter/core/sandbox";
import type Dockerode from "dockerode";

/** Kept here too: the name the CLI and tests import from this package. */
export { DEFAULT_EXECUTOR_IMAGE };

/**
 * Settings of the Docker backend; every field has a default. The shared ones
 * (core's ContainerSandboxSettings) are enforced per container: `memoryLimitMb`
 * as its memory with no extra swap, `cpus` as its CFS quota, `maxProcesses` as
 * its pids cgroup, `workspaceSizeMb` as each of the tmpfs `/workspace` and `/tmp`.
 * `image` defaults to PYTHON_EXECUTOR_DOCKER_IMAGE, else `code-interpreter-executor:latest`.
 */
export interface DockerBackendSettings extends ContainerSandboxSettings {
  /** Engine client. @default a client for DOCKER_HOST, else the local socket */
  docker: Dockerode;
  /** Docker network of sandboxes; anything but `none` gives code network access. @default PYTHON_EXECUTOR_DOCKER_NETWORK, else `none` */
  network: string;
  /**
   * OCI runtime of sandbox containers, as registered with the engine, e.g. `runsc` (gVisor) or
   * `kata-runtime`, which puts a second kernel boundary between code and the host. With
   * `sandboxRuntime: "gvisor"` it names the engine's gVisor runtime, `runsc` unless set.
   * @default PYTHON_EXECUTOR_DOCKER_RUNTIME, else the engine's default (runc), or `runsc` for gvisor
   */
  runtime?: string;
  /**
   * Pooled one-shot containers: each serves many executions, one at a time, each in a fresh nested sandbox
   * (bubblewrap in the container: new user, pid, mount and IPC namespaces, a fresh /proc, a wiped workspace and
   * /tmp), instead of a container created, started and removed per execution. Needs `bwrap` in the image and the
   * default runtime (runc); ignored under gVisor and for sandboxes with a way out, which stay one container each.
   * See the README's Isolation section for what it changes. @default DOCKER_ONESHOT_REUSE, else false
   */
  oneShotReuse: boolean;
  /** Longest timeout a request may ask for: bounds how long a warm sandbox may be in use (its deadline label). @default MAX_EXEC_TIMEOUT_MS, else 60 s */
  maxExecTimeoutMs: number;
}

/** The defaults; the server maps its environment onto these. */
export function defaultDockerBackendSettings(): Omit<DockerBackendSettings, "docker"> {
  return {
    ...defaultContainerSandboxSettings(),
    network: "none",
    oneShotReuse: false,
    maxExecTimeoutMs: 60_000,
  };
}

/** The engine's gVisor runtime unless `runtime` names another (the name in daemon.json). */
export const GVISOR_OCI_RUNTIME = "runsc";

/** The OCI runtime containers are created with: `runtime`, else `runsc` for gvisor, else none (the engine's default). */
export function ociRuntime(settings: Partial<Pick<DockerBackendSettings, "runtime" | "sandboxRuntime">>): string | undefined {
  if (settings.runtime) return settings.runtime;
  return settings.sandboxRuntime === "gvisor" ? GVISOR_OCI_RUNTIME : undefined;
}
