import { createKubernetesBackend } from "@code-interpreter/backend-kubernetes";
import { KubernetesDouble } from "@code-interpreter/kubernetes-double";
import { afterAll, describe, it } from "vitest";
import { DOUBLE_IMAGE, doubleUnavailable } from "./support/double-needs.js";
import { describeSessionFaults } from "./support/session-faults.js";

// The session and file races on the Kubernetes backend, through the real client against the
// Kubernetes API double (no cluster can run here), which runs the pods on the local Docker engine.
const namespace = "code-interpreter-session-faults";
const unavailable = await doubleUnavailable();
const reason = unavailable && `the Kubernetes session fault tests need ${unavailable}`;
if (reason && process.env.CI === "true") throw new Error(reason);

if (!reason) {
  const double = await KubernetesDouble.start();
  afterAll(() => double.stop());
  const ours = async () => [
    ...double.listPods(namespace).map((pod) => `pod ${pod.metadata?.name}`),
    ...(await double.containers()).map((name) => `container ${name}`),
  ];
  describeSessionFaults(
    "kubernetes",
    (config) =>
      createKubernetesBackend({
        kubeConfig: double.kubeConfig(namespace),
        namespace,
        image: DOUBLE_IMAGE,
        maxOutputBytes: config.MAX_OUTPUT_BYTES,
        pool: false,
        // Warm session pods would count as leftovers too; the backend's own suites cover the session pool.
        sessionPool: false,
      }),
    // One-shot pods go just after the answer: give them a moment before calling them leftovers.
    async () => {
      for (let i = 0; i < 50 && (await ours()).length > 0; i++) await new Promise((resolve) => setTimeout(resolve, 100));
      return ours();
    },
  );
} else {
  describe.skip(`session and file races on the kubernetes backend (${reason})`, () => {
    it("needs a Docker engine and the executor image", () => {});
  });
}
