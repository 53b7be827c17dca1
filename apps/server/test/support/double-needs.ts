import Dockerode from "dockerode";

/** The image the Kubernetes API double runs pods from (the executor image unless told otherwise). */
export const DOUBLE_IMAGE =
  process.env.KUBERNETES_EXECUTOR_IMAGE || process.env.PYTHON_EXECUTOR_DOCKER_IMAGE || "code-interpreter-executor:latest";

/**
 * Why the Kubernetes API double cannot run pods here (it runs them on the local Docker
 * engine, from DOUBLE_IMAGE), or undefined when it can.
 */
export async function doubleUnavailable(): Promise<string | undefined> {
  try {
    const docker = new Dockerode();
    await docker.ping();
    await docker.getImage(DOUBLE_IMAGE).inspect();
    return undefined;
  } catch (error) {
    return `a Docker engine and the executor image ${DOUBLE_IMAGE} for the API double: ${(error as Error).message}`;
  }
}
