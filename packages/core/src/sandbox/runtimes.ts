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
