// Issue 22's shared egress hostile (test-support's describeEgressHostile) on the docker backend:
// real containers (network none) given their own egress directory, the suite's egress proxy in this
// process, and its loopback "internet" behind it.
import { describeEgressHostile } from "@code-interpreter/test-support/egress";
import { afterAll, describe } from "vitest";
import { createDockerBackend, type DockerBackend } from "../src/index.js";
import { containersLabelled, dockerAvailable, fileLabels, removeLabelled, testSettings } from "./support.js";

const labels = fileLabels();
let backend: DockerBackend | undefined;
afterAll(() => removeLabelled(labels));

if (await dockerAvailable()) {
  describeEgressHostile({
    name: "docker",
    createBackend: async ({ egress }) => {
      backend = await createDockerBackend({ ...testSettings(labels), egress, pool: false, sessionPool: false });
      return backend;
    },
    listLeftovers: () => containersLabelled(labels),
  });
} else describe.skip("docker backend egress hostile (no Docker)", () => {});
