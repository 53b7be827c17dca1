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
export { serverEnv, stateDir } from "./server-env.js";
