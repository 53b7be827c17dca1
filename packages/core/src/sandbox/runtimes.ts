/**
 * The kernels a sandbox can run on. `default`: the host's kernel, behind
 * namespaces, the syscall policy and rlimits (bubblewrap on local, the
 * engine's default OCI runtime on Docker, the cluster's default on
 * Kubernetes). `gvisor`: gVisor's user-space kernel (runsc) in between, a
 * second wall, at a cost in start time and syscall speed.
 */
export const SANDBOX_RUNTIMES = ["default", "gvisor"] as const;
export type SandboxRuntime = (typeof SANDBOX_RUNTIMES)[number];

/**
 * Label (Docker, Kubernetes) or record field (local) naming the runtime a
 * sandbox runs on. A backend built for one runtime finds, lists, claims and
 * reaps only sandboxes of that runtime (none: `default`, as every sandbox
 * made before runtimes existed), so two backends of one server, one per
 * runtime, never take each other's.
 */
export const RUNTIME_LABEL_KEY = "code-interpreter.runtime";

/** Whether a sandbox with this runtime label (absent on older ones) belongs to a backend of `runtime`. */
export function isOfRuntime(label: string | undefined, runtime: SandboxRuntime): boolean {
  return (label ?? "default") === runtime;
}

/** True for a name in SANDBOX_RUNTIMES. */
export function isSandboxRuntime(value: unknown): value is SandboxRuntime {
  return typeof value === "string" && (SANDBOX_RUNTIMES as readonly string[]).includes(value);
}

const MB = 1024 * 1024;

/**
 * Memory gVisor's user-space kernel and file proxy take beside the code's
 * (about 60 MB for an idle runner, more under load): part of a gVisor
 * sandbox's memory cgroup (see gvisorMemoryBytes).
 */
export const GVISOR_OVERHEAD_BYTES = 256 * MB;

/**
 * Host memory each process of the code costs in a gVisor sandbox: a stub
 * process on the ptrace platform, the kernel's state for it, and gVisor's
 * copy-on-write, which copies larger units than Linux's. Measured with runsc
 * 20221219: each forked Python took about 6.4 MB, 128 sleeping forks peaked
 * near 590 MB.
 */
export const GVISOR_PROCESS_OVERHEAD_BYTES = 8 * MB;

/**
 * The memory cgroup of a gVisor sandbox: the code's limit, gVisor's own
 * overhead, and room for every process RLIMIT_NPROC lets the code start.
 * Without that room a fork bomb that RLIMIT_NPROC holds (gVisor's kernel
 * counts it per sandbox) is killed by the memory cgroup first, and the
 * sandbox ends with no answer. The price: the code may use that room too.
 */
export function gvisorMemoryBytes(memoryBytes: number, maxProcesses: number): number {
  return memoryBytes + GVISOR_OVERHEAD_BYTES + maxProcesses * GVISOR_PROCESS_OVERHEAD_BYTES;
}
