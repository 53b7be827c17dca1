import { describeBackendContract } from "@code-interpreter/core/testing";
import type { KubernetesDouble } from "@code-interpreter/kubernetes-double";
import { afterAll, describe, it } from "vitest";
import { createTestBackend, dockerAvailable, leftovers, startDouble, stopDouble, TEST_POOL } from "./support.js";

if (await dockerAvailable()) {
  const double: KubernetesDouble = await startDouble();
  afterAll(() => stopDouble(double));
  describeBackendContract({
    name: "kubernetes",
    createBackend: (settings) =>
      createTestBackend(double, {
        maxOutputBytes: settings.maxOutputBytes,
        memoryLimitMb: settings.memoryLimitMb,
        pool: TEST_POOL,
        sessionPool: TEST_POOL,
      }),
    listLeftovers: () => leftovers(double),
  });
} else {
  describe.skip("kubernetes backend contract (no Docker engine or executor image for the double)", () => {
    it("runs against the Kubernetes API double with pods on Docker", () => {});
  });
}
