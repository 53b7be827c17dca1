export {
  GVISOR_PIDS_BASE,
  GVISOR_PIDS_PER_TASK,
  GVISOR_SECCOMP_SECURITY_OPTION,
  KEEPALIVE_COMPONENT,
  memoryCgroupBytes,
  pidsLimit,
  SECCOMP_SECURITY_OPTION,
  SESSION_LABEL_KEY,
  WARM_LABEL_KEY,
} from "./container-spec.js";
export { createDockerBackend, DockerBackend, dockerEngineOptions } from "./docker-backend.js";
export {
  DEFAULT_EXECUTOR_IMAGE,
  type DockerBackendSettings,
  defaultDockerBackendSettings,
  GVISOR_OCI_RUNTIME,
  ociRuntime,
} from "./docker-backend-settings.js";
export { DockerDriver } from "./docker-driver.js";
export { type DockerProbe, missingOciSeccomp, probeDocker } from "./probe-docker.js";
