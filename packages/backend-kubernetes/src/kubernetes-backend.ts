import { BackendUnavailableError } from "@code-interpreter/core";
import { SandboxEngine, type SandboxEngineOptions, sandboxLimits, warmPoolMemoryBytes } from "@code-interpreter/core/engine";
import { KubeApi } from "./kube-api.js";
import { defaultKubernetesBackendSettings, type KubernetesBackendSettings } from "./kubernetes-backend-settings.js";
import { KubernetesDriver } from "./kubernetes-driver.js";
import { defaultNamespace, loadKubeConfig } from "./load-kube-config.js";
import { type KubernetesSession, SESSION_SELECTOR } from "./session-records.js";

/**
 * The Kubernetes backend: core's SandboxEngine over a KubernetesDriver. Each
 * execution runs in a fresh, hardened pod that is deleted afterwards (or one
 * of a pool started ahead of demand); each session in a long-lived pod (or
 * one of a session pool started ahead of demand) whose command runner and
 * Python kernel are each one exec kept open.
 */
export class KubernetesBackend extends SandboxEngine<KubernetesSession> {
  readonly api: KubeApi;

  constructor(readonly settings: KubernetesBackendSettings) {
    const driver = new KubernetesDriver(settings);
    super(driver, kubernetesEngineOptions(settings));
    this.api = driver.api;
  }

  /** Warm pods ready for a request right now (0 without a pool): the engine's `warmCount`. */
  get warmPodCount(): number {
    return this.warmCount;
  }
}

/** The longest use of a warm pod (a request's timeout and the backstop): one whose timeout needs more gets a fresh pod. */
const WARM_USE_MS = 3_600_000;

/**
 * The engine's configuration from the backend's settings. Memory is the pod's limit. Processes are
 * the kubelet's podPidsLimit, a node setting this server cannot see (RLIMIT_NPROC would count every
 * process of the uid on the node): none is set here. Under gVisor the pod's cgroups count gVisor's own
 * threads and memory too, while its kernel counts RLIMIT_NPROC and RLIMIT_AS per pod: the runner sets
 * those (`maxProcesses`, `memoryLimitMb`), and the pod's limits are backstops (podMemory).
 */
export function kubernetesEngineOptions(settings: KubernetesBackendSettings): SandboxEngineOptions {
  const gvisor = settings.sandboxRuntime === "gvisor";
  return {
    limits: sandboxLimits(gvisor ? settings : { ...settings, maxProcesses: Number.POSITIVE_INFINITY }),
    cgroup: true,
    processRlimit: gvisor,
    pool: settings.pool,
    sessionPool: settings.sessionPool,
    warmPoolMemoryBytes: warmPoolMemoryBytes(settings),
    preload: settings.preload,
    maxExecTimeoutMs: WARM_USE_MS,
    startSeconds: Math.ceil(settings.podStartTimeoutMs / 1000),
    sessionMaxLifetimeSeconds: settings.sessionMaxLifetimeSeconds,
    warn: settings.warn,
    ...(settings.egress ? { egress: settings.egress } : {}),
    // Snapshots go through each session's command runner, as on the other backends.
    ...(settings.snapshots ? { snapshots: settings.snapshots } : {}),
  };
}

/**
 * Connects to the API (in-cluster service account, else the default
 * kubeconfig, unless `kubeConfig` is given), resolves the owner Deployment
 * named by `ownerDeployment`, and checks that pods can be listed in the
 * namespace; throws BackendUnavailableError saying how to fix it otherwise.
 */
export async function createKubernetesBackend(
  overrides: Partial<KubernetesBackendSettings> & { ownerDeployment?: string } = {},
): Promise<KubernetesBackend> {
  const { ownerDeployment, ...rest } = overrides;
  let kubeConfig = rest.kubeConfig;
  if (!kubeConfig) {
    try {
      kubeConfig = loadKubeConfig();
    } catch (error) {
      throw new BackendUnavailableError({ message: `no Kubernetes configuration: ${(error as Error).message}`, cause: error });
    }
  }
  const settings: KubernetesBackendSettings = {
    ...defaultKubernetesBackendSettings(),
    ...rest,
    kubeConfig,
    namespace: rest.namespace || defaultNamespace(kubeConfig),
  };
  // Checked before the backend exists: its warm pool starts making pods at once, with the owner.
  const api = new KubeApi(kubeConfig, settings.namespace, settings.apiTimeoutMs);
  await api.listPods(SESSION_SELECTOR);
  if (ownerDeployment && !settings.owner) settings.owner = await api.readDeployment(ownerDeployment);
  return new KubernetesBackend(settings);
}
