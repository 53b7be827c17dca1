import Dockerode from "dockerode";
import { type DockerBackendSettings, defaultDockerBackendSettings, ociRuntime } from "./docker-backend-settings.js";
import { engineAddress, engineStatus, missingImageMessage } from "./engine-errors.js";

const PING_TIMEOUT_MS = 5000;

/**
 * Whether the Docker backend can run here, and if not, what a person should do about it. With an OCI runtime
 * named (gVisor's), also the arguments it is registered with (`--host-uds=open` lets it reach a bound host socket).
 */
export type DockerProbe = { ok: true; runtimeArgs?: readonly string[] } | { ok: false; reason: string };

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
    const registered = ((await docker.info()) as { Runtimes?: Record<string, { runtimeArgs?: string[] }> }).Runtimes ?? {};
    const runtimes = Object.keys(registered);
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
    const missing = settings.sandboxRuntime === "gvisor" ? missingOciSeccomp(runtime, registered[runtime]?.runtimeArgs) : undefined;
    if (missing) return { ok: false, reason: `${missing.problem}; ${missing.fix}` };
    return { ok: true, runtimeArgs: registered[runtime]?.runtimeArgs ?? [] };
  }
  return { ok: true };
}

/**
 * Why a registered gVisor runtime would run sandboxes without their seccomp
 * profile, and the fix, or undefined: runsc applies a container's OCI
 * seccomp profile only with `--oci-seccomp`; without it the sandbox's syscall
 * policy is silently not loaded, so the backend refuses to start rather than
 * run with less.
 */
export function missingOciSeccomp(
  runtime: string,
  runtimeArgs: readonly string[] | undefined,
): { problem: string; fix: string } | undefined {
  const args = runtimeArgs ?? [];
  if (args.some((arg) => arg === "--oci-seccomp" || arg === "--oci-seccomp=true")) return undefined;
  return {
    problem: `gVisor's runtime ${runtime} is registered with the Docker engine without --oci-seccomp (its runtimeArgs: ${JSON.stringify(args)}), so runsc would not load the sandbox's seccomp profile`,
    fix: `add "--oci-seccomp" to its "runtimeArgs" in /etc/docker/daemon.json (scripts/test.d/60-gvisor.sh shows how) and have the engine reload it (SIGHUP dockerd)`,
  };
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
