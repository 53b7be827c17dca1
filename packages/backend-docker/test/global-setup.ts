import { randomUUID } from "node:crypto";
import Dockerode from "dockerode";
import type { TestProject } from "vitest/node";

const TEST_RUN_LABEL = "code-interpreter.test-run";

/**
 * Gives the run an id that labels every container its tests create, and at
 * the very end fails the run if any of them is still there (after removing it).
 */
export default function setup(project: TestProject) {
  const runId = randomUUID();
  project.provide("dockerTestRun", runId);
  return async () => {
    const docker = new Dockerode();
    let left: Dockerode.ContainerInfo[];
    try {
      left = await docker.listContainers({ all: true, filters: { label: [`${TEST_RUN_LABEL}=${runId}`] } });
    } catch {
      return; // no engine: the tests were skipped (or failed under CI)
    }
    await Promise.all(
      left.map((container) =>
        docker
          .getContainer(container.Id)
          .remove({ force: true })
          .catch(() => {}),
      ),
    );
    if (left.length > 0) {
      const names = left.map((container) => container.Names[0]?.replace(/^\//, "")).join(", ");
      throw new Error(`the Docker backend tests left ${left.length} container(s) labelled app=code-interpreter behind: ${names}`);
    }
  };
}
