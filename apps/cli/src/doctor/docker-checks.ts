import { existsSync } from "node:fs";
import { type CheckResult, fail, ok, warn } from "./check.js";
import { checkImageEnvironment } from "./environment-checks.js";

/** The Docker backend: the engine answers, the executor image is there (the backend's own probeDocker) and built from this environment declaration. */
export async function checkDocker(env: NodeJS.ProcessEnv = process.env, buildScript?: string): Promise<CheckResult[]> {
  const { DEFAULT_EXECUTOR_IMAGE, probeDocker } = await import("@code-interpreter/backend-docker");
  const image = env.PYTHON_EXECUTOR_DOCKER_IMAGE || DEFAULT_EXECUTOR_IMAGE;
  const address = env.DOCKER_HOST || "unix:///var/run/docker.sock";
  const probe = await probeDocker({ image });
  const build = `code-interpreter image build${image === DEFAULT_EXECUTOR_IMAGE ? "" : ` --image ${image}`}`;
  const fix = buildScript
    ? `${build}   (offline: runs bash ${buildScript}; with registry access: docker build -t ${image} -f images/executor/Dockerfile .)`
    : `${build} from a code-interpreter checkout (no registry needed), or docker build -t ${image} -f images/executor/Dockerfile . there`;
  if (probe.ok) {
    return [ok("Docker engine", `answers at ${address}`), ok("executor image", `${image} is present`), checkImageEnvironment(image, fix)];
  }
  if (/does not answer/.test(probe.reason)) {
    const socket = env.DOCKER_HOST
      ? ""
      : existsSync("/var/run/docker.sock")
        ? " (the socket exists: can this user read it? add it to the docker group)"
        : " (no socket at /var/run/docker.sock)";
    return [
      fail(
        "Docker engine",
        `${probe.reason}${socket}`,
        "start the engine (sudo systemctl start docker, or dockerd &) or point DOCKER_HOST at one",
      ),
      warn("executor image", `${image}: not checked without an engine`),
    ];
  }
  return [ok("Docker engine", `answers at ${address}`), fail("executor image", probe.reason, fix)];
}
