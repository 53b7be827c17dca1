import { DEFAULT_PRELOAD } from "@code-interpreter/core";
import type { KubeConfig } from "@kubernetes/client-node";

/** Image the backend runs when none is configured. */
export const DEFAULT_EXECUTOR_IMAGE = "code-interpreter-executor:latest";

/** An object pods are owned by, so the cluster's garbage collector removes them with it. */
export interface PodOwner {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
}

/** A pod's seccomp profile: the runtime's default, or a profile file on the node. */
export type SandboxSeccompProfile = { type: "RuntimeDefault" } | { type: "Localhost"; localhostProfile: string };

/** Where deploy/seccomp/code-interpreter.json is installed under the kubelet's seccomp root, as deploy/README.md says. */
export const LOCALHOST_SECCOMP_PROFILE = "code-interpreter.json";

/**
 * Reads KUBERNETES_EXECUTOR_SECCOMP_PROFILE: `runtime/default` (or unset) for
 * RuntimeDefault, `localhost/<file>` for a profile under the kubelet's
 * seccomp root. Anything else is refused, naming the variable.
 */
export function parseSeccompProfile(value: string | undefined): SandboxSeccompProfile {
  if (value === undefined || value === "" || value === "runtime/default") return { type: "RuntimeDefault" };
  const file = value.startsWith("localhost/") ? value.slice("localhost/".length) : "";
  if (file === "" || file.startsWith("/") || file.split("/").includes("..")) {
    throw new Error(
      `KUBERNETES_EXECUTOR_SECCOMP_PROFILE must be runtime/default or localhost/<file under the kubelet's seccomp root> (e.g. localhost/${LOCALHOST_SECCOMP_PROFILE}), not ${JSON.stringify(value)}`,
    );
  }
  return { type: "Localhost", localhostProfile: file };
}

