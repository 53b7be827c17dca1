import { randomUUID } from "node:crypto";
import { removeLabelled } from "@code-interpreter/test-support";
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
    let left: string[];
    try {
      left = await removeLabelled({ [TEST_RUN_LABEL]: runId });
    } catch {
      return; // no engine: the tests were skipped (or failed under CI)
    }
    if (left.length > 0) {
      throw new Error(`the Docker backend tests left ${left.length} container(s) labelled app=code-interpreter behind: ${left.join(", ")}`);
    }
  };
}
