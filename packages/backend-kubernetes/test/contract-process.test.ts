import { describeBackendContract } from "@code-interpreter/core/testing";
import type { KubernetesDouble } from "@code-interpreter/kubernetes-double";
import { afterAll, describe, expect, it } from "vitest";
import { bwrapAvailable, createTestBackend, leftovers, startDouble, stopDouble, TEST_POOL } from "./support.js";

// The same suite as contract.test.ts, with the double running pods as bubblewrap sandboxes on this host.
if (bwrapAvailable()) {
  const double: KubernetesDouble = await startDouble({ runtime: "process" });
  afterAll(() => stopDouble(double));
  describeBackendContract({
    name: "kubernetes (process pods)",
    createBackend: (settings) =>
      createTestBackend(double, {
        maxOutputBytes: settings.maxOutputBytes,
        memoryLimitMb: settings.memoryLimitMb,
        pool: TEST_POOL,
        sessionPool: TEST_POOL,
      }),
    listLeftovers: () => leftovers(double),
    additionalTests: () => {
      it("runs on the double's process runtime", () => {
        expect(double.runtimeName).toBe("process");
      });
    },
  });
} else {
  describe.skip("kubernetes backend contract on process pods (no bubblewrap or /usr/bin/python3)", () => {
    it("runs against the Kubernetes API double with pods as bubblewrap sandboxes", () => {});
  });
}
