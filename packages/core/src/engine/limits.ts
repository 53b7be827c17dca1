import type { RunnerLimits } from "../runner/runner-protocol.js";
import { type SandboxSettings, sandboxByteLimits } from "../sandbox/sandbox-settings.js";
import type { RunnerPlanSettings } from "./execution-plan.js";

/** The size and resource limits of every sandbox of a backend, in the units they are enforced in. */
export interface SandboxLimits {
  /** Each of stdout and stderr is cut beyond this (MAX_OUTPUT_BYTES). */
  maxOutputBytes: number;
  /** Size of the tmpfs `/workspace` and `/tmp`, and the most a workspace snapshot reads. */
  workspaceBytes: number;
  /** Largest file code may write (RLIMIT_FSIZE): MAX_FILE_SIZE_MB, capped at the workspace's size. */
  fileSizeBytes: number;
  /** Memory of the sandbox (a cgroup), or of the code's address space where there is none. */
  memoryBytes: number;
  /** CPU time of each command (RLIMIT_CPU). */
  cpuSeconds: number;
  /** Processes and threads at once (a pids cgroup, or RLIMIT_NPROC where there is none). */
  processes: number;
  /** CPUs the sandbox may use at once. */
  cpus: number;
  /** Open files of the code (RLIMIT_NOFILE). */
  openFiles: number;
}

/** The settings SandboxLimits are derived from. */
export type SandboxLimitSettings = Pick<
  SandboxSettings,
  "maxOutputBytes" | "memoryLimitMb" | "cpuTimeLimitSec" | "maxFileSizeMb" | "workspaceSizeMb" | "maxProcesses"
> & {
  /** @default 1 */
  cpus?: number;
};

export function sandboxLimits(settings: SandboxLimitSettings): SandboxLimits {
  return {
    ...sandboxByteLimits(settings),
    maxOutputBytes: settings.maxOutputBytes,
    cpuSeconds: settings.cpuTimeLimitSec,
    processes: settings.maxProcesses,
    cpus: settings.cpus ?? 1,
    openFiles: 1024,
  };
}

/** The engine's `warmPoolMemoryBytes` of these settings (unset: the engine's default, WARM_POOL_SANDBOXES at their limit). */
export function warmPoolMemoryBytes(settings: Pick<SandboxSettings, "warmPoolMemoryMb">): number | undefined {
  return settings.warmPoolMemoryMb === undefined ? undefined : settings.warmPoolMemoryMb * 1024 * 1024;
}

/**
 * The limits the runner sets with setrlimit. Memory and processes are a
 * cgroup's job where the sandbox has one (`cgroup: true`): RLIMIT_AS breaks
 * programs that reserve address space, and RLIMIT_NPROC counts every process
 * of the uid on the host, not the sandbox's. `processRlimit`: the sandbox
 * has its own kernel (gVisor), where RLIMIT_NPROC counts that sandbox's
 * processes only, and its cgroup cannot bound them (it counts the runtime's
 * own threads).
 */
export function runnerLimits(limits: SandboxLimits, options: { cgroup: boolean; processRlimit?: boolean }): RunnerLimits {
  return {
    cpuSeconds: limits.cpuSeconds,
    fileSizeBytes: limits.fileSizeBytes,
    openFiles: limits.openFiles,
    ...(options.cgroup ? {} : { addressSpaceBytes: limits.memoryBytes }),
    ...(options.cgroup && !options.processRlimit ? {} : { processes: limits.processes }),
  };
}

/** The code's environment for a sandbox's share of CPUs: BLAS starts a thread per CPU it sees, and may use only its share. */
export function cpuEnv(cpus: number): Record<string, string> {
  return { OPENBLAS_NUM_THREADS: String(Math.max(1, Math.ceil(cpus))) };
}

/** What every runner request of a backend is planned with. */
export function runnerPlan(
  limits: SandboxLimits,
  options: { cgroup: boolean; processRlimit?: boolean; python?: string; env?: Record<string, string> },
): RunnerPlanSettings & { limits: RunnerLimits; maxSnapshotBytes: number } {
  return {
    python: options.python ?? "python3",
    maxOutputBytes: limits.maxOutputBytes,
    limits: runnerLimits(limits, options),
    env: { ...cpuEnv(limits.cpus), ...options.env },
    // The runner must stop where the server's reading stops, or a big workspace fails the whole request.
    maxSnapshotBytes: limits.workspaceBytes,
  };
}
