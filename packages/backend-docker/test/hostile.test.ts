import { describeHostileSuite } from "@code-interpreter/core/testing";
import { afterAll, describe, it } from "vitest";
import { createDockerBackend, type DockerBackend } from "../src/index.js";
import { containersLabelled, dockerAvailable, fileLabels, removeLabelled, testSettings } from "./support.js";

const labels = fileLabels();
afterAll(() => removeLabelled(labels));

if (await dockerAvailable()) {
  let backend: DockerBackend | undefined;
  describeHostileSuite({
    name: "docker",
    createBackend: async (settings) => {
      backend = await createDockerBackend({
        ...testSettings(labels),
        ...settings,
        // Warm containers take the production path (code forked from a preloaded runner) without the data stack's start-up cost.
        pool: { min: 1, max: 2, idleTimeoutMs: 60_000 },
        preload: ["json"],
      });
      return backend;
    },
    // Finished executions' containers are removed just after the answer: wait for that first.
    listLeftovers: async () => {
      await backend?.whenIdle();
      return containersLabelled(labels);
    },
    sameHost: true,
  });
} else {
  describe.skip("docker backend against hostile code (no Docker engine or executor image)", () => {
    it("runs against a real engine", () => {});
  });
}
