import Dockerode from "dockerode";
import { type DockerBackendSettings, defaultDockerBackendSettings, ociRuntime } from "./docker-backend-settings.js";
import { engineAddress, engineStatus, missingImageMessage } from "./engine-errors.js";

const PING_TIMEOUT_MS = 5000;

/** Whether the Docker backend can run here, and if not, what a person should do about it. */
export type DockerProbe = { ok: true } | { ok: false; reason: string };

/**
 * Checks that the engine answers and the executor image exists, without
 * creating anything. The server uses it to pick a backend for
 * EXECUTOR_BACKEND=auto and to explain why Docker is not usable.
 */
export async function probeDocker(
  settings: Partial<Pick<DockerBackendSettings, "docker" | "image" | "runtime" | "sandboxRuntime">> = {},
): Promise<DockerProbe> {
  const docker = settings.docker ?? new Dockerode();
  const image = settings.image ?? defaultDockerBackendSettings().image;
  try {
    await withTimeout(docker.ping(), PING_TIMEOUT_MS, "no answer within 5 s");
  } catch (error) {
    return {
      ok: false,
      reason: `the Docker engine does not answer at ${engineAddress(docker)} (${(error as Error).message}); start dockerd or set DOCKER_HOST`,
    };
  }
  try {
    await docker.getImage(image).inspect();
  } catch (error) {
    if (engineStatus(error) === 404) return { ok: false, reason: missingImageMessage(image) };
    return { ok: false, reason: `could not inspect the executor image ${image}: ${(error as Error).message}` };
  }
  const runtime = ociRuntime(settings);
  if (runtime) {
    const runtimes = Object.keys(((await docker.info()) as { Runtimes?: Record<string, unknown> }).Runtimes ?? {});
    if (!runtimes.includes(runtime)) {
      const gvisor = settings.sandboxRuntime === "gvisor";
      const named = gvisor
        ? `gVisor's runtime ${runtime} (SANDBOX_RUNTIME=gvisor${settings.runtime ? ", PYTHON_EXECUTOR_DOCKER_RUNTIME" : ""})`
        : `the runtime ${runtime} (PYTHON_EXECUTOR_DOCKER_RUNTIME)`;
      const fix = gvisor
        ? `install runsc and add it under "runtimes" in /etc/docker/daemon.json (scripts/test.d/60-gvisor.sh shows how), set PYTHON_EXECUTOR_DOCKER_RUNTIME to the name it is registered under, or do not offer gvisor`
        : `install it and add it under "runtimes" in /etc/docker/daemon.json, or unset the variable`;
      return {
        ok: false,
        reason: `${named} is not registered with the Docker engine, which has ${runtimes.join(", ") || "none"}; ${fix}`,
      };
    }
  }
  return { ok: true };
}

async function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
