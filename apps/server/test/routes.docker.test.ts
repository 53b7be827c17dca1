import { randomUUID } from "node:crypto";
import { createDockerBackend, type DockerBackend, probeDocker, WARM_LABEL_KEY } from "@code-interpreter/backend-docker";
import { containerName, containersLabelled, removeLabelled } from "@code-interpreter/test-support";
import Dockerode from "dockerode";
import { afterAll, describe, it } from "vitest";
import { describeRoutes } from "./routes.js";

// Every container these tests make carries this label, so they can be found and removed.
const labels = { "code-interpreter.test-run": `server-routes-${randomUUID()}` };
const docker = new Dockerode();
const image = process.env.PYTHON_EXECUTOR_DOCKER_IMAGE || "code-interpreter-executor:latest";
const probe = await probeDocker({ docker, image });
if (!probe.ok && process.env.CI === "true")
  throw new Error(`the Docker route tests need a Docker engine and the executor image: ${probe.reason}`);

const backends: DockerBackend[] = [];
// Warm sandboxes waiting in the pool are not leftovers; finished ones are removed just after the answer.
const leftovers = async () => {
  await Promise.all(backends.map((backend) => backend.whenIdle()));
  const containers = await containersLabelled(labels, {
    engine: docker,
    ignore: (container) => container.Labels[WARM_LABEL_KEY] === "true",
  });
  return containers.map(containerName);
};

if (probe.ok) {
  describeRoutes(
    "docker",
    async (config) => {
      const backend = await createDockerBackend({
        docker,
        image,
        labels,
        maxOutputBytes: config.MAX_OUTPUT_BYTES,
        maxFileSizeMb: config.MAX_FILE_SIZE_MB,
      });
      backends.push(backend);
      return backend;
    },
    leftovers,
  );
  afterAll(() => removeLabelled(labels, { engine: docker }));
} else {
  describe.skip(`routes on the docker backend (${probe.reason})`, () => {
    it("needs a Docker engine and the executor image", () => {});
  });
}
