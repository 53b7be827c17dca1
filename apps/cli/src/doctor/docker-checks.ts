import { existsSync, readdirSync, readFileSync } from "node:fs";
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
    return [
      ok("Docker engine", `answers at ${address}`),
      ok("executor image", `${image} is present`),
      checkImageEnvironment(image, fix),
      checkDockerEgress(env),
    ];
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

/**
 * Network egress (issue 22): each sandbox's egress directory is bound from the server's filesystem, so the engine
 * must be on this host, and a server in a container needs EGRESS_STATE_DIR bound at the same path on the host.
 */
export function checkDockerEgress(env: NodeJS.ProcessEnv, apart = engineApart()): CheckResult {
  const name = "network egress";
  if (env.EGRESS_ALLOW?.trim() === "none") return ok(name, "off (EGRESS_ALLOW=none)");
  const host = env.DOCKER_HOST;
  if (host && !host.startsWith("unix://")) {
    return warn(
      name,
      `not offered: the engine at ${host} is remote, and a sandbox's egress socket can only be bound from the engine's own filesystem; requests with \`network\` get a 422`,
      "run the server on the engine's host (DOCKER_HOST=unix://…), or set EGRESS_ALLOW=none to say so",
    );
  }
  if (apart && !env.EGRESS_STATE_DIR) {
    return warn(
      name,
      "this server runs in a container: the engine binds each sandbox's egress directory from the host, where the default EGRESS_STATE_DIR (a temporary directory in this container) does not exist",
      "bind-mount a host directory at the same path and name it: -v /srv/ci-egress:/srv/ci-egress -e EGRESS_STATE_DIR=/srv/ci-egress",
    );
  }
  return ok(
    name,
    "offered: each sandbox's egress directory is bound from this host (under gVisor only with runsc registered --host-uds=open)",
  );
}

/** Whether this process runs in a container without the engine in it (the host's socket mounted): dockerd is not among its processes. */
function engineApart(): boolean {
  if (!existsSync("/.dockerenv")) return false;
  try {
    return !readdirSync("/proc").some((entry) => /^\d+$/.test(entry) && readComm(entry) === "dockerd");
  } catch {
    return true;
  }
}

function readComm(pid: string): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return "";
  }
}
