import { probeDocker } from "@code-interpreter/backend-docker";
import { containerName, containersLabelled } from "@code-interpreter/test-support";
import { describeSnapshotContract, describeSnapshotHostile, describeSnapshotReplicas } from "@code-interpreter/test-support/snapshots";
import Dockerode from "dockerode";
import { describe, it } from "vitest";
import { s3SnapshotStore, startSnapshotServer } from "./support/snapshot-servers.js";

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
  // Paused on one replica, resumed on another: both on this backend, sharing the S3 store and the signing key.
  describeSnapshotReplicas({ ...options, sharedStore: s3SnapshotStore });
  // The contract again with gvisor sessions (runsc, registered by scripts/test.d/60-gvisor.sh): docker keeps
  // no memory under gVisor (its README says why), so the suite checks the fresh-kernel notice there.
  const runtimes = Object.keys(((await new Dockerode().info()) as { Runtimes?: Record<string, unknown> }).Runtimes ?? {});
  if (runtimes.includes("runsc")) {
    describeSnapshotContract({
      ...options,
      name: "docker (gvisor)",
      runtime: "gvisor",
      startServer: (env: Record<string, string>) =>
        startSnapshotServer("ci-snapshots-docker-gvisor", {
          EXECUTOR_BACKEND: "docker",
          PYTHON_EXECUTOR_DOCKER_IMAGE: image,
          SANDBOX_RUNTIMES: "default,gvisor",
          ...env,
        }),
    });
  } else if (process.env.CI === "true") {
    throw new Error(
      `the gVisor snapshot contract needs the engine's runsc runtime (it has ${runtimes.join(", ")}): run scripts/test.d/60-gvisor.sh`,
    );
  } else {
    describe.skip("snapshot contract on docker (gvisor): the engine has no runsc runtime", () => {
      it("needs scripts/test.d/60-gvisor.sh", () => {});
    });
  }
} else {
  describe.skip(`snapshot suites on the docker backend (${probe.reason})`, () => {
    it("needs a Docker engine and the executor image", () => {});
  });
}
