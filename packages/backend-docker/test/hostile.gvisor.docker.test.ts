import { describeHostileSuite, gvisorSections } from "@code-interpreter/core/testing";
import { afterAll, describe, it } from "vitest";
import { createDockerBackend, type DockerBackend } from "../src/index.js";
import { containersLabelled, fileLabels, gvisorAvailable, removeLabelled, testSettings } from "./support.js";

const labels = fileLabels();
afterAll(() => removeLabelled(labels));

// The hostile suite with every container under gVisor. Where gVisor changes an answer, `gaps` and
// `assumes` say why (the README's "Runtimes" section lists them).
if (await gvisorAvailable("the Docker backend's gVisor hostile tests")) {
  let backend: DockerBackend | undefined;
  describeHostileSuite({
    name: "docker (gvisor)",
    createBackend: async (settings) => {
      backend = await createDockerBackend({
        ...testSettings(labels),
        ...settings,
        sandboxRuntime: "gvisor",
        pool: { min: 1, max: 2, idleTimeoutMs: 60_000 },
        preload: ["json"],
      });
      return backend;
    },
    listLeftovers: async () => {
      await backend?.whenIdle();
      return containersLabelled(labels);
    },
    sameHost: true,
    sections: gvisorSections(["resource exhaustion", "escape and isolation"]),
  });
} else {
  describe.skip("docker (gvisor) backend against hostile code (no Docker engine with runsc, or no executor image)", () => {
    it("runs against a real engine with gVisor", () => {});
  });
}
