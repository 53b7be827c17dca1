import { type ContainerSandboxSettings, DEFAULT_EXECUTOR_IMAGE, defaultContainerSandboxSettings } from "@code-interpreter/core/sandbox";
import type { KubeConfig } from "@kubernetes/client-node";

/** Kept here too: the name tests and tools import from this package. */
export { DEFAULT_EXECUTOR_IMAGE };

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
 * The same policy as gVisor loads it (core's GVISOR_SYSCALL_POLICY: no clone3 rule, with which no thread
 * starts under runsc 20221219), installed beside it from deploy/seccomp/. gVisor pods name it wherever the
 * settings name LOCALHOST_SECCOMP_PROFILE (see podSeccompProfile).
 */
export const GVISOR_LOCALHOST_SECCOMP_PROFILE = "code-interpreter-gvisor.json";

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

/**
 * Settings of the Kubernetes backend; every field but `kubeConfig` has a default.
 * The shared ones (core's ContainerSandboxSettings) are enforced per pod:
 * `memoryLimitMb` as its memory limit and request (the memory-backed workspace
 * counts against it), `cpus` as its CPU limit, `workspaceSizeMb` as the size
 * limit of each of the emptyDir `/workspace` and `/tmp`, `sandboxUid` as its
 * uid, gid and fsGroup; warm pods hold their resource requests on the cluster.
 * `image` defaults to KUBERNETES_EXECUTOR_IMAGE, else PYTHON_EXECUTOR_DOCKER_IMAGE,
 * else `code-interpreter-executor:latest`. `maxProcesses` holds under gVisor only
 * (RLIMIT_NPROC, which gVisor's kernel counts per pod); on the default runtime
 * processes are the kubelet's podPidsLimit, as RLIMIT_NPROC would count every
 * process of the uid on the node, across pods.
 */
export interface KubernetesBackendSettings extends ContainerSandboxSettings {
  /** API client configuration. @default in-cluster service account when KUBERNETES_SERVICE_HOST is set, else the default kubeconfig */
  kubeConfig: KubeConfig;
  /** Namespace of every sandbox pod. @default KUBERNETES_EXECUTOR_NAMESPACE, else the pod's own namespace, else the kubeconfig context's, else `default` */
  namespace: string;
  /** Service account of sandbox pods (its token is never mounted). @default KUBERNETES_EXECUTOR_SERVICE_ACCOUNT, else the namespace default */
  serviceAccountName: string | undefined;
  /**
   * RuntimeClass of sandbox pods, e.g. `gvisor` or `kata`: a second kernel boundary between code
   * and the node. With `sandboxRuntime: "gvisor"` it names the cluster's gVisor RuntimeClass (deploy/runtimeclass.yaml).
   * @default KUBERNETES_EXECUTOR_RUNTIME_CLASS, else `gvisor` when `sandboxRuntime` is `gvisor`, else the cluster's default runtime
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
  /** CPU request of each pod, in cores. @default 0.25 */
  cpuRequest: number;
  /** ephemeral-storage request and limit of each pod (logs, writable layers). @default 512 */
  ephemeralStorageMb: number;
  /** `activeDeadlineSeconds` of session pods: the kubelet stops them after this, whatever the keepalives. @default SESSION_MAX_LIFETIME_SECONDS, else 86400 */
  sessionMaxLifetimeSeconds: number;
  /** How long a pod may take to become Running (scheduling, image pull). @default 60000 */
  podStartTimeoutMs: number;
  /** How long one API call may take before the API counts as unreachable. @default 30000 */
  apiTimeoutMs: number;
}

/** The defaults; the server maps its environment onto these. */
export function defaultKubernetesBackendSettings(): Omit<KubernetesBackendSettings, "kubeConfig" | "namespace"> {
  return {
    ...defaultContainerSandboxSettings(),
    serviceAccountName: undefined,
    runtimeClassName: undefined,
    seccompProfile: { type: "RuntimeDefault" },
    netAdminLockdown: true,
    lockdownImage: undefined,
    owner: undefined,
    cpuRequest: 0.25,
    ephemeralStorageMb: 512,
    sessionMaxLifetimeSeconds: 86_400,
    podStartTimeoutMs: 60_000,
    apiTimeoutMs: 30_000,
  };
}

/** The RuntimeClass gVisor pods get when `runtimeClassName` is not set: the one deploy/runtimeclass.yaml makes. */
export const GVISOR_RUNTIME_CLASS = "gvisor";

/**
 * The seccomp profile of a sandbox pod: the settings', but under gVisor the shipped profile's gVisor
 * variant (GVISOR_LOCALHOST_SECCOMP_PROFILE) where they name the shipped one, so one setting serves a
 * server's default and gVisor backends alike. runsc loads it only when its handler runs with
 * `--oci-seccomp` (deploy/README.md).
 */
export function podSeccompProfile(settings: Pick<KubernetesBackendSettings, "seccompProfile" | "sandboxRuntime">): SandboxSeccompProfile {
  const profile = settings.seccompProfile;
  if (settings.sandboxRuntime === "gvisor" && profile.type === "Localhost" && profile.localhostProfile === LOCALHOST_SECCOMP_PROFILE) {
    return { type: "Localhost", localhostProfile: GVISOR_LOCALHOST_SECCOMP_PROFILE };
  }
  return { ...profile };
}

/** The RuntimeClass sandbox pods name: the setting, else `gvisor` for the gVisor runtime, else none (the cluster's default). */
export function podRuntimeClass(settings: Pick<KubernetesBackendSettings, "runtimeClassName" | "sandboxRuntime">): string | undefined {
  if (settings.runtimeClassName) return settings.runtimeClassName;
  return settings.sandboxRuntime === "gvisor" ? GVISOR_RUNTIME_CLASS : undefined;
}
