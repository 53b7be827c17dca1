import { randomUUID } from "node:crypto";
import Dockerode from "dockerode";
import type { TestProject } from "vitest/node";
import { TEST_RUN_LABEL } from "./labels.js";

/**
 * Gives the run an id that labels every container the double starts for its
 * tests, and at the very end fails the run if any of them is still there
 * (after removing it).
 */
export default function setup(project: TestProject) {
  const runId = randomUUID();
  project.provide("kubernetesTestRun", runId);
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
      throw new Error(`the Kubernetes backend tests left ${left.length} pod container(s) behind: ${names}`);
    }
  };
}

declare module "vitest" {
  export interface ProvidedContext {
    kubernetesTestRun: string;
  }
}
