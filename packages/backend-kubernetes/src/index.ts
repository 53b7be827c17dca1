export { apiMessage, apiStatus, toBackendError } from "./api-errors.js";
export { createKubernetesBackend, KubernetesBackend, kubernetesEngineOptions } from "./kubernetes-backend.js";
export {
  DEFAULT_EXECUTOR_IMAGE,
  defaultKubernetesBackendSettings,
  GVISOR_LOCALHOST_SECCOMP_PROFILE,
  GVISOR_RUNTIME_CLASS,
  type KubernetesBackendSettings,
  LOCALHOST_SECCOMP_PROFILE,
  type PodOwner,
  parseSeccompProfile,
  podRuntimeClass,
  podSeccompProfile,
  type SandboxSeccompProfile,
} from "./kubernetes-backend-settings.js";
export { KubernetesDriver } from "./kubernetes-driver.js";
export { defaultNamespace, loadKubeConfig } from "./load-kube-config.js";
export {
  codeEnvVariables,
  EXECUTOR_CONTAINER,
  execPodSpec,
  LOCKDOWN_CONTAINER,
  LOCKDOWN_SCRIPT,
  podMemory,
  sessionPodSpec,
  WARM_LABEL_KEY,
} from "./pod-spec.js";
export { type PermissionRule, REQUIRED_PERMISSIONS } from "./required-permissions.js";
export type { KubernetesSession } from "./session-records.js";
