import { describeHostileSuite, HOSTILE_SETTINGS } from "@code-interpreter/core/testing";
import type { KubernetesDouble } from "@code-interpreter/kubernetes-double";
import { afterAll, describe, it } from "vitest";
import { createTestBackend, dockerAvailable, HOSTILE_ASSUMES, HOSTILE_GAPS, leftovers, startDouble, stopDouble } from "./support.js";

// The hostile suite on the double's Docker runtime: the pod spec's securityContext, resources and
// emptyDirs are realised by the Docker engine, much as a kubelet with runc would. What the double
// cannot show is listed in HOSTILE_GAPS and HOSTILE_ASSUMES (and in the README).
if (await dockerAvailable()) {
  // podPidsLimit is the kubelet setting the README asks nodes that run sandboxes to have.
  const double: KubernetesDouble = await startDouble({ runtime: "docker", podPidsLimit: HOSTILE_SETTINGS.maxProcesses });
  afterAll(() => stopDouble(double));
  describeHostileSuite({
    name: "kubernetes (Docker pods)",
    createBackend: (settings) =>
      createTestBackend(double, {
        maxOutputBytes: settings.maxOutputBytes,
        memoryLimitMb: settings.memoryLimitMb,
        workspaceSizeMb: settings.workspaceSizeMb,
        // Warm pods take the production path (code sent to a preloaded runner) without the data stack's start-up cost.
        pool: { min: 1, max: 2, idleTimeoutMs: 60_000 },
        preload: ["json"],
      }),
    listLeftovers: () => leftovers(double),
    sameHost: true,
    gaps: HOSTILE_GAPS,
    assumes: HOSTILE_ASSUMES,
  });
} else {
  describe.skip("kubernetes backend against hostile code (no Docker engine or executor image for the double)", () => {
    it("runs against the Kubernetes API double with pods on Docker", () => {});
  });
}
