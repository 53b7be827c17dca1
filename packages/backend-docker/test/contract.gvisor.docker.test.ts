import { describeBackendContract, gvisorSections } from "@code-interpreter/core/testing";
import { afterAll, describe, it } from "vitest";
import { createDockerBackend, type DockerBackend } from "../src/index.js";
import { containersLabelled, fileLabels, gvisorAvailable, removeLabelled, testSettings } from "./support.js";

const labels = fileLabels();
afterAll(() => removeLabelled(labels));

// The shared contract with every container under gVisor (runsc, ptrace platform): each sandbox starts
// and imports seconds slower, so CI runs the subset below and GVISOR_SUITE=full runs every section.
if (await gvisorAvailable("the Docker backend's gVisor contract tests")) {
  let backend: DockerBackend | undefined;
  describeBackendContract({
    name: "docker (gvisor)",
    createBackend: async (settings) => {
      backend = await createDockerBackend({
        ...testSettings(labels),
        sandboxRuntime: "gvisor",
        maxOutputBytes: settings.maxOutputBytes,
        memoryLimitMb: settings.memoryLimitMb,
      });
      return backend;
    },
    listLeftovers: async () => {
      await backend?.whenIdle();
      return containersLabelled(labels);
    },
    sections: gvisorSections(["cleanup"]),
  });
} else {
  describe.skip("docker (gvisor) backend contract (no Docker engine with runsc, or no executor image)", () => {
    it("runs against a real engine with gVisor", () => {});
  });
}
