import type { SessionSnapshots } from "../engine/session-snapshots.js";
import type { EgressGateway } from "../network/egress.js";
import type { SandboxRuntime } from "./runtimes.js";

const MB = 1024 * 1024;

/** Modules a warm sandbox loads before its request arrives: the data stack. */
export const DEFAULT_PRELOAD = ["numpy", "pandas", "matplotlib", "matplotlib.pyplot"] as const;

/** Image the container backends (Docker, Kubernetes) run when none is configured. */
export const DEFAULT_EXECUTOR_IMAGE = "code-interpreter-executor:latest";

/** The warm pool of one-shot sandboxes: `min` kept warm, up to `max` under load, back to `min` after `idleTimeoutMs` without requests. */
export interface SandboxPoolSettings {
  min: number;
  max: number;
  idleTimeoutMs: number;
}

/**
 * The limits and behaviour every backend's sandboxes share; each backend's
 * settings extend these with its own (and its README says how it enforces them).
 */
export interface SandboxSettings {
  /** Output kept per stream (stdout, stderr); the rest is cut with a marker. @default MAX_OUTPUT_BYTES, else 1 MiB */
  maxOutputBytes: number;
  /** Memory of each sandbox (a container's or pod's memory limit without extra swap, the local sandbox's address space). @default MEMORY_LIMIT_MB, else 512 */
  memoryLimitMb: number;
  /** CPU time of each command (RLIMIT_CPU). @default CPU_TIME_LIMIT_SEC, else 30 */
  cpuTimeLimitSec: number;
  /**
   * Largest file the code may write (RLIMIT_FSIZE, capped at the workspace's size): a bigger
   * write fails with EFBIG in the code's own traceback, and no output is too large to keep.
   * @default MAX_FILE_SIZE_MB, else 100
   */
  maxFileSizeMb: number;
  /** Size of each of the memory-backed `/workspace` and `/tmp` of a sandbox. @default 256 */
  workspaceSizeMb: number;
  /** Processes and threads each sandbox may have at once. @default 128 */
  maxProcesses: number;
  /** uid and gid code runs as; the image or root filesystem must allow it. @default 65532 */
  sandboxUid: number;
  /**
   * One-shot sandboxes started ahead of demand, each used once: `min` kept
   * warm, up to `max` under load, back to `min` after `idleTimeoutMs` without
   * requests; `false` starts one per request. Warm sandboxes hold their
   * resources (a pod its requests on the cluster) while they wait.
   * @default SANDBOX_POOL_MIN, SANDBOX_POOL_MAX, SANDBOX_POOL_IDLE_TIMEOUT_SEC, else 1, 4, 60 s
   */
  pool: SandboxPoolSettings | false;
  /**
   * Session sandboxes started ahead of demand, their command runner and
   * Python kernel already running: creating a session claims one. Sized like
   * `pool` (a burst of sessions teaches it to keep that many warm, up to
   * `max` and within `warmPoolMemoryMb`); `false` creates each session's
   * sandbox when it is asked for.
   * @default SESSION_POOL_MIN, SESSION_POOL_MAX, SANDBOX_POOL_IDLE_TIMEOUT_SEC, else 1, 16, 60 s
   */
  sessionPool: SandboxPoolSettings | false;
  /**
   * The memory warm sandboxes of both pools may hold together, in MB, each
   * counted at `memoryLimitMb` (what it may use once handed out): beyond
   * their `min`, the pools grow with demand only within it.
   * @default WARM_POOL_MEMORY_MB, else 16 × `memoryLimitMb` (8192 with the default limit)
   */
  warmPoolMemoryMb?: number;
  /**
   * The kernel sandboxes run on (SANDBOX_RUNTIMES): `gvisor` puts gVisor's
   * runsc between the code and the host's kernel. One backend runs one
   * runtime; a server offering two builds a backend for each.
   * @default SANDBOX_RUNTIME, else `default`
   */
  sandboxRuntime: SandboxRuntime;
  /** Modules warm sandboxes import before a request arrives (missing ones are skipped). @default SANDBOX_PRELOAD, else numpy, pandas, matplotlib, matplotlib.pyplot */
  preload: readonly string[];
  /** Receives warnings (a sandbox that could not be removed, missing bubblewrap, …). @default console.warn */
  warn: (message: string) => void;
  /**
   * The egress proxy sandboxes with `network` reach the outside through
   * (issue 22); the backend's engine opens a way out per such sandbox. Unset:
   * requests with `network` are refused (422). @default none (the server makes one unless EGRESS_ALLOW=none)
   */
  egress?: EgressGateway;
  /**
   * Where paused sessions' signed snapshots are kept (issue 23): the server's
   * file store. Unset: pause, resume and fork answer 501. @default none
   */
  snapshots?: SessionSnapshots;
}

/** What the container backends (Docker, Kubernetes) share on top of {@link SandboxSettings}. */
export interface ContainerSandboxSettings extends SandboxSettings {
  /** Image every sandbox runs; must have python3 and allow `sandboxUid`. @default `code-interpreter-executor:latest` (each backend names its variable) */
  image: string;
  /** CPUs each sandbox may use at once (a container's CFS quota, a pod's CPU limit). @default 1 */
  cpus: number;
  /** Extra labels on every sandbox (ours win on a clash), e.g. a deployment name. @default {} */
  labels: Record<string, string>;
}

/** The defaults of {@link SandboxSettings}; a backend spreads them under its own. */
export function defaultSandboxSettings(): SandboxSettings {
  return {
    maxOutputBytes: 1024 * 1024,
    memoryLimitMb: 512,
    cpuTimeLimitSec: 30,
    maxFileSizeMb: 100,
    workspaceSizeMb: 256,
    maxProcesses: 128,
    sandboxUid: 65532,
    pool: { min: 1, max: 4, idleTimeoutMs: 60_000 },
    sessionPool: { min: 1, max: 16, idleTimeoutMs: 60_000 },
    sandboxRuntime: "default",
    preload: DEFAULT_PRELOAD,
    warn: (message) => console.warn(message),
  };
}

/** The defaults of {@link ContainerSandboxSettings}. */
export function defaultContainerSandboxSettings(): ContainerSandboxSettings {
  return { ...defaultSandboxSettings(), image: DEFAULT_EXECUTOR_IMAGE, cpus: 1, labels: {} };
}

/** The byte sizes a backend enforces, derived once from the MB settings. */
export interface SandboxByteLimits {
  /** Size of `/workspace` (and `/tmp`), and the most a workspace snapshot may hold. */
  workspaceBytes: number;
  /** RLIMIT_FSIZE: `maxFileSizeMb`, capped at the workspace's size. */
  fileSizeBytes: number;
  /** Memory of the sandbox (cgroup limit, or the local sandbox's address space). */
  memoryBytes: number;
}

/** {@link SandboxByteLimits} of these settings. */
export function sandboxByteLimits(
  settings: Pick<SandboxSettings, "workspaceSizeMb" | "maxFileSizeMb" | "memoryLimitMb">,
): SandboxByteLimits {
  return {
    workspaceBytes: settings.workspaceSizeMb * MB,
    fileSizeBytes: Math.min(settings.maxFileSizeMb, settings.workspaceSizeMb) * MB,
    memoryBytes: settings.memoryLimitMb * MB,
  };
}
