import { describeBackendContract } from "@code-interpreter/core/testing";
import { afterAll, describe, it } from "vitest";
import { createDockerBackend, type DockerBackend } from "../src/index.js";
import { containersLabelled, dockerAvailable, fileLabels, removeLabelled, testSettings } from "./support.js";

const labels = fileLabels();
afterAll(() => removeLabelled(labels));

if (await dockerAvailable()) {
  let backend: DockerBackend | undefined;
  describeBackendContract({
    name: "docker",
    createBackend: async (settings) => {
      backend = await createDockerBackend({
        ...testSettings(labels),
        maxOutputBytes: settings.maxOutputBytes,
        memoryLimitMb: settings.memoryLimitMb,
      });
      return backend;
    },
    // Finished executions' containers are removed just after the answer: wait for that first.
    listLeftovers: async () => {
      await backend?.whenIdle();
      return containersLabelled(labels);
    },
  });
} else {
  describe.skip("docker backend contract (no Docker engine or executor image)", () => {
    it("runs against a real engine", () => {});
  });
}
