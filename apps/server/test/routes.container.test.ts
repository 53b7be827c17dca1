import { randomUUID } from "node:crypto";
import { stat } from "node:fs/promises";
import { Writable } from "node:stream";
import { probeDocker } from "@code-interpreter/backend-docker";
import { containerName, containersLabelled, removeLabelled } from "@code-interpreter/test-support";
import Dockerode from "dockerode";
import { afterAll, describe, it } from "vitest";
import { loadConfig } from "../src/config.js";
import { httpTarget } from "./fixture.js";
import { describeRoutes, type RouteServer } from "./routes.js";

// The server image (images/server/build-offline.sh) as users run it: in a container that drives the host's engine
// through its socket, reached over HTTP on loopback.
const docker = new Dockerode();
const serverImage = process.env.SERVER_IMAGE || "code-interpreter-server:latest";
const executorImage = process.env.PYTHON_EXECUTOR_DOCKER_IMAGE || "code-interpreter-executor:latest";
const socket = "/var/run/docker.sock";
const storeDir = "/var/lib/code-interpreter/files";
const runLabel = { "code-interpreter.test-run": `server-container-${randomUUID()}` };
const startedAt = Math.floor(Date.now() / 1000);

const missing = await (async () => {
  const probe = await probeDocker({ docker, image: executorImage });
  if (!probe.ok) return probe.reason;
  if (
    !(await docker
      .getImage(serverImage)
      .inspect()
      .catch(() => undefined))
  )
    return `the server image ${serverImage} is missing (build it: sudo bash images/server/build-offline.sh)`;
  if (!(await stat(socket).catch(() => undefined))) return `no Docker socket at ${socket} to mount into the container`;
  return undefined;
})();
if (missing && process.env.CI === "true") throw new Error(`the container route tests need ${missing}`);

const servers: Dockerode.Container[] = [];

/** Starts the server image with `env`, publishes it on a free loopback port, and waits until /health answers. */
async function startContainer(env: Record<string, string>): Promise<RouteServer> {
  const settings = {
    // Published on 127.0.0.1 only; without API keys the server refuses a non-loopback HOST unless told.
    ALLOW_UNAUTHENTICATED: "true",
    EXECUTOR_BACKEND: "docker",
    PYTHON_EXECUTOR_DOCKER_IMAGE: executorImage,
    LOG_LEVEL: "warn",
    ...env,
  };
  const container = await docker.createContainer({
    Image: serverImage,
    name: `code-interpreter-server-test-${randomUUID()}`,
    Labels: runLabel,
    Env: Object.entries(settings).map(([key, value]) => `${key}=${value}`),
    ExposedPorts: { "8000/tcp": {} },
    HostConfig: {
      Binds: [`${socket}:${socket}`],
      // The server runs as a non-root user: the socket's group lets it reach the engine, nothing more.
      GroupAdd: [String((await stat(socket)).gid)],
      PortBindings: { "8000/tcp": [{ HostIp: "127.0.0.1", HostPort: "" }] },
    },
  });
  servers.push(container);
  await container.start();
  const port = (await container.inspect()).NetworkSettings.Ports["8000/tcp"]?.[0]?.HostPort;
  if (!port) throw new Error("the server container has no published port");
  const app = httpTarget(`http://127.0.0.1:${port}`);
  await waitUntilHealthy(container, app);
  let closing: Promise<void> | undefined;
  return {
    app,
    config: loadConfig({ ...settings, FILE_STORAGE_DIR: storeDir }),
    listStore: (subdirectory = ".") => listInContainer(container, `${storeDir}/${subdirectory}`),
    close: () => {
      // A graceful stop: the server closes its backend, which removes the sandboxes it still has.
      closing ??= container
        .stop({ t: 20 })
        .catch(() => {})
        .then(() => container.remove({ force: true }))
        .catch(() => {});
      return closing;
    },
  };
}

/** Polls /health while the container runs; fails with its log when it stops first. */
async function waitUntilHealthy(container: Dockerode.Container, app: ReturnType<typeof httpTarget>): Promise<void> {
  for (;;) {
    const state = (await container.inspect()).State;
    if (!state.Running) {
      const log = (await container.logs({ stdout: true, stderr: true })).toString();
      throw new Error(`the server container stopped (exit ${state.ExitCode}):\n${log}`);
    }
    const healthy = await Promise.resolve(app.request("/health"))
      .then((response) => response.ok)
      .catch(() => false);
    if (healthy) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function listInContainer(container: Dockerode.Container, dir: string): Promise<string[]> {
  const exec = await container.exec({ Cmd: ["ls", "-A", "-1", dir], AttachStdout: true, AttachStderr: true });
  const stream = await exec.start({ hijack: true, stdin: false });
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  const collect = (chunks: Buffer[]) =>
    new Writable({
      write(chunk, _encoding, done) {
        chunks.push(chunk);
        done();
      },
    });
  docker.modem.demuxStream(stream, collect(stdout), collect(stderr));
  await new Promise((resolve) => stream.on("end", resolve));
  const { ExitCode } = await exec.inspect();
  if (ExitCode !== 0) throw new Error(`ls ${dir} in the server container failed: ${Buffer.concat(stderr).toString()}`);
  return Buffer.concat(stdout).toString().split("\n").filter(Boolean).sort();
}

/**
 * Sandboxes the containerised servers left. Their backend cannot label its
 * containers for this run, so: ours are the code-interpreter containers made
 * since this file started that no other test run labelled. Read after the
 * servers stopped, since a graceful stop removes what they still hold.
 */
async function leftovers(): Promise<string[]> {
  await Promise.all(servers.map((container) => container.stop({ t: 20 }).catch(() => {})));
  const containers = await containersLabelled(["app=code-interpreter"], {
    engine: docker,
    ignore: (container) => container.Created < startedAt || Boolean(container.Labels["code-interpreter.test-run"]),
  });
  return containers.map(containerName);
}

if (!missing) {
  describeRoutes(
    "docker, with the server in a container",
    async () => {
      throw new Error("the container route tests start servers, not backends");
    },
    leftovers,
    { createServer: startContainer },
  );
  afterAll(() => removeLabelled(runLabel, { engine: docker }));
} else {
  describe.skip(`routes with the server in a container (${missing})`, () => {
    it("needs a Docker engine, the executor image and the server image", () => {});
  });
}
