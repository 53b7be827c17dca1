export {
  available,
  type ContainersLabelledOptions,
  containerName,
  containersLabelled,
  docker,
  dockerAvailable,
  dockerMissing,
  type Labels,
  removeLabelled,
} from "./docker.js";
export {
  DATA_CSV,
  LOOPBACK_CERTIFICATE_NAMES,
  type LoopbackInternet,
  type LoopbackServer,
  type RecordedRequest,
  startLoopbackInternet,
} from "./loopback-internet.js";
export { serverEnv, stateDir } from "./server-env.js";
