import { probeDocker } from "@code-interpreter/backend-docker";
import { containerName, containersLabelled } from "@code-interpreter/test-support";
import { describeSnapshotContract, describeSnapshotHostile } from "@code-interpreter/test-support/snapshots";
import { describe, it } from "vitest";
import { startSnapshotServer } from "./support/snapshot-servers.js";

// Issue 23's shared snapshot suites on the docker backend: a real server (EXECUTOR_BACKEND=docker) over
// HTTP with two tenants, real containers, snapshots in its directory file store. Run under
// `flock /tmp/heavy-tests.lock`: every session container of this service counts as a leftover.
const image = process.env.PYTHON_EXECUTOR_DOCKER_IMAGE || "code-interpreter-executor:latest";
const probe = await probeDocker({ image });
if (!probe.ok && process.env.CI === "true")
  throw new Error(`the Docker snapshot suites need a Docker engine and the executor image: ${probe.reason}`);

if (probe.ok) {
  const options = {
    name: "docker",
    startServer: (env: Record<string, string>) =>
      startSnapshotServer("ci-snapshots-docker", { EXECUTOR_BACKEND: "docker", PYTHON_EXECUTOR_DOCKER_IMAGE: image, ...env }),
    listLeftovers: async () => (await containersLabelled({ app: "code-interpreter", component: "session" })).map(containerName),
  };
  describeSnapshotContract(options);
  describeSnapshotHostile(options);
} else {
  describe.skip(`snapshot suites on the docker backend (${probe.reason})`, () => {
    it("needs a Docker engine and the executor image", () => {});
  });
}
