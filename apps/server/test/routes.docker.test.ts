import { randomUUID } from "node:crypto";
import { createDockerBackend, probeDocker } from "@code-interpreter/backend-docker";
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

const leftovers = async () =>
  (await docker.listContainers({ all: true, filters: { label: Object.entries(labels).map(([key, value]) => `${key}=${value}`) } })).map(
    (container) => container.Names[0],
  );

if (probe.ok) {
  describeRoutes("docker", (config) => createDockerBackend({ docker, image, labels, maxOutputBytes: config.MAX_OUTPUT_BYTES }), leftovers);
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
  describe.skip(`routes on the docker backend (${probe.reason})`, () => {
    it("needs a Docker engine and the executor image", () => {});
  });
}
