import { createKubernetesBackend } from "@code-interpreter/backend-kubernetes";
import { KubernetesDouble } from "@code-interpreter/kubernetes-double";
import { afterAll, describe, it } from "vitest";
import { describeRoutes } from "./routes.js";
import { DOUBLE_IMAGE, doubleUnavailable } from "./support/double-needs.js";

// The routes on the Kubernetes backend, through the real client against the Kubernetes API
// double (no cluster can run here); the double runs the pods on the local Docker engine.
const namespace = "code-interpreter-routes";
const image = DOUBLE_IMAGE;
const unavailable = await doubleUnavailable();
const reason = unavailable && `the Kubernetes route tests need ${unavailable}`;
if (reason && process.env.CI === "true") throw new Error(reason);

if (!reason) {
  const double = await KubernetesDouble.start();
  afterAll(() => double.stop());
  const leftovers = async () => [
    ...double.listPods(namespace).map((pod) => `pod ${pod.metadata?.name}`),
    ...(await double.containers()).map((name) => `container ${name}`),
  ];
  describeRoutes(
    "kubernetes",
    (config) =>
      createKubernetesBackend({
        kubeConfig: double.kubeConfig(namespace),
        namespace,
        image,
        maxOutputBytes: config.MAX_OUTPUT_BYTES,
        maxFileSizeMb: config.MAX_FILE_SIZE_MB,
        sessionMaxLifetimeSeconds: config.SESSION_MAX_LIFETIME_SECONDS,
        // Warm pods would count as leftovers here; the backend's own suites cover the pools.
        pool: false,
        sessionPool: false,
      }),
    leftovers,
  );
} else {
  describe.skip(`routes on the kubernetes backend (${reason})`, () => {
    it("needs a Docker engine and the executor image", () => {});
  });
}