/** Settings of the Kubernetes backend; every field but `kubeConfig` has a default. */
export interface KubernetesBackendSettings {
  /** API client configuration. @default in-cluster service account when KUBERNETES_SERVICE_HOST is set, else the default kubeconfig */
  kubeConfig: KubeConfig;
  /** Namespace of every sandbox pod. @default KUBERNETES_EXECUTOR_NAMESPACE, else the pod's own namespace, else the kubeconfig context's, else `default` */
  namespace: string;
  /** Image every sandbox runs; must have python3 and allow uid 65532. @default KUBERNETES_EXECUTOR_IMAGE, else PYTHON_EXECUTOR_DOCKER_IMAGE, else `code-interpreter-executor:latest` */
  image: string;
  /** Service account of sandbox pods (its token is never mounted). @default KUBERNETES_EXECUTOR_SERVICE_ACCOUNT, else the namespace default */
  serviceAccountName: string | undefined;
  /**
   * RuntimeClass of sandbox pods, e.g. `gvisor` or `kata`: a second kernel boundary between code
   * and the node. @default KUBERNETES_EXECUTOR_RUNTIME_CLASS, else the cluster's default runtime
   */
  runtimeClassName: string | undefined;
  /**
   * seccomp profile of sandbox pods. `Localhost` names the sandbox's own profile (core's syscall policy,
   * shipped as deploy/seccomp/code-interpreter.json) relative to the kubelet's seccomp root
   * (/var/lib/kubelet/seccomp) on every node that runs sandboxes. `RuntimeDefault` is the container
   * runtime's own default, which differs between runtimes and versions (io_uring, AF_VSOCK, ptrace)
   * and is the fallback when nothing is configured. The lockdown init container keeps RuntimeDefault.
   * @default KUBERNETES_EXECUTOR_SECCOMP_PROFILE (`localhost/<file>` or `runtime/default`), else RuntimeDefault
   */
  seccompProfile: SandboxSeccompProfile;
  /** Adds an init container with NET_ADMIN that drops all egress but loopback. @default KUBERNETES_EXECUTOR_NET_ADMIN_LOCKDOWN, else true */
  netAdminLockdown: boolean;
  /** Image of the lockdown init container; it needs `iptables` or `nft`. @default the executor image */
  lockdownImage: string | undefined;
  /** Owner of every pod (the server's Deployment). @default none; the server resolves KUBERNETES_EXECUTOR_OWNER_DEPLOYMENT */
  owner: PodOwner | undefined;
  /** @default MAX_OUTPUT_BYTES, else 1 MiB */
  maxOutputBytes: number;
  /** Memory limit (and request) of each pod; the memory-backed workspace counts against it. @default MEMORY_LIMIT_MB, else 512 */
  memoryLimitMb: number;
  /** CPU time of each command (RLIMIT_CPU). @default CPU_TIME_LIMIT_SEC, else 30 */
  cpuTimeLimitSec: number;
  /** CPU limit of each pod, in cores. @default 1 */
  cpus: number;
  /** CPU request of each pod, in cores. @default 0.25 */
  cpuRequest: number;
  /**
   * Largest file the code may write (RLIMIT_FSIZE, capped at the workspace's size): a bigger
   * write fails with EFBIG in the code's own traceback, and no output is too large to keep.
   * @default MAX_FILE_SIZE_MB, else 100
   */
  maxFileSizeMb: number;
  /** Size limit of each of the emptyDir `/workspace` and `/tmp`. @default 256 */
  workspaceSizeMb: number;
  /** ephemeral-storage request and limit of each pod (logs, writable layers). @default 512 */
  ephemeralStorageMb: number;
  /** uid, gid and fsGroup code runs as; the image must allow it. @default 65532 */
  sandboxUid: number;
  /** `activeDeadlineSeconds` of session pods: the kubelet stops them after this, whatever the keepalives. @default SESSION_MAX_LIFETIME_SECONDS, else 86400 */
  sessionMaxLifetimeSeconds: number;
  /** How long a pod may take to become Running (scheduling, image pull). @default 60000 */
  podStartTimeoutMs: number;
  /** How long one API call may take before the API counts as unreachable. @default 30000 */
  apiTimeoutMs: number;
  /**
   * One-shot pods created and Running ahead of demand, each used once: `min`
   * kept warm, up to `max` under load, back to `min` after `idleTimeoutMs`
   * without requests; `false` creates a pod per request. Warm pods hold their
   * resource requests on the cluster while they wait.
   * @default SANDBOX_POOL_MIN, SANDBOX_POOL_MAX, SANDBOX_POOL_IDLE_TIMEOUT_SEC, else 1, 4, 60 s
   */
  pool: { min: number; max: number; idleTimeoutMs: number } | false;
  /** Modules warm pods import before a request arrives. @default SANDBOX_PRELOAD, else numpy, pandas, matplotlib */
  preload: readonly string[];
  /** Extra labels on every pod (ours win on a clash). @default {} */
  labels: Record<string, string>;
  /** Receives warnings (a pod that could not be deleted, …). @default console.warn */
  warn: (message: string) => void;
}

/** The defaults; the server maps its environment onto these. */
export function defaultKubernetesBackendSettings(): Omit<KubernetesBackendSettings, "kubeConfig" | "namespace"> {
  return {
    image: DEFAULT_EXECUTOR_IMAGE,
    serviceAccountName: undefined,
    runtimeClassName: undefined,
    seccompProfile: { type: "RuntimeDefault" },
    netAdminLockdown: true,
    lockdownImage: undefined,
    owner: undefined,
    maxOutputBytes: 1024 * 1024,
    memoryLimitMb: 512,
    cpuTimeLimitSec: 30,
    cpus: 1,
    cpuRequest: 0.25,
    workspaceSizeMb: 256,
    maxFileSizeMb: 100,
    ephemeralStorageMb: 512,
    sandboxUid: 65532,
    sessionMaxLifetimeSeconds: 86_400,
    podStartTimeoutMs: 60_000,
    apiTimeoutMs: 30_000,
    pool: { min: 1, max: 4, idleTimeoutMs: 60_000 },
    preload: DEFAULT_PRELOAD,
    labels: {},
    warn: (message) => console.warn(message),
  };
}
