import { randomUUID } from "node:crypto";
import { createDockerBackend, type DockerBackend, probeDocker } from "@code-interpreter/backend-docker";
import Dockerode from "dockerode";
import { afterAll, describe, it } from "vitest";
import { describeDurable } from "./durable.js";

// Every container these tests make carries this label, so they can be found and removed.
const labels = { "code-interpreter.test-run": `server-durable-${randomUUID()}` };
const docker = new Dockerode();
const image = process.env.PYTHON_EXECUTOR_DOCKER_IMAGE || "code-interpreter-executor:latest";
const probe = await probeDocker({ docker, image });
if (!probe.ok && process.env.CI === "true")
  throw new Error(`the Docker durable-request tests need a Docker engine and the executor image: ${probe.reason}`);

if (probe.ok) {
  const backends: DockerBackend[] = [];
  describeDurable("docker", async (config) => {
    const backend = await createDockerBackend({
      docker,
      image,
      labels,
      maxOutputBytes: config.MAX_OUTPUT_BYTES,
      maxFileSizeMb: config.MAX_FILE_SIZE_MB,
    });
    backends.push(backend);
    return backend;
  });
  afterAll(async () => {
    for (const container of await docker.listContainers({
      all: true,
      filters: { label: [`code-interpreter.test-run=${labels["code-interpreter.test-run"]}`] },
    })) {
      await docker
        .getContainer(container.Id)
        .remove({ force: true })
        .catch(() => {});
    }
  });
} else {
  describe.skip(`durable requests on the docker backend (${probe.reason})`, () => {
    it("needs a Docker engine and the executor image", () => {});
  });
}
