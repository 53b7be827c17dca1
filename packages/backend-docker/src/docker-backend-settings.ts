import { DEFAULT_PRELOAD } from "@code-interpreter/core";
import type Dockerode from "dockerode";

/** Image the backend runs when none is configured. */
export const DEFAULT_EXECUTOR_IMAGE = "code-interpreter-executor:latest";

/** Settings of the Docker backend; every field has a default. */
export interface DockerBackendSettings {
  /** Engine client. @default a client for DOCKER_HOST, else the local socket */
  docker: Dockerode;
  /** Image every sandbox runs; must have python3 and user 65532. @default PYTHON_EXECUTOR_DOCKER_IMAGE, else `code-interpreter-executor:latest` */
  image: string;
  /** Docker network of sandboxes; anything but `none` gives code network access. @default PYTHON_EXECUTOR_DOCKER_NETWORK, else `none` */
  network: string;
  /** @default MAX_OUTPUT_BYTES, else 1 MiB */
  maxOutputBytes: number;
  /** Memory of each container (swap included: none extra). @default MEMORY_LIMIT_MB, else 512 */
  memoryLimitMb: number;
  /** CPU time of each command (RLIMIT_CPU). @default CPU_TIME_LIMIT_SEC, else 30 */
  cpuTimeLimitSec: number;
  /** CPUs each container may use at once (CFS quota). @default 1 */
  cpus: number;
  /**
   * Largest file the code may write (RLIMIT_FSIZE, capped at the workspace's size): a bigger
   * write fails with EFBIG in the code's own traceback, and no output is too large to keep.
   * @default MAX_FILE_SIZE_MB, else 100
   */
  maxFileSizeMb: number;
  /** Size of each of the tmpfs `/workspace` and `/tmp`. @default 256 */
  workspaceSizeMb: number;
  /** Processes and threads per container (pids cgroup). @default 128 */
  maxProcesses: number;
  /** uid and gid code runs as; the image must allow it. @default 65532 */
  sandboxUid: number;
  /**
   * OCI runtime of sandbox containers, e.g. `runsc` (gVisor) or `kata-runtime`, which puts a
   * second kernel boundary between code and the host; it must be registered with the engine.
   * @default PYTHON_EXECUTOR_DOCKER_RUNTIME, else the engine's default (runc)
   */
  runtime?: string;
  /** Extra labels on every container (ours win on a clash), e.g. a deployment name. @default {} */
  labels: Record<string, string>;
  /**
   * One-shot containers started ahead of demand, each used once: `min` kept
   * warm, up to `max` under load, back to `min` after `idleTimeoutMs` without
   * requests; `false` starts a container per request.
   * @default SANDBOX_POOL_MIN, SANDBOX_POOL_MAX, SANDBOX_POOL_IDLE_TIMEOUT_SEC, else 1, 4, 60 s
   */
  pool: { min: number; max: number; idleTimeoutMs: number } | false;
  /** Longest timeout a request may ask for: bounds how long a warm sandbox may be in use (its deadline label). @default MAX_EXEC_TIMEOUT_MS, else 60 s */
  maxExecTimeoutMs: number;
  /** Modules warm sandboxes import before a request arrives. @default SANDBOX_PRELOAD, else numpy, pandas, matplotlib */
  preload: readonly string[];
  /** Receives warnings (a container that could not be removed, …). @default console.warn */
  warn: (message: string) => void;
}

/** The defaults; the server maps its environment onto these. */
export function defaultDockerBackendSettings(): Omit<DockerBackendSettings, "docker"> {
  return {
    image: DEFAULT_EXECUTOR_IMAGE,
    network: "none",
    maxOutputBytes: 1024 * 1024,
    memoryLimitMb: 512,
    cpuTimeLimitSec: 30,
    cpus: 1,
    workspaceSizeMb: 256,
    maxFileSizeMb: 100,
    maxProcesses: 128,
    maxExecTimeoutMs: 60_000,
    sandboxUid: 65532,
    labels: {},
    pool: { min: 1, max: 4, idleTimeoutMs: 60_000 },
    preload: DEFAULT_PRELOAD,
    warn: (message) => console.warn(message),
  };
}
