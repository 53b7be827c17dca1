import { join } from "node:path";
import { KubernetesDouble } from "@code-interpreter/kubernetes-double";
import { stateDir } from "@code-interpreter/test-support";
import { describeSnapshotContract, describeSnapshotHostile } from "@code-interpreter/test-support/snapshots";
import { afterAll, describe, it } from "vitest";
import { DOUBLE_IMAGE, doubleUnavailable } from "./support/double-needs.js";
import { startSnapshotServer } from "./support/snapshot-servers.js";

// Issue 23's shared snapshot suites on the kubernetes backend: a real server (EXECUTOR_BACKEND=kubernetes,
// KUBECONFIG) over HTTP, through the real @kubernetes/client-node against the Kubernetes API double (no
// cluster can run here; it runs the pods on the local Docker engine). Run under `flock /tmp/heavy-tests.lock`.
const namespace = "code-interpreter-snapshots";
const unavailable = await doubleUnavailable();
const reason = unavailable && `the Kubernetes snapshot suites need ${unavailable}`;
if (reason && process.env.CI === "true") throw new Error(reason);

if (!reason) {
  const double = await KubernetesDouble.start({ image: DOUBLE_IMAGE });
  const dir = await stateDir("ci-snapshots-kubeconfig");
  const kubeconfig = join(dir.path, "kubeconfig");
  await double.writeKubeconfig(kubeconfig);
  // The server reads its kubeconfig as client-node does, from KUBECONFIG in its own environment (this file's worker).
  process.env.KUBECONFIG = kubeconfig;
  afterAll(async () => {
    await double.stop();
    await dir.remove();
  });
  const options = {
    name: "kubernetes",
    startServer: (env: Record<string, string>) =>
      startSnapshotServer("ci-snapshots-kubernetes", {
        EXECUTOR_BACKEND: "kubernetes",
        KUBERNETES_EXECUTOR_NAMESPACE: namespace,
        KUBERNETES_EXECUTOR_IMAGE: DOUBLE_IMAGE,
        ...env,
      }),
    listLeftovers: async () => [
      ...double.listPods(namespace).map((pod) => `pod ${pod.metadata?.name}`),
      ...(await double.containers()).map((name) => `container ${name}`),
    ],
  };
  describeSnapshotContract(options);
  describeSnapshotHostile(options);
} else {
  describe.skip(`snapshot suites on the kubernetes backend (${reason})`, () => {
    it("needs a Docker engine and the executor image", () => {});
  });
}
