import { describeHostileSuite, HOSTILE_SETTINGS } from "@code-interpreter/core/testing";
import type { KubernetesDouble } from "@code-interpreter/kubernetes-double";
import { afterAll, describe, it } from "vitest";
import {
  bwrapAvailable,
  createTestBackend,
  HOSTILE_PROCESS_ASSUMES,
  HOSTILE_PROCESS_GAPS,
  leftovers,
  startDouble,
  stopDouble,
} from "./support.js";

// The hostile suite with the double running pods as bubblewrap sandboxes on this host: it shows
// the backend's own controls (output, timeouts, process cleanup, snapshots) on a second runtime;
// the isolation that counts for a cluster is the Docker pods' (hostile.test.ts).
if (bwrapAvailable()) {
  const double: KubernetesDouble = await startDouble({ runtime: "process", podPidsLimit: HOSTILE_SETTINGS.maxProcesses });
  afterAll(() => stopDouble(double));
  describeHostileSuite({
    name: "kubernetes (process pods)",
    createBackend: (settings) =>
      createTestBackend(double, {
        maxOutputBytes: settings.maxOutputBytes,
        memoryLimitMb: settings.memoryLimitMb,
        workspaceSizeMb: settings.workspaceSizeMb,
        pool: { min: 1, max: 2, idleTimeoutMs: 60_000 },
        preload: ["json"],
      }),
    listLeftovers: () => leftovers(double),
    sameHost: true,
    gaps: HOSTILE_PROCESS_GAPS,
    assumes: HOSTILE_PROCESS_ASSUMES,
  });
} else {
  describe.skip("kubernetes backend against hostile code on process pods (no bubblewrap or /usr/bin/python3)", () => {
    it("runs against the Kubernetes API double with pods as bubblewrap sandboxes", () => {});
  });
}
