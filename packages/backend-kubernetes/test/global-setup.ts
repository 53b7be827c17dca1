import { randomUUID } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { removeLabelled } from "@code-interpreter/test-support";
import type { TestProject } from "vitest/node";
import { TEST_RUN_LABEL } from "./labels.js";

/**
 * Gives the run an id that labels every container the double starts for its
 * tests, and a directory where each test file notes the pods the double
 * still held when it was stopped (`stopDouble`: warm ones too, on either
 * runtime). At the very end it fails the run if any pod was noted or any
 * labelled container is still there (after removing it).
 */
export default function setup(project: TestProject) {
  const runId = randomUUID();
  const leftoverDir = mkdtempSync(join(tmpdir(), "code-interpreter-k8s-leftovers-"));
  project.provide("kubernetesTestRun", runId);
  project.provide("kubernetesLeftoverDir", leftoverDir);
  return async () => {
    const noted: string[] = [];
    for (const file of await readdir(leftoverDir).catch(() => [])) {
      noted.push(...(JSON.parse(await readFile(join(leftoverDir, file), "utf8")) as string[]));
    }
    await rm(leftoverDir, { recursive: true, force: true });
    const containers = await leftoverContainers(runId);
    const problems = [
      noted.length > 0
        ? `the Kubernetes double still held ${noted.length} pod(s) or container(s) of ours when stopped: ${noted.join(", ")}`
        : "",
      containers.length > 0
        ? `the Kubernetes backend tests left ${containers.length} pod container(s) behind: ${containers.join(", ")}`
        : "",
    ].filter(Boolean);
    if (problems.length > 0) throw new Error(problems.join("; "));
  };
}

/** Removes the run's containers still on the engine and returns their names. */
async function leftoverContainers(runId: string): Promise<string[]> {
  // No engine: the tests were skipped (or failed under CI).
  return removeLabelled({ [TEST_RUN_LABEL]: runId }).catch(() => []);
}

declare module "vitest" {
  export interface ProvidedContext {
    kubernetesTestRun: string;
    kubernetesLeftoverDir: string;
  }
}
