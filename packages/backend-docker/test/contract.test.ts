import { describeBackendContract } from "@code-interpreter/core/testing";
import { afterAll, describe, it } from "vitest";
import { createDockerBackend } from "../src/index.js";
import { containersLabelled, dockerAvailable, fileLabels, removeLabelled, testSettings } from "./support.js";

const labels = fileLabels();
afterAll(() => removeLabelled(labels));

if (await dockerAvailable()) {
  describeBackendContract({
    name: "docker",
    createBackend: (settings) =>
      createDockerBackend({ ...testSettings(labels), maxOutputBytes: settings.maxOutputBytes, memoryLimitMb: settings.memoryLimitMb }),
    listLeftovers: () => containersLabelled(labels),
  });
} else {
  describe.skip("docker backend contract (no Docker engine or executor image)", () => {
    it("runs against a real engine", () => {});
  });
}
