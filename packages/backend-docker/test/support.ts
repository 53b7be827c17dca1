import { randomUUID } from "node:crypto";
import {
  dockerAvailable as available,
  available as availableUnless,
  dockerMissing,
  containersLabelled as listLabelled,
  removeLabelled as removeContainers,
} from "@code-interpreter/test-support";
import Dockerode from "dockerode";
import { inject } from "vitest";
import { DEFAULT_EXECUTOR_IMAGE, type DockerBackendSettings, SESSION_LABEL_KEY, WARM_LABEL_KEY } from "../src/index.js";

/** Label on every container a test run creates, checked by the global teardown. */
export const TEST_RUN_LABEL = "code-interpreter.test-run";
/** Label scoping one test file's containers, so files running side by side do not see each other's. */
export const TEST_FILE_LABEL = "code-interpreter.test-file";

export const docker = new Dockerode();
export const image = process.env.PYTHON_EXECUTOR_DOCKER_IMAGE || DEFAULT_EXECUTOR_IMAGE;

/** Whether the engine and image are here (under CI=true their absence fails the file; locally the tests skip). */
export const dockerAvailable = () => available({ image, purpose: "the Docker backend tests", engine: docker });

/**
 * Whether the engine, the image and gVisor's runtime (`runsc`, registered by
 * scripts/test.d/60-gvisor.sh) are here: under CI=true their absence fails
 * the file; locally the tests skip with the reason.
 */
export async function gvisorAvailable(purpose: string): Promise<boolean> {
  let missing = await dockerMissing(image, docker);
  if (!missing) {
    const runtimes = Object.keys(((await docker.info()) as { Runtimes?: Record<string, unknown> }).Runtimes ?? {});
    if (!runtimes.includes("runsc")) {
      missing = `the engine has no runtime runsc (it has ${runtimes.join(", ")}): run scripts/test.d/60-gvisor.sh`;
    }
  }
  return availableUnless(missing && `${purpose} need a Docker engine with gVisor (runsc) and the image ${image}: ${missing}`);
}

/** Labels for this file's containers; the backend puts them on everything it creates. */
export function fileLabels(): Record<string, string> {
  return { [TEST_RUN_LABEL]: inject("dockerTestRun"), [TEST_FILE_LABEL]: randomUUID() };
}

/** DOCKER_ONESHOT_REUSE as the tests read it: pooled one-shot containers on (1, true) or off (0, false); unset, the default. */
const oneShotReuse = process.env.DOCKER_ONESHOT_REUSE ? { oneShotReuse: ["1", "true"].includes(process.env.DOCKER_ONESHOT_REUSE) } : {};

/** Backend settings for tests: the test image and this file's labels (and DOCKER_ONESHOT_REUSE when set). */
export function testSettings(labels: Record<string, string>): Partial<DockerBackendSettings> {
  return { docker, image, labels, ...oneShotReuse };
}

/**
 * Names and states of the containers carrying these labels. Warm sandboxes
 * waiting in a pool (one-shot containers, and session containers no keepalive
 * record has claimed) are left out unless `includeWarm`: they are not
 * leftovers while the backend runs (close() removes them, and the global
 * teardown counts everything).
 */
export async function containersLabelled(labels: Record<string, string>, options: { includeWarm?: boolean } = {}): Promise<string[]> {
  const containers = await listLabelled(labels, { engine: docker });
  const claimed = new Set(containers.map((container) => container.Labels[SESSION_LABEL_KEY]).filter(Boolean));
  const name = (container: (typeof containers)[number]) => container.Names[0]?.replace(/^\//, "") ?? "";
  return containers
    .filter(
      (container) =>
        options.includeWarm ||
        container.Labels[WARM_LABEL_KEY] !== "true" ||
        claimed.has(name(container)) ||
        ["exited", "dead"].includes(container.State),
    )
    .map((container) => `${name(container)} (${container.State})`);
}

/** Force-removes every container carrying these labels. */
export const removeLabelled = (labels: Record<string, string>) => removeContainers(labels, { engine: docker }).then(() => {});

declare module "vitest" {
  export interface ProvidedContext {
    dockerTestRun: string;
  }
}
