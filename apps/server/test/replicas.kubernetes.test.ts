import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { KubernetesDouble } from "@code-interpreter/kubernetes-double";
import { describeReplicas } from "./replicas.js";
import { DOUBLE_IMAGE, doubleUnavailable } from "./support/double-needs.js";
import { stateDir } from "./support/temp-dirs.js";

// Two server processes on the kubernetes backend, both talking to one Kubernetes API (the double,
// no cluster can run here; its pods are containers on the local Docker engine), and one object store.
const image = DOUBLE_IMAGE;

await describeReplicas("kubernetes (API double)", async () => {
  const unavailable = await doubleUnavailable();
  if (unavailable) return unavailable;
  const namespace = `replicas-${randomUUID().slice(0, 8)}`;
  const double = await KubernetesDouble.start({ runtime: "docker", image, labels: { "code-interpreter.test-run": namespace } });
  const dir = await stateDir("ci-replicas-kube");
  const kubeconfig = join(dir.path, "kubeconfig");
  await double.writeKubeconfig(kubeconfig, namespace);
  return {
    env: {
      EXECUTOR_BACKEND: "kubernetes",
      KUBECONFIG: kubeconfig,
      KUBERNETES_EXECUTOR_NAMESPACE: namespace,
      KUBERNETES_EXECUTOR_IMAGE: image,
    },
    sandboxes: async () => [
      ...double.listPods(namespace).map((pod) => `${pod.metadata?.labels?.component} ${pod.metadata?.name}`),
      ...(await double.containers()).map((name) => `container ${name}`),
    ],
    describe: async (sandbox) =>
      JSON.stringify(double.listPods(namespace).find((pod) => sandbox.endsWith(` ${pod.metadata?.name}`))?.status ?? "gone"),
    close: async () => {
      await double.stop();
      await dir.remove();
    },
  };
});
