import { randomUUID } from "node:crypto";
import { createDockerBackend, probeDocker } from "@code-interpreter/backend-docker";
import { containersLabelled } from "@code-interpreter/test-support";
import Dockerode from "dockerode";
import { afterAll, describe, it } from "vitest";
import { describeSessionFaults } from "./support/session-faults.js";

// Every container these tests make carries this label, so they can be found and removed.
const labels = { "code-interpreter.test-run": `server-faults-${randomUUID()}` };
const docker = new Dockerode();
const image = process.env.PYTHON_EXECUTOR_DOCKER_IMAGE || "code-interpreter-executor:latest";
const probe = await probeDocker({ docker, image });
if (!probe.ok && process.env.CI === "true")
  throw new Error(`the Docker fault tests need a Docker engine and the executor image: ${probe.reason}`);

const ours = () => containersLabelled(labels, { engine: docker });

if (probe.ok) {
  describeSessionFaults(
    "docker",
    (config) => createDockerBackend({ docker, image, labels, maxOutputBytes: config.MAX_OUTPUT_BYTES, pool: false, sessionPool: false }),
    // One-shot containers go just after the answer: give them a moment before calling them leftovers.
    async () => {
      for (let i = 0; i < 50 && (await ours()).length > 0; i++) await new Promise((resolve) => setTimeout(resolve, 100));
      return (await ours()).map((container) => container.Names[0]);
    },
  );
  afterAll(async () => {
    for (const container of await ours()) {
      await docker
        .getContainer(container.Id)
        .remove({ force: true })
        .catch(() => {});
    }
  });
} else {
  describe.skip(`session and file races on the docker backend (${probe.reason})`, () => {
    it("needs a Docker engine and the executor image", () => {});
  });
}
